"""Close the loop: the people who raised a signal hear what came of it, and the customer's owner is prompted to
tell the customer.

When a milestone is achieved, or a recorded decision names customers or milestones, each person whose signals
are behind it (tied to the milestone, or cited by the learning) gets one direct message quoting their own
signal. Messages wait in the outbox: at most one a day per person (several outcomes in one message), never
at night in their time zone (queued to 09:00), and never to someone who turned them off in App Home.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.effects import Effect, OutboxQueued, Post
from bot.render.blocks import button, section, to_dicts
from bot.safety import quote, safe
from bot.slack_out import SlackOut
from bot.text import as_id, fmt_date
from bot.weeks import valid_tz
from storage import connect as connect_repo
from storage import repo
from storage.models import Customer, Learning, Milestone

log = logging.getLogger(__name__)

DAY_START = 9  # DMs go out from 09:00 local …
DAY_END = 20  # … until 20:00 local; what falls between waits for the next morning
MAX_QUOTED = 5  # signals quoted per outcome in one message
CITE_WINDOW = timedelta(weeks=4)  # a learning cites its customers' and milestones' signals this far back


@dataclass(frozen=True)
class Outcome:
    """Something that came of customers' signals: a milestone achieved, or a decision taken."""

    key: str  # "milestone:40:achieved:2026-11-18" | "learning:7"
    customer_ids: tuple[int, ...]
    summary: str  # plain words: what happened
    link: str | None  # where to read more


def next_sending_time(now: datetime, tz: str | None) -> datetime:
    """`now` if it is daytime where the person is, else the next 09:00 in their zone (UTC when unknown)."""
    zone = ZoneInfo(tz if tz and valid_tz(tz) else "UTC")
    local = now.astimezone(zone)
    if DAY_START <= local.hour < DAY_END:
        return now
    day = local.date() if local.hour < DAY_START else local.date() + timedelta(days=1)
    return datetime.combine(day, time(DAY_START), tzinfo=zone).astimezone(now.tzinfo)


def _digest_link(s: Session, c: Customer) -> str | None:
    """The newest digest that covers the customer: its channel's, else any portfolio digest."""
    ws = repo.get_workspace(s, team_id=c.team_id)
    if ws is None or not ws.url:
        return None
    run = repo.latest_digest_for(
        s,
        team_id=c.team_id,
        channel_ids=[link.channel_id for link in repo.links_for_customer(s, team_id=c.team_id, customer_id=c.id)],
    )
    if run is None or not run.message_ts:
        return None
    return f"{ws.url.rstrip('/')}/archives/{run.channel_id}/p{run.message_ts.replace('.', '')}"


def milestone_achieved(s: Session, c: Customer, m: Milestone, now: datetime) -> Outcome:
    # keyed by the milestone alone: achieved, reopened and achieved again is one piece of news
    return Outcome(
        f"milestone:{m.id}:achieved",
        (c.id,),
        f"{c.name} reached milestone {m.position}: “{m.title}” ({fmt_date(now)})",
        _digest_link(s, c),
    )


def decision_taken(s: Session, row: Learning) -> Outcome | None:
    if not row.decision:
        return None
    ids = tuple(lc.customer_id for lc in row.customers)
    names = [c.name for c in (repo.customer_by_id(s, team_id=row.team_id, customer_id=i) for i in ids) if c]
    about = f" about {', '.join(names)}" if names else ""
    link = None
    ws = repo.get_workspace(s, team_id=row.team_id)
    if ws is not None and ws.url and row.channel_id and row.message_ts and not row.message_ts.startswith("modal:"):
        link = f"{ws.url.rstrip('/')}/archives/{row.channel_id}/p{row.message_ts.replace('.', '')}"
    elif ids:
        c = repo.customer_by_id(s, team_id=row.team_id, customer_id=ids[0])
        link = _digest_link(s, c) if c else None
    return Outcome(f"learning:{row.id}", ids, f"The team decided{about}: “{row.decision}” (because: {row.text})", link)


