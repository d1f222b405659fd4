"""`/loop review <customer> [quarter]`: the customer's quarter, posted in this channel."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from bot.commands.parsing import Ctx, UsageError, customer_exact
from bot.effects import Reply, RunReview
from bot.review import parse_quarter
from bot.safety import safe

REVIEW_USAGE = "Usage: `/loop review <customer> [quarter]` — e.g. `/loop review Marlow Dental 2026-Q4`"


def command(s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    if not rest.strip():
        raise UsageError(REVIEW_USAGE)
    m = re.search(r"\s+((?:\d{4}[- ]?q\d)|(?:q\d[- ]?\d{4}))\s*$", rest, re.IGNORECASE)
    name, quarter_text = (rest[: m.start()], m.group(1)) if m else (rest, None)
    quarter = parse_quarter(quarter_text, now)
    c = customer_exact(s, ctx, name, REVIEW_USAGE)
    return Reply(
        f":bar_chart: Putting together {safe(c.name)}'s {quarter.label} review here…",
        effects=[RunReview(ctx.channel_id, ctx.user_id, c.id, quarter.label)],
    )
