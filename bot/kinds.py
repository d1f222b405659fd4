"""The six kinds of customer signal and how they are shown: one table for every layer."""

from __future__ import annotations

# in order of how much they need action: when two kinds fit, the first wins
KIND_ORDER = ("churn-risk", "problem", "request", "question", "praise", "other")
KINDS = KIND_ORDER
KIND_RANK = {k: i for i, k in enumerate(KIND_ORDER)}
BURST_KINDS = ("problem", "churn-risk")  # what makes a burst worth a nudge (bot.nudges)
KIND_EMOJI = {
    "churn-risk": ":red_circle:",
    "problem": ":large_orange_circle:",
    "request": ":large_blue_circle:",
    "question": ":grey_question:",
    "praise": ":large_green_circle:",
    "other": ":white_circle:",
}
KIND_LABEL = {
    "churn-risk": "Churn risk",
    "problem": "Problem",
    "request": "Request",
    "question": "Question",
    "praise": "Praise",
    "other": "Other",
}
_ONE = {
    "churn-risk": "churn risk",
    "problem": "problem",
    "request": "request",
    "question": "question",
    "praise": "praise",
    "other": "other",
}
_MANY = {
    "churn-risk": "churn risks",
    "problem": "problems",
    "request": "requests",
    "question": "questions",
    "praise": "praise",
    "other": "other",
}


def kind_count(kind: str, n: int) -> str:
    """'1 churn risk', '3 problems', '2 praise'."""
    return f"{n} {_ONE[kind] if n == 1 else _MANY[kind]}"


def parse_kind(text: str) -> str | None:
    """A kind from what a person typed ('churn', 'churn risk', 'Problems'); None when it names none."""
    t = text.strip().casefold().replace("_", "-").replace(" ", "-").rstrip("s")
    aliases = {
        "churn": "churn-risk",
        "churn-risk": "churn-risk",
        "risk": "churn-risk",
        "problem": "problem",
        "bug": "problem",
        "issue": "problem",
        "request": "request",
        "ask": "request",
        "feature-request": "request",
        "question": "question",
        "praise": "praise",
        "other": "other",
    }
    return aliases.get(t)