def cite_signals(s: Session, row: Learning, now: datetime) -> list[int]:
    """The signals a learning rests on: those tied to its milestones, and its customers' recent ones."""
    milestone_ids = [lm.milestone_id for lm in row.milestones]
    customer_ids = [lc.customer_id for lc in row.customers]
    ids = repo.recent_signal_ids(
        s,
        team_id=row.team_id,
        since=now - CITE_WINDOW,
        customer_ids=customer_ids,
        milestone_ids=milestone_ids,
        limit=20,
    )
    repo.cite_signals(s, learning_id=row.id, signal_ids=ids)
    return ids


def announce(s: Session, team_id: str, outcome: Outcome, signal_ids: list[int], now: datetime) -> list[Effect]:
    """Queue the DMs to the people behind `signal_ids`, the owner's "tell the customer" prompt, and the optional
    thread replies on the captured messages. Idempotent: the same outcome is announced once."""
    rows = repo.signals_by_id(s, team_id=team_id, ids=signal_ids)
    by_person: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        # a customer's own people (Slack Connect: first-hand) are never sent the team's outcomes and links
        if r.user_id and not getattr(r, "first_hand", False):
            by_person[r.user_id].append(r)
    tz_of = repo.user_tzs(s, team_id=team_id, users=list(by_person))
    opted_out = repo.opted_out(s, team_id=team_id, users=list(by_person))
    for user, sigs in by_person.items():
        if user in opted_out:
            continue
        payload: dict[str, Any] = {
            "summary": outcome.summary,
            "link": outcome.link,
            "quotes": [r.text[:300] for r in sorted(sigs, key=lambda r: r.posted_at)[-MAX_QUOTED:] if r.text],
        }
        repo.queue_message(
            s,
            team_id=team_id,
            user=user,
            kind="outcome",
            dedupe_key=f"{outcome.key}:{user}",
            payload=json.dumps(payload),
            due_at=next_sending_time(now, tz_of.get(user)),
            now=now,
        )
    effects: list[Effect] = []
    for cid in outcome.customer_ids:
        c = repo.customer_by_id(s, team_id=team_id, customer_id=cid)
        if c is None:
            continue
        owner = c.owner_id or next((m.owner_id for m in c.milestones if m.owner_id), None)
        told = repo.add_outcome_to_tell(
            s,
            team_id=team_id,
            customer_id=cid,
            key=f"{outcome.key}:{cid}",
            summary=outcome.summary,
            owner=owner,
            now=now,
        )
        if told is not None and owner and owner not in opted_out:
            payload = {"customer": c.name, "summary": outcome.summary, "told_id": told}
            repo.queue_message(
                s,
                team_id=team_id,
                user=owner,
                kind="tell_customer",
                dedupe_key=f"tell:{outcome.key}:{cid}",
                payload=json.dumps(payload),
                due_at=next_sending_time(now, repo.user_tzs(s, team_id=team_id, users=[owner]).get(owner)),
                now=now,
            )
    effects.append(OutboxQueued())  # the DMs above go out in seconds when it is the person's daytime
    replies = repo.thread_reply_channels(s, team_id=team_id)
    # never a reply in a channel shared with the customer's organisation: outcomes are the team's notes
    replies -= {i.channel_id for i in connect_repo.channels(s, team_id=team_id, ids=replies) if i.is_ext_shared}
    for r in rows:
        if r.channel_id in replies and not r.message_ts.startswith("cmd:"):
            effects.append(
                Post(
                    r.channel_id,
                    f":loop: This fed something: {safe(outcome.summary)[:300]}",
                    thread_ts=r.thread_ts or r.message_ts,
                )
            )
    return effects


# --- the outbox ------------------------------------------------------------------------------


def tell_message(customer: str, summary: str) -> str:
    """A suggested message the owner can send the customer, in plain words."""
    return f"Hi — good news from our side: {summary}. Thank you for telling us what you needed; it shaped this."


