"""`/loop template …`: the workspace's own milestone templates per segment, beside the bundled ones."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot import framing
from bot import milestones as ms
from bot.commands.parsing import Ctx, UsageError, did_you_mean, parse_number, split_title
from bot.effects import Reply
from bot.safety import quote, safe
from bot.text import plural
from storage import repo
from storage.models import MilestoneTemplate

TEMPLATE_USAGE = (
    "Usage: `/loop template` lists the segments; `/loop template show <segment>`; "
    '`/loop template add <segment> "<milestone title>" [days <n>]` (a new segment starts from the bundled one '
    "of that name, if any); `/loop template remove <segment> <number>`"
)
VERBS = ["show", "add", "remove"]
MAX_ITEMS = 20


def template(s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    verb, _, tail = rest.strip().partition(" ")
    verb, tail = verb.casefold(), tail.strip()
    segments = ms.templates_for(s, ctx.team_id)
    if not verb:
        own = {t.segment.casefold() for t in repo.workspace_templates(s, team_id=ctx.team_id)}
        lines = ["*Milestone templates* — `/loop customer add <name> segment <segment>` starts a customer with one"]
        for key, listed in segments.items():
            where = "this workspace's" if key in own else "bundled"
            lines.append(f"• `{safe(key)}` — {safe(listed.label)}: {len(listed.milestones)} milestones ({where})")
        return Reply("\n".join(lines) + "\n" + TEMPLATE_USAGE)
    if verb == "show":
        seg = segments.get(tail.casefold())
        if seg is None:
            raise UsageError(_unknown(tail, segments))
        lines = [f"*{safe(seg.label)}* (`{safe(seg.key)}`)"] + [
            f"{i}. {quote(t.title)}" + (f" — due after {t.days} days" if t.days else "")
            for i, t in enumerate(seg.milestones, start=1)
        ]
        return Reply("\n".join(lines))
    if verb == "add":
        key, _, after = tail.partition(" ")
        title, opts = split_title(after)
        if not key or not title:
            raise UsageError(TEMPLATE_USAGE)
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,59}", key.casefold()):
            raise UsageError("A segment is one word of letters, digits, - or _ (e.g. `clinics`).")
        if len(title) > ms.MAX_TITLE:
            raise UsageError(f"That title is {len(title)} characters; keep it under {ms.MAX_TITLE}.")
        days = None
        if opts:
            m = re.fullmatch(r"days\s+(\d{1,4})", opts.strip(), re.IGNORECASE)
            if not m:
                raise UsageError(f"After the title only `days <n>` may follow. {TEMPLATE_USAGE}")
            days = int(m.group(1))
        row, items = _own(s, ctx, key.casefold(), segments, now)
        if len(items) >= MAX_ITEMS:
            raise UsageError(f"A template holds {MAX_ITEMS} milestones at most.")
        items.append({"title": title, "days": days})
        row.titles = json.dumps(items)
        size = plural(len(items), "milestone")
        note = f":clipboard: Template `{safe(row.segment)}` now has {size}; added “{quote(title)}”."
        if advice := framing.advice(title, "the customer"):
            note += "\n" + advice
        return Reply(note)
    if verb == "remove":
        key, _, number = tail.partition(" ")
        n = parse_number(number) if number else None
        if not key or n is None:
            raise UsageError(TEMPLATE_USAGE)
        row, items = _own(s, ctx, key.casefold(), segments, now)
        if not 1 <= n <= len(items):
            raise UsageError(f"Template `{safe(key)}` has milestones 1–{len(items)}.")
        gone = items.pop(n - 1)
        row.titles = json.dumps(items)
        return Reply(
            f":clipboard: Removed “{quote(gone['title'])}” from template `{safe(row.segment)}`. Customers "
            "already started keep their milestones."
        )
    raise UsageError(f"Unknown command `/loop template {safe(verb)}`.{did_you_mean(verb, VERBS)}\n{TEMPLATE_USAGE}")


def _own(
    s: Session, ctx: Ctx, key: str, segments: dict[str, Any], now: datetime
) -> tuple[MilestoneTemplate, list[dict[str, Any]]]:
    """The workspace's own template for `key`, created from the bundled one of that name when there is one."""
    row = next((t for t in repo.workspace_templates(s, team_id=ctx.team_id) if t.segment.casefold() == key), None)
    if row is None:
        base = segments.get(key)
        items = [
            {"title": t.title, "days": t.days, "impact": t.impact, "ask": t.ask, "ask_kind": t.ask_kind}
            for t in (base.milestones if base else ())
        ]
        row = MilestoneTemplate(
            team_id=ctx.team_id,
            segment=key,
            label=base.label if base else key,
            titles=json.dumps(items),
            updated_by=ctx.user_id,
            updated_at=now,
        )
        s.add(row)
        s.flush()
    row.updated_by, row.updated_at = ctx.user_id, now
    return row, json.loads(row.titles)


def _unknown(name: str, segments: dict[str, Any]) -> str:
    known = ", ".join(f"`{k}`" for k in segments) or "none"
    return f"No template `{safe(name)}`.{did_you_mean(name, list(segments))} Templates: {known}."
