"""Milestone framing check: does a title describe vendor activity or the customer's outcome?

Transparent rules: a title is flagged when it names vendor activity (kickoff, training, a call,
configured, installed, migrated, sent, delivered, complete …) and no customer result (what
the customer can now do, or a pain that stops). The flag is advice, never a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.safety import quote

_VENDOR = [
    r"\bkick-?off\b",
    r"\bonboarding (call|session|meeting)\b",
    r"\btraining\b",
    r"\btrained\b",
    r"\bworkshop\b",
    r"\bcalls?\b",
    r"\bmeeting\b",
    r"\bdemo\b",
    r"\bwebinar\b",
    r"\bconfigur(ed|ation|e)\b",
    r"\binstall(ed|ation)?\b",
    r"\bset ?up\b",
    r"\bsetup\b",
    r"\bmigrat(ed|ion|e)\b",
    r"\bimport(ed)?\b",
    r"\bsent\b",
    r"\bdeliver(ed|y)\b",
    r"\bshipped\b",
    r"\bdeployed\b",
    r"\bprovision(ed|ing)\b",
    r"\bcomplete(d)?\b",
    r"\bdone\b",
    r"\bfinished\b",
    r"\bsigned\b",
    r"\bhanded over\b",
    r"\bhandover\b",
    r"\bgo-?live\b",
    r"\blaunch(ed)?\b",
    r"\benabled\b",
    r"\bactivated\b",
    r"\baccounts? created\b",
    r"\blicen[cs]es?\b",
    r"\bqbr\b",
    r"\breview held\b",
    r"\bheld\b",
    r"\bscheduled\b",
]
# a customer result: someone on their side can now do something, or a pain stops
_CUSTOMER = [
    r"\bcan\b",
    r"\bwithout\b",
    r"\bno longer\b",
    r"\bstop(s|ped)?\b",
    r"\bfewer\b",
    r"\bless\b",
    r"\bdrop(s|ped)?\b",
    r"\bsav(e|es|ed|ing)\b",
    r"\bcut(s)?\b",
    r"\breduc(e|ed|es|tion)\b",
    r"\bfaster\b",
    r"\bfirst\b.*\bwithout\b",
    r"\bthemselves\b",
    r"\bon their own\b",
    r"\bself-serve\b",
    r"\b(see|sees|book|books|approve|approves|close|closes|run|runs|report|reports|fill|fills|"
    r"confirm|confirms|find|finds|request|requests|pay|pays|ship|ships)\b",
    r"\bzero\b",
    r"\bsame day\b",
    r"\bin (minutes|hours|one day)\b",
    r"\bper (week|day|month)\b",
]


@dataclass(frozen=True)
class Framing:
    vendor: bool
    cue: str | None  # the vendor-activity word that triggered the flag


def check(title: str) -> Framing:
    """Flag a title that names vendor activity with no customer result."""
    t = title.casefold()
    cue = next((m.group(0) for p in _VENDOR if (m := re.search(p, t))), None)
    if cue is None:
        return Framing(False, None)
    if any(re.search(p, t) for p in _CUSTOMER):
        return Framing(False, cue)
    return Framing(True, cue)


def suggestion(title: str, customer: str) -> str:
    """A customer-centric rewrite pattern for a vendor-activity title."""
    return f"“{rewrite(customer)}”"


def rewrite(customer: str) -> str:
    """The outcome-shaped title to start from."""
    return f"{customer} can <do what this enables> without <the pain it removes>"


def advice(title: str, customer: str) -> str | None:
    """An ephemeral hint when a title reads like our checklist; None when it reads like their outcome."""
    f = check(title)
    if not f.vendor:
        return None
    return (
        f":bulb: “{quote(title)}” reads like our checklist (“{f.cue}”) rather than "
        f"{quote(customer)}'s outcome. Consider: {quote(suggestion(title, customer))} — "
        "what will they be able to do, and what stops hurting?"
    )


def gap_title(customer: str, theme: str) -> str:
    """A milestone title to start from, for a success-gap theme: the customer's outcome, to be finished."""
    return f"{customer} can {theme} without <the pain it removes>" if theme else ""