def render_outcomes(items: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """One DM for several outcomes of one person's signals."""
    lines = [":loop: *What came of what you raised*"]
    for p in items:
        link = f" <{p['link']}|see it>" if p.get("link") else ""
        lines.append(f"• {quote(p['summary'], 400)}{link}")
        for q in p.get("quotes", [])[:MAX_QUOTED]:
            lines.append(f"      > “{quote(q, 200)}” — you")
    lines.append(
        "_You get these when something comes of a signal you raised, once a day at most. Turn them off "
        "in signalloop's App Home._"
    )
    text = "\n".join(lines)
    return "What came of what you raised", to_dicts([section(text[:2900])])


def render_tell(p: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f":speech_balloon: *Tell {quote(p['customer'])}:* {quote(p['summary'], 400)}\n"
        f"Suggested message:\n> {quote(tell_message(p['customer'], p['summary']), 600)}\n"
        "_You get this because you look after this customer (`/loop customer owner`). The next digest shows "
        "which outcomes customers were told about._"
    )
    return f"Tell {p['customer']}: {p['summary']}", to_dicts(
        [section(text[:2900], accessory=button("Customer told", "customer_told", str(p["told_id"]), "primary"))]
    )


class Outbox:
    """Sends what is due: one DM a day per person at most, several outcomes in one."""

    def __init__(self, sf: sessionmaker[Session], clock: Callable[[], datetime], slack: SlackOut) -> None:
        self.sf = sf
        self.clock = clock
        self.slack = slack

    def send_due(self) -> int:
        now = self.clock()
        with self.sf() as s:
            due = repo.due_messages(s, now=now)
        groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
        for row in due:
            groups[(row.team_id, row.user_id, row.kind)].append(row)
        sent = 0
        for (team_id, user, kind), rows in groups.items():
            with self.sf.begin() as s:
                if repo.is_opted_out(s, team_id=team_id, user=user) and kind == "outcome":
                    repo.mark_sent(s, ids=[r.id for r in rows], now=now)  # turned off since: dropped, not delayed
                    continue
                tz = repo.user_tzs(s, team_id=team_id, users=[user]).get(user)
                if kind == "outcome" and repo.sent_since(
                    s, team_id=team_id, user=user, kind=kind, since=_midnight(now, tz)
                ):
                    repo.postpone(s, ids=[r.id for r in rows], due_at=next_sending_time(_midnight(now, tz, 1), tz))
                    continue
                # claim them first: two instances never send the same message
                ids = repo.claim_messages(s, ids=[r.id for r in rows], now=now)
            if not ids:
                continue
            payloads = [json.loads(r.payload) for r in rows if r.id in ids]
            if kind == "outcome":
                messages = [render_outcomes(payloads)]
            else:
                messages = [render_tell(p) if kind == "tell_customer" else (p["text"], p["blocks"]) for p in payloads]
            results = [
                self.slack.dm(team_id, user, text, blocks, what=f"a {kind} message") for text, blocks in messages
            ]
            sent += all(results)
        return sent


def _midnight(now: datetime, tz: str | None, days: int = 0) -> datetime:
    """The start of the person's local day, `days` from today (UTC when their zone is unknown)."""
    zone = ZoneInfo(tz if tz and valid_tz(tz) else "UTC")
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=days), time(0), tzinfo=zone).astimezone(now.tzinfo)


def mark_told(s: Session, team_id: str, value: str, user: str, now: datetime) -> tuple[str, str] | None:
    """The owner told the customer (the prompt's button carried the row's id): (what was told, when), or None
    when that outcome no longer exists."""
    told_id = as_id(value)
    row = repo.mark_told(s, team_id=team_id, told_id=told_id, user=user, now=now) if told_id is not None else None
    if row is None:
        return None
    return row.summary, fmt_date(row.told_at) if row.told_at else ""
