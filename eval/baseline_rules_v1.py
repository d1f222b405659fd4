"""The rules classifier as it was before the labelled corpus, kept to measure against (EVAL.md).

Kinds, in order of precedence: churn-risk, problem, request, question, praise, other.
Sentiment is in [-1, 1]: counted positive and negative cue words, negations flip the
next cue, and each kind nudges the score toward its usual sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("churn-risk", "problem", "request", "question", "praise", "other")  # noqa: F401

_CHURN = [
    r"\bcancel(ling|ing|led)?\b(?! (slot|appointment|booking|chair)s?)",
    r"\bchurn",
    r"\bre-?tender",
    r"\bnot renew",
    r"\bwon'?t renew",
    r"\bnon-?renewal",
    r"\bswitch(ing)? (to|vendors?|provider)",
    r"\bcompetitor",
    r"\blooking at (other|alternative)",
    r"\balternatives?\b",
    r"\bterminate",
    r"\bleave (you|the platform)",
    r"\bmove away from",
    r"\bend (the|our) contract",
    r"\bpull the plug",
    r"\bescalat(e|ing) to (our|the) (ceo|coo|cfo|board|leadership)",
    r"\breconsider(ing)? (the|our) (contract|subscription|renewal)",
    r"\bdowngrad",
]
_PROBLEM = [
    r"\bbug\b",
    r"\bbroken\b",
    r"\bbreaks?\b",
    r"\berror",
    r"\bcrash",
    r"\bfail(s|ed|ing|ure)?\b",
    r"\bnot working\b",
    r"\bdoesn'?t work",
    r"\bdon'?t work",
    r"\bstopped working",
    r"\bstuck\b",
    r"\bslow\b",
    r"\btim(es?|ing) ?out",
    r"\bdown\b",
    r"\boutage",
    r"\bwrong\b",
    r"\bissue",
    r"\bproblem",
    r"\bagain\b",
    r"\btwice\b",
    r"\bduplicate",
    r"\bmissing\b",
    r"\bcan'?t\b",
    r"\bcannot\b",
    r"\bunable\b",
    r"\bfrustrat",
    r"\bstill (spends?|have|has|getting|seeing|waiting|no)\b",
    r"\bcomplain",
    r"\bconfus",
    r"\bmanual(ly)?\b",
    r"\bby hand\b",
    r"\bworkaround",
    r"\blost\b",
    r"\bdouble[- ]?(book|charg|bill|text|remind|sen[dt]|post|entr)",
    r"\bover-?charg",
    r"\bkeeps? (crash|fail|break|"
    r"logging out|freez)",
    r"\bfreez(e|es|ing)\b",
    r"\blogged out\b",
]
_REQUEST = [
    r"\bcould you (add|make|build|support)",
    r"\bcan you (add|make|build|support)",
    r"\bwould love\b",
    r"\bwish\b",
    r"\bfeature request",
    r"\bplease add\b",
    r"\bit would be (great|nice|helpful)",
    r"\bwe need\b",
    r"\bwe'?d need\b",
    r"\bneed(s)? (a|an|the) (way|option|setting|export|report)",
    r"\bany plans? (to|for)\b",
    r"\broadmap\b",
    r"\bsupport for\b",
    r"\bintegrat(e|ion) with\b",
    r"\bable to\b.*\?",
    r"\bcan (the|it|we)\b.*\b(show|export|support|handle)\b",
    r"\brequest",
    r"\bwould (be|it be) possible",
    r"\bwould save (us|me|them)\b",
]
_QUESTION = [r"\?\s*$", r"^(how|what|when|where|why|who|which|is|are|does|do|can|could|will)\b"]
_PRAISE = [
    r"\blove\b",
    r"\bgreat\b",
    r"\bawesome\b",
    r"\bamazing\b",
    r"\bthank(s| you)\b",
    r"\bhelpful\b",
    r"\bfantastic\b",
    r"\bexcellent\b",
    r"\bimpress",
    r"\bsaved (us|me)\b",
    r"\bcut (our|the)\b",
    r"\bworks? (great|well|perfectly)\b",
    r"\bhappy\b",
    r"\bdelighted\b",
    r"\bgame.?changer",
    r"\bnoticeably\b",
    r"\bsmooth",
    r"\bkudos\b",
]

_POSITIVE = {
    "love",
    "loves",
    "loved",
    "great",
    "awesome",
    "amazing",
    "thanks",
    "thank",
    "helpful",
    "fantastic",
    "excellent",
    "impressed",
    "happy",
    "delighted",
    "smooth",
    "smoothly",
    "easy",
    "easier",
    "faster",
    "better",
    "perfect",
    "perfectly",
    "kudos",
    "saved",
    "cut",
    "improved",
    "nice",
    "good",
    "works",
    "noticeably",
    "glad",
    "pleased",
    "win",
    "wins",
    "solid",
    "reliable",
}
_NEGATIVE = {
    "bug",
    "broken",
    "break",
    "breaks",
    "error",
    "errors",
    "crash",
    "crashes",
    "fail",
    "fails",
    "failed",
    "failing",
    "failure",
    "slow",
    "stuck",
    "wrong",
    "issue",
    "issues",
    "problem",
    "problems",
    "again",
    "twice",
    "missing",
    "timing",
    "frustrated",
    "frustrating",
    "annoyed",
    "annoying",
    "angry",
    "unhappy",
    "confusing",
    "confused",
    "cancel",
    "churn",
    "worse",
    "worst",
    "terrible",
    "awful",
    "bad",
    "down",
    "outage",
    "lost",
    "manually",
    "complaint",
    "complaints",
    "complaining",
    "disappointed",
    "re-tender",
    "retender",
    "unacceptable",
    "painful",
    "pain",
    "hate",
    "useless",
    "duplicate",
    "double",
    "overcharged",
    "freezes",
    "freezing",
}
_NEGATIONS = {
    "not",
    "no",
    "never",
    "don't",
    "dont",
    "doesn't",
    "doesnt",
    "isn't",
    "isnt",
    "won't",
    "wont",
    "can't",
    "cant",
    "without",
    "nothing",
    "hardly",
}
_KIND_BIAS = {"churn-risk": -0.6, "problem": -0.35, "request": 0.0, "question": 0.0, "praise": 0.4, "other": 0.0}


# each rule list compiled once into one alternation: one search per list, not one per pattern
_COMPILED: dict[int, re.Pattern[str]] = {}


def _any(patterns: list[str], text: str) -> bool:
    rx = _COMPILED.get(id(patterns))
    if rx is None:
        rx = _COMPILED[id(patterns)] = re.compile("|".join(f"(?:{p})" for p in patterns))
    return rx.search(text) is not None


@dataclass(frozen=True)
class Classification:
    kind: str
    sentiment: float


def classify_kind(text: str) -> str:
    """The signal's kind by the first rule that matches, in order of how much it needs action."""
    t = text.lower().strip()
    if _any(_CHURN, t):
        return "churn-risk"
    praise = _any(_PRAISE, t)
    problem = _any(_PROBLEM, t)
    if problem and not (praise and _score_words(t) > 0.2):
        return "problem"
    if _any(_REQUEST, t):
        return "request"
    if _any(_QUESTION, t):
        return "question"
    if praise:
        return "praise"
    return "other"


def _score_words(t: str) -> float:
    words = re.findall(r"[a-z][a-z'\-]*", t)
    score = 0.0
    flip = False
    for w in words:
        if w in _NEGATIONS:
            flip = True
            continue
        if w in _POSITIVE:
            score += -1 if flip else 1
            flip = False
        elif w in _NEGATIVE:
            score += 0.5 if flip else -1
            flip = False
    return max(-1.0, min(1.0, score / 3))


def classify(text: str) -> Classification:
    """Kind and sentiment of `text`."""
    kind = classify_kind(text)
    raw = _score_words(text.lower()) + _KIND_BIAS[kind]
    return Classification(kind=kind, sentiment=round(max(-1.0, min(1.0, raw)), 2))
