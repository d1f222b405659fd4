"""Finding what customers said: `/signal search <words> [customer:<name>] [kind:<k>] [since:<date or 30d>]`.

Words match by their stems ("exports" finds "export"), "quoted phrases" match as phrases, every word must be
there; results come by relevance, then newest. Deleted signals never appear, and a private channel's signals
only in that channel, as in digests.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session

from bot import customers as cust
from bot.errors import UsageError
from bot.kinds import KIND_EMOJI, parse_kind
from bot.render.blocks import MAX_SECTION, button, context, section, to_dicts
from bot.safety import quote, readable, safe
from bot.text import fmt_date, plural
from storage import repo

PAGE = 10
# ranked and counted per search: the newest this many matches (a common word can match a tenth of the history)
CANDIDATES = 500
SEARCH_USAGE = (
    "Usage: `/signal search <words> [customer:<name>] [kind:<kind>] [since:<YYYY-MM-DD or 30d>]` — e.g. "
    '`/signal search "single sign-on" customer:Marlow since:90d`'
)
_STOP = frozenset("a an and the of to in on for is are was were it they we our their with at by from this that".split())


@dataclass
class Query:
    terms: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    customer_id: int | None = None
    customer: str | None = None
    kind: str | None = None
    since: datetime | None = None
    text: str = ""

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases


def parse(s: Session, team_id: str, text: str, now: datetime) -> Query:
    """The words, phrases and filters of a search; UsageError saying what is wrong."""
    try:
        parts = shlex.split(text.replace("“", '"').replace("”", '"'))
    except ValueError:
        raise UsageError(f"A quote is not closed. {SEARCH_USAGE}") from None
    q = Query(text=text.strip())
    quoted = set(re.findall(r'["“]([^"”]+)["”]', text))
    for part in parts:
        key, sep, value = part.partition(":")
        if sep and key.casefold() in ("customer", "kind", "since") and value:
            k = key.casefold()
            if k == "customer":
                found = cust.resolve_exact(s, team_id, value)
                if (
                    isinstance(found, cust.NoMatch)
                    and len(found.suggestions) == 1
                    and cust.key(found.suggestions[0]).startswith(cust.key(value))
                ):
                    # one customer's name starts so ("customer:Fenwick" for Fenwick Freight): that one
                    found = cust.resolve_exact(s, team_id, found.suggestions[0])
                if isinstance(found, cust.NoMatch):
                    raise UsageError(cust.no_match_message(found))
                q.customer_id, q.customer = found.id, found.name
            elif k == "kind":
                q.kind = parse_kind(value)
                if q.kind is None:
                    raise UsageError(
                        f"“{safe(value)}” is not a kind: use churn-risk, problem, request, question, praise or other."
                    )
            else:
                q.since = parse_since(value, now)
        elif part in quoted and " " in part:
            q.phrases.append(part)
        else:
            q.terms += [w for w in re.findall(r"[\w'-]+", part.casefold()) if w not in _STOP]
    if q.empty:
        raise UsageError(f"Search for some words. {SEARCH_USAGE}")
    return q


def parse_since(value: str, now: datetime) -> datetime:
    m = re.fullmatch(r"(\d{1,4})\s*([dw])", value.strip().casefold())
    if m:
        n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        return now - timedelta(days=n)
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"“{safe(value)}” is not a date: write since:2026-09-01 or since:30d.") from None
    return d if d.tzinfo else d.replace(tzinfo=now.tzinfo)


def run(
    s: Session, team_id: str, q: Query, channel_id: str, offset: int = 0, limit: int = PAGE, any_term: bool = False
) -> tuple[list[Any], dict[int, int]]:
    """A page of the best matches the person in `channel_id` may see, and the count per customer."""
    return repo.search_signals(
        s,
        team_id=team_id,
        terms=q.terms,
        phrases=q.phrases,
        customer_id=q.customer_id,
        kind=q.kind,
        since=q.since,
        visible_private_channel=channel_id,
        any_term=any_term,
        limit=limit,
        offset=offset,
        candidates=CANDIDATES,
    )


def result_line(r: Any, customer: str, names: dict[str, str]) -> str:
    who = f"{quote(r.author_name or names.get(r.user_id or '') or 'someone', 40)}, "
    link = f" <{r.permalink}|link>" if r.permalink and r.permalink.startswith("https://") else ""
    own = "🗣 " if getattr(r, "first_hand", False) else ""  # Slack Connect: in the customer's own words
    return (
        f"> {own}{KIND_EMOJI.get(r.kind, '')} “{quote(readable(r.text, names), 240)}” — {who}"
        f"{fmt_date(r.posted_at)}{link} · *{quote(customer, 60)}*"
    )


def results_blocks(
    s: Session, team_id: str, q: Query, channel_id: str, offset: int = 0
) -> tuple[str, list[dict[str, Any]]]:
    """The answer to a search, as the ephemeral message's text and blocks."""
    rows, counts = run(s, team_id, q, channel_id, offset)
    total = sum(counts.values())
    what = f"“{quote(q.text, 120)}”"
    if not total:
        return (
            f"No signals match {what}.",
            to_dicts([section(f":mag: No signals match {what}. Try fewer words or a wider `since:`.")]),
        )
    names = repo.display_names(s, team_id=team_id)
    by_customer = sorted(counts.items(), key=lambda kv: -kv[1])
    customers = repo.customer_names(
        s, team_id=team_id, ids=[r.customer_id for r in rows] + [c for c, _ in by_customer[:12]]
    )
    if total >= CANDIDATES:  # more matched than were ranked: say so, and how to narrow it
        head = f":mag: *More than {CANDIDATES:,} signals* match {what}; the newest {CANDIDATES:,} are ranked"
        hint = " Narrow it with `customer:`, `kind:` or `since:`."
    else:
        head, hint = f":mag: *{plural(total, 'signal')}* match {what}", ""
    lines = [f"{head} — showing {offset + 1}–{offset + len(rows)}.{hint}"]
    # the customer's own words (first-hand, Slack Connect) lead the page; relevance, then newest, within each
    rows = sorted(rows, key=lambda r: not getattr(r, "first_hand", False))
    lines += [result_line(r, customers.get(r.customer_id, "?"), names) for r in rows]
    body = "\n".join(lines)
    blocks: list[Block] = []
    while body:  # within Slack's section limit
        cut = body[: MAX_SECTION - 10]
        if len(body) > len(cut):
            cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
        blocks.append(section(cut))
        body = body[len(cut) :].lstrip("\n")
    blocks.append(
        context(
            "By customer: " + " · ".join(f"{quote(customers.get(cid, '?'), 40)} {n}" for cid, n in by_customer[:12])
        )
    )
    more: list[dict[str, Any]] = []
    if offset + len(rows) < total:
        value = json.dumps({"q": q.text[:1800], "o": offset + len(rows)})
        more = [
            {"type": "actions", "block_id": "search_more", "elements": [button("More", "search_more", value).to_dict()]}
        ]
    count = f"More than {CANDIDATES:,} signals" if total >= CANDIDATES else plural(total, "signal")
    return f"{count} match {q.text[:100]}", to_dicts(blocks) + more
