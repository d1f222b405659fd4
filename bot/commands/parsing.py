"""What every command shares: the context, the usage error, and parsing of names, numbers, dates and titles."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot import customers as cust
from bot.errors import UsageError as UsageError  # the commands' usage error, from here
from bot.safety import safe
from bot.text import strip_quotes as strip_quotes  # the commands parse with these
from bot.text import take_quoted as take_quoted
from storage import repo
from storage.models import Customer, Milestone

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Ctx:
    team_id: str
    user_id: str
    channel_id: str
    trigger_id: str | None = None
    user_name: str | None = None
    channel_private: bool = False
    # Slack Connect: shared with another organisation (nothing internal is posted here)
    channel_shared: bool = False


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUM = re.compile(r"^#?(\d{1,4})$")
USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(\|[^>]*)?>$")


def parse_date(text: str, what: str = "date") -> date:
    if not _DATE.match(text):
        raise UsageError(f"“{safe(text)}” is not a {what}: write it as YYYY-MM-DD, e.g. 2026-12-04.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"“{safe(text)}” is not a real date: write it as YYYY-MM-DD, e.g. 2026-12-04.") from None


def parse_number(token: str) -> int | None:
    m = _NUM.match(token.strip())
    return int(m.group(1)) if m else None


def customer_prefix(s: Session, ctx: Ctx, text: str, usage: str) -> tuple[Customer, str]:
    """The customer named at the start of `text` and what follows; UsageError with a suggestion otherwise."""
    if not text.strip():
        raise UsageError(f"Name a customer. {usage}")
    found = cust.resolve_prefix(s, ctx.team_id, text)
    if isinstance(found, cust.NoMatch):
        raise UsageError(cust.no_match_message(found))
    c = repo.customer_by_id(s, team_id=ctx.team_id, customer_id=found.customer_id)
    assert c is not None
    return c, found.rest.strip()


def customer_exact(s: Session, ctx: Ctx, name: str, usage: str) -> Customer:
    if not name.strip():
        raise UsageError(f"Name a customer. {usage}")
    found = cust.resolve_exact(s, ctx.team_id, strip_quotes(name))
    if isinstance(found, cust.NoMatch):
        raise UsageError(cust.no_match_message(found))
    return found


def milestone_of(s: Session, c: Customer, token: str) -> Milestone:
    """Milestone number `token` of customer `c` (current milestones only)."""
    live = [m for m in c.milestones if m.removed_at is None]
    n = len(live)
    span = f"it has 1–{n}" if n > 1 else ("it has only 1" if n == 1 else "it has none yet")
    number = parse_number(token)
    if number is None:
        raise UsageError(
            f"“{safe(token)}” is not a milestone number: use a number such as 2 "
            f"({safe(c.name)}: {span}). See `/milestone {safe(c.name)}`."
        )
    found = repo.milestone_at(s, customer=c, position=number)
    if found is None:
        raise UsageError(f"{safe(c.name)} has no milestone {number} — {span}. See `/milestone {safe(c.name)}`.")
    return found


def check_name(name: str, usage: str, reserved: set[str]) -> None:
    if not name:
        raise UsageError(f"Give the customer's name. {usage}")
    if len(name) > cust.MAX_NAME:
        raise UsageError(f"That name is {len(name)} characters; keep it under {cust.MAX_NAME}.")
    if re.search(r"[<>*_`|]", name) or name[0] in "#@":
        raise UsageError(f"“{safe(name)}” can't be a name: leave out <, >, *, _, `, | and a leading # or @.")
    if re.fullmatch(r"\d+", name):
        raise UsageError("A name can't be only digits (numbers name milestones).")
    if name.casefold() in reserved:
        raise UsageError(f"“{safe(name)}” is a command word; pick a name the commands can tell apart.")


def split_title(text: str) -> tuple[str, str]:
    """(title, options) from `"<title>" due …` or an unquoted title up to ` due `/` impact `."""
    quoted = take_quoted(text)
    if quoted is not None:
        return quoted[0].strip(), quoted[1]
    m = re.search(r"\s(due|impact)\s", " " + text + " ", re.IGNORECASE)
    if m:
        cut = max(0, m.start() - 1)
        return text[:cut].strip(), text[cut:].strip()
    return text.strip(), ""


def did_you_mean(word: str, options: list[str]) -> str:
    """' Did you mean `x`?' for a mistyped sub-command, or ''.

    Typos first: one edit for short words, two for longer ones, a swapped pair of letters counting as one
    (optimal string alignment, so `aks` is `ask`); else the closest by rapidfuzz's weighted ratio.
    """
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    word = word.casefold()
    if not word or not options:
        return ""
    near = process.extractOne(word, options, scorer=OSA.distance, score_cutoff=1 if len(word) <= 4 else 2)
    best = near or process.extractOne(word, options, score_cutoff=70)
    return f" Did you mean `{best[0]}`?" if best else ""
