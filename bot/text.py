"""Small text helpers every layer shares: counts in English, short dates."""

from __future__ import annotations

from datetime import date, datetime

# straight and typographic quotes: Slack's clients turn "…" into “…” and '…' into ‘…’
QUOTES = "\"“”«»'‘’"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """'1 signal', '3 signals' ('1 person', '2 people' with nouns given)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def fmt_date(d: date | datetime) -> str:
    """'Nov 3'."""
    return f"{d:%b} {d.day}"


def fmt_day(d: date) -> str:
    """'Tue Nov 3, 2026'."""
    return f"{d:%a} {d:%b} {d.day}, {d.year}"


# the loop's question: every digest ends with it, reminders repeat it
QUESTION = "What are we learning, and what decision does it affect?"


def _closing(opening: str) -> str:
    return {"“": "”", "«": "»", "‘": "’"}.get(opening, opening)


def take_quoted(text: str) -> tuple[str, str] | None:
    """("quoted", rest) when `text` starts with a quoted part; apostrophes inside it are kept.

    A quote closes at the matching mark followed by a space or the end, so "Nurses see tomorrow's rota"
    and ‘It’s done’ both stay whole.
    """
    t = text.strip()
    if not t or t[0] not in QUOTES:
        return None
    opening = t[0]
    closers = {_closing(opening), opening} | ({'"', "”", "“"} if opening in '"“”' else set())
    for i in range(1, len(t)):
        if t[i] in closers and (i + 1 == len(t) or t[i + 1].isspace()):
            return t[1:i], t[i + 1 :].strip()
    return None


def strip_quotes(text: str) -> str:
    t = text.strip()
    q = take_quoted(t)
    if q is not None and not q[1]:
        return q[0].strip()
    return t


def as_id(value: str | int | None) -> int | None:
    """A row id a button or modal carried ("12" or 12), or None for anything else ("¹" is a digit but no number:
    isdecimal, not isdigit)."""
    if isinstance(value, str):
        return int(value) if value.isdecimal() else None
    return value
