"""`/signal <customer> [#n] <text>`: record one signal by hand."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from bot import search
from bot.capture import PATH_COMMAND, MessageIn, record
from bot.commands.parsing import Ctx, UsageError, customer_prefix, milestone_of, strip_quotes
from bot.connect import refusal
from bot.effects import RefreshHome, Reply
from bot.safety import quote, safe
from storage import repo
from storage.models import Milestone

SIGNAL_USAGE = (
    "Usage: `/signal <customer> [#<milestone number>] <what they said>` — "
    "e.g. `/signal Acme #2 Exports still time out on Mondays`"
)


def run(s: Session, ctx: Ctx, text: str, now: datetime) -> Reply:
    if not text.strip():
        raise UsageError(f"Nothing to record. {SIGNAL_USAGE}\nTo find what customers said: {search.SEARCH_USAGE}")
    verb, _, rest = text.strip().partition(" ")
    if verb.casefold() == "search":
        if ctx.channel_shared:
            raise UsageError(refusal("search results"))
        q = search.parse(s, ctx.team_id, rest, now)
        answer, blocks = search.results_blocks(s, ctx.team_id, q, ctx.channel_id)
        return Reply(answer, blocks=blocks)
    c, rest = customer_prefix(s, ctx, text, SIGNAL_USAGE)
    milestone: Milestone | None = None
    m = re.match(r"^#(\S+)\s*", rest)
    if m:
        milestone = milestone_of(s, c, m.group(1))
        rest = rest[m.end() :]
    body = strip_quotes(rest)
    if not body:
        raise UsageError(
            f"What did {safe(c.name)} say? Add the text after the name: `/signal {safe(c.name)} <what they said>`."
        )
    msg = MessageIn(
        team_id=ctx.team_id,
        channel_id=ctx.channel_id,
        ts=f"cmd:{ctx.trigger_id or uuid.uuid4().hex}",
        text=body,
        user_id=ctx.user_id,
        author_name=ctx.user_name,
        is_private=ctx.channel_private,
    )
    sid = record(
        s,
        msg,
        c.id,
        PATH_COMMAND,
        now,
        recorded_by=ctx.user_id,
        milestone_id=milestone.id if milestone else None,
        posted_at=now,
    )
    if sid is None:
        return Reply(f"Already recorded for *{safe(c.name)}*.")
    sig = repo.signal_by_id(s, team_id=ctx.team_id, signal_id=sid)
    assert sig is not None
    tied = (
        f" · milestone {milestone.position} “{quote(milestone.title, 80)}”"
        if milestone
        else " · tied to no milestone (part of the success gap; add `#<n>` to tie one)"
    )
    return Reply(
        f":memo: Recorded for *{safe(c.name)}*: {sig.kind} · sentiment {sig.sentiment:+.1f}{tied}",
        effects=[RefreshHome()],
    )
