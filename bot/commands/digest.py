"""`/loop digest …`, `/loop learnings`, `/loop decisions`: the weekly digest's settings and the loop's record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot import customers as cust
from bot.commands.parsing import Ctx, UsageError, did_you_mean, strip_quotes
from bot.effects import Reply, RunDigest, ScheduleChanged
from bot.learning import OUTCOMES, learning_line
from bot.safety import quote, safe
from bot.text import QUESTION, fmt_date
from bot.weeks import WEEKDAYS, scheduled_at, valid_tz, week_at
from storage import repo
from storage.models import DigestSchedule

MAX_FOCUS = 300
DIGEST_USAGE = (
    "Usage: `/loop digest schedule <weekday> <HH:MM> [IANA time zone] [portfolio]` "
    "(e.g. `/loop digest schedule friday 15:00 Europe/London`), `/loop digest now`, "
    "`/loop digest off`, `/loop digest llm on|off`, `/loop digest chart on|off`, "
    "`/loop digest focus <what the team wants to learn>|off`"
)
DIGEST_VERBS = ["now", "schedule", "off", "llm", "chart", "focus"]


@dataclass(frozen=True)
class ScheduleSpec:
    weekday: int
    hour: int
    minute: int
    tz: str | None
    portfolio: bool


def parse_schedule(text: str) -> ScheduleSpec:
    """`<weekday> <HH:MM> [IANA tz] [portfolio]` -> ScheduleSpec, or UsageError saying what is wrong."""
    parts = text.split()
    if len(parts) < 2:
        raise UsageError(f"Say which day and time. {DIGEST_USAGE}")
    day = parts[0].casefold()
    matches = [i for i, d in enumerate(WEEKDAYS) if d.startswith(day) and len(day) >= 3]
    if len(matches) != 1:
        raise UsageError(f"“{safe(parts[0])}” is not a weekday: use monday … sunday (or mon … sun).")
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", parts[1])
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise UsageError(f"“{safe(parts[1])}” is not a time: use 24-hour HH:MM, e.g. 15:00.")
    tz: str | None = None
    portfolio = False
    for extra in parts[2:]:
        if extra.casefold() == "portfolio":
            portfolio = True
        elif tz is None and valid_tz(extra):
            tz = extra
        else:
            raise UsageError(
                f"“{safe(extra)}” is not an IANA time zone (e.g. Europe/London, America/New_York) "
                f"or `portfolio`. {DIGEST_USAGE}"
            )
    return ScheduleSpec(matches[0], int(m.group(1)), int(m.group(2)), tz, portfolio)


def digest(s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    sub, _, tail = rest.partition(" ")
    sub, tail = sub.casefold(), tail.strip()
    if sub == "now":
        if tail:
            raise UsageError("`/loop digest now` takes nothing after it.")
        # the runner answers once it knows: "already posted (link)" or "building…" then the digest
        return Reply("", effects=[RunDigest(ctx.channel_id, ctx.user_id)])
    if sub == "schedule":
        return schedule(s, ctx, tail, now)
    if sub == "off":
        if tail:
            raise UsageError("`/loop digest off` takes nothing after it.")
        return off(s, ctx, now)
    if sub in ("llm", "chart"):
        return toggle(s, ctx, sub, tail)
    if sub == "focus":
        return focus(s, ctx, tail)
    hint = did_you_mean(sub, DIGEST_VERBS) if sub else ""
    raise UsageError((f"Unknown command `/loop digest {safe(sub)}`.{hint}\n" if sub else "") + DIGEST_USAGE)


def schedule(s: Session, ctx: Ctx, text: str, now: datetime) -> Reply:
    spec = parse_schedule(text)
    u = repo.slack_user(s, team_id=ctx.team_id, user_id=ctx.user_id)
    tz = spec.tz or (u.tz if u and u.tz and valid_tz(u.tz) else "UTC")
    row = repo.schedule_for(s, team_id=ctx.team_id, channel_id=ctx.channel_id)
    if row is None:
        row = DigestSchedule(team_id=ctx.team_id, channel_id=ctx.channel_id, llm_enabled=True, chart_enabled=False)
        s.add(row)
    row.weekday, row.hour, row.minute, row.tz = spec.weekday, spec.hour, spec.minute, tz
    row.portfolio, row.enabled, row.created_by, row.updated_at = spec.portfolio, True, ctx.user_id, now
    s.flush()
    week = week_at(now, tz)
    first = scheduled_at(week, row.weekday, row.hour, row.minute, tz)
    if first <= now:
        first = scheduled_at(week.next(), row.weekday, row.hour, row.minute, tz)
    scope = "every customer (portfolio)" if spec.portfolio else "this channel's customers"
    tz_note = (
        ""
        if spec.tz
        else " (your Slack time zone; add an IANA zone to change it)"
        if tz != "UTC"
        else " (UTC: add an IANA zone such as Europe/London to change it)"
    )
    return Reply(
        f":calendar: Weekly digest for {scope} scheduled here every "
        f"{WEEKDAYS[row.weekday].capitalize()} at {row.hour:02d}:{row.minute:02d} {tz}{tz_note}. "
        f"First one: {first.astimezone(ZoneInfo(tz)):%a %b %d, %H:%M}. `/loop digest off` stops it.",
        public=True,
        effects=[ScheduleChanged(ctx.channel_id)],
    )


def off(s: Session, ctx: Ctx, now: datetime) -> Reply:
    row = repo.schedule_for(s, team_id=ctx.team_id, channel_id=ctx.channel_id)
    if row is None or not row.enabled:
        raise UsageError(
            "No weekly digest is scheduled in this channel. "
            "`/loop digest schedule <weekday> <HH:MM> [time zone]` sets one up."
        )
    row.enabled = False
    row.updated_at = now
    return Reply(
        ":no_bell: The weekly digest in this channel is off. Learnings and decisions are kept.",
        public=True,
        effects=[ScheduleChanged(ctx.channel_id)],
    )


def _schedule_or_explain(s: Session, ctx: Ctx) -> DigestSchedule:
    row = repo.schedule_for(s, team_id=ctx.team_id, channel_id=ctx.channel_id)
    if row is None:
        raise UsageError("Schedule this channel's digest first: `/loop digest schedule <weekday> <HH:MM>`.")
    return row


def toggle(s: Session, ctx: Ctx, what: str, value: str) -> Reply:
    if value.casefold() not in ("on", "off"):
        raise UsageError(f"Usage: `/loop digest {what} on|off`")
    row = _schedule_or_explain(s, ctx)
    on = value.casefold() == "on"
    if what == "llm":
        row.llm_enabled = on
        return Reply(
            f":robot_face: The LLM summary is {'on' if on else 'off'} for this channel's digest"
            + ("" if on else " (the deterministic digest is posted as always)")
            + "."
        )
    row.chart_enabled = on
    return Reply(
        f":chart_with_upwards_trend: The weekly chart is {'attached to' if on else 'left out of'} "
        "this channel's digest."
    )


def focus(s: Session, ctx: Ctx, text: str) -> Reply:
    usage = "Usage: `/loop digest focus <what the team wants to learn>` (e.g. `onboarding friction`), or `off`"
    text = strip_quotes(text)
    if not text:
        row = repo.schedule_for(s, team_id=ctx.team_id, channel_id=ctx.channel_id)
        now_focus = (
            f"This channel's digest focuses on “{quote(row.focus)}”. "
            if row and row.focus
            else "This channel's digest has no focus. "
        )
        return Reply(now_focus + usage)
    row = _schedule_or_explain(s, ctx)
    if text.casefold() in ("off", "none", "clear"):
        row.focus = None
        return Reply(":dart: The digest in this channel has no focus any more.", public=True)
    if len(text) > MAX_FOCUS:
        raise UsageError(f"Keep the focus under {MAX_FOCUS} characters; it is a question, not a brief.")
    row.focus = " ".join(text.split())
    return Reply(
        f":dart: This channel's digest now puts “{quote(row.focus)}” first: matching signals and themes "
        "lead, and the summary answers it. `/loop digest focus off` clears it.",
        public=True,
    )


def learnings(s: Session, ctx: Ctx, name: str) -> Reply:
    customer_id = None
    title = "Learnings"
    if name.strip():
        found = cust.resolve_exact(s, ctx.team_id, strip_quotes(name))
        if isinstance(found, cust.NoMatch):
            raise UsageError(cust.no_match_message(found))
        customer_id, title = found.id, f"Learnings about {safe(found.name)}"
    rows = repo.list_learnings(s, team_id=ctx.team_id, customer_id=customer_id)
    if not rows:
        return Reply(f"{title}: none yet. Answer the digest's question in its thread — *{QUESTION}*")
    lines = [f"*{title}* (newest first)"] + [learning_line(s, ctx.team_id, r) for r in rows]
    return Reply("\n".join(lines)[:3900])


def decisions(s: Session, ctx: Ctx, rest: str) -> Reply:
    if rest:
        raise UsageError("`/loop decisions` takes nothing after it.")
    rows = repo.list_learnings(s, team_id=ctx.team_id, decisions_only=True)
    if not rows:
        return Reply("No decisions recorded yet. When you add a learning, name the decision it affects.")
    lines = ["*Decisions* (newest first)"]
    for r in rows:
        state = OUTCOMES.get(r.outcome or "", "to review")
        by = f" by <@{r.outcome_by}> on {fmt_date(r.outcome_at)}" if r.outcome_by and r.outcome_at else ""
        owner = f" · owner <@{r.owner_id}>" if r.owner_id else ""
        review = f" · review {fmt_date(r.review_on)}" if r.review_on else ""
        changed = f"\n   :arrow_right: changed to: “{quote(r.changed_to, 200)}”" if r.changed_to else ""
        lines.append(
            f"• “{quote(r.decision or '', 200)}” — *{state}*{by}{owner}{review}\n"
            f"   _because: {quote(r.text, 160)}_{changed}"
        )
    return Reply("\n".join(lines)[:3900])
