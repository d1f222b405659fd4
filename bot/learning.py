"""The loop: the question, answers -> learnings and decisions, next week's review; /loop digest|learnings|decisions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot import customers as cust
from bot.commands import Ctx, DigestHooks, UsageError, strip_quotes
from bot.effects import Ephemeral, Reply, RunDigest, ScheduleChanged
from bot.render import QUESTION, fmt_date
from bot.safety import quote, safe
from bot.weeks import WEEKDAYS, scheduled_at, valid_tz, week_at
from storage import repo
from storage.models import DigestRun, DigestSchedule, Learning, LearningCustomer, LearningMilestone

MAX_LEARNING = 2000
OUTCOMES = {"held": "Held", "changed": "Changed", "still_open": "Still open"}

DIGEST_USAGE = ("Usage: `/loop digest schedule <weekday> <HH:MM> [IANA time zone] [portfolio]` "
                "(e.g. `/loop digest schedule friday 15:00 Europe/London`), `/loop digest now`, "
                "`/loop digest off`, `/loop digest llm on|off`, `/loop digest chart on|off`")


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
            raise UsageError(f"“{safe(extra)}” is not an IANA time zone (e.g. Europe/London, America/New_York) "
                             f"or `portfolio`. {DIGEST_USAGE}")
    return ScheduleSpec(matches[0], int(m.group(1)), int(m.group(2)), tz, portfolio)


class LoopCommands(DigestHooks):
    """`/loop digest …`, `/loop learnings`, `/loop decisions`."""

    def __init__(self, sf: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sf = sf
        self.clock = clock

    def dispatch(self, s: Session, ctx: Ctx, verb: str, rest: str) -> Reply:
        if verb == "learnings":
            return self.learnings(s, ctx, rest)
        if verb == "decisions":
            if rest:
                raise UsageError("`/loop decisions` takes nothing after it.")
            return self.decisions(s, ctx)
        sub, _, tail = rest.partition(" ")
        sub, tail = sub.casefold(), tail.strip()
        if sub == "now":
            if tail:
                raise UsageError("`/loop digest now` takes nothing after it.")
            return Reply(":hourglass_flowing_sand: Building this week's digest for this channel…",
                         effects=[RunDigest(ctx.channel_id, ctx.user_id)])
        if sub == "schedule":
            return self.schedule(s, ctx, tail)
        if sub == "off":
            if tail:
                raise UsageError("`/loop digest off` takes nothing after it.")
            return self.off(s, ctx)
        if sub in ("llm", "chart"):
            return self.toggle(s, ctx, sub, tail)
        raise UsageError(DIGEST_USAGE)

    def schedule(self, s: Session, ctx: Ctx, text: str) -> Reply:
        spec = parse_schedule(text)
        u = repo.slack_user(s, ctx.team_id, ctx.user_id)
        tz = spec.tz or (u.tz if u and u.tz and valid_tz(u.tz) else "UTC")
        now = self.clock()
        row = repo.schedule_for(s, ctx.team_id, ctx.channel_id)
        if row is None:
            row = DigestSchedule(team_id=ctx.team_id, channel_id=ctx.channel_id, llm_enabled=True,
                                 chart_enabled=False)
            s.add(row)
        row.weekday, row.hour, row.minute, row.tz = spec.weekday, spec.hour, spec.minute, tz
        row.portfolio, row.enabled, row.created_by, row.updated_at = spec.portfolio, True, ctx.user_id, now
        s.flush()
        week = week_at(now, tz)
        first = scheduled_at(week, row.weekday, row.hour, row.minute, tz)
        if first <= now:
            first = scheduled_at(week.next(), row.weekday, row.hour, row.minute, tz)
        scope = "every customer (portfolio)" if spec.portfolio else "this channel's customers"
        tz_note = "" if spec.tz else " (your Slack time zone; add an IANA zone to change it)" if tz != "UTC" else \
            " (UTC: add an IANA zone such as Europe/London to change it)"
        return Reply(f":calendar: Weekly digest for {scope} scheduled here every "
                     f"{WEEKDAYS[row.weekday].capitalize()} at {row.hour:02d}:{row.minute:02d} {tz}{tz_note}. "
                     f"First one: {first.astimezone(_zone(tz)):%a %b %d, %H:%M}. `/loop digest off` stops it.",
                     public=True, effects=[ScheduleChanged(ctx.channel_id)])

    def off(self, s: Session, ctx: Ctx) -> Reply:
        row = repo.schedule_for(s, ctx.team_id, ctx.channel_id)
        if row is None or not row.enabled:
            raise UsageError("No weekly digest is scheduled in this channel. "
                             "`/loop digest schedule <weekday> <HH:MM> [time zone]` sets one up.")
        row.enabled = False
        row.updated_at = self.clock()
        return Reply(":no_bell: The weekly digest in this channel is off. Learnings and decisions are kept.",
                     public=True, effects=[ScheduleChanged(ctx.channel_id)])

    def toggle(self, s: Session, ctx: Ctx, what: str, value: str) -> Reply:
        if value.casefold() not in ("on", "off"):
            raise UsageError(f"Usage: `/loop digest {what} on|off`")
        row = repo.schedule_for(s, ctx.team_id, ctx.channel_id)
        if row is None:
            raise UsageError("Schedule this channel's digest first: `/loop digest schedule <weekday> <HH:MM>`.")
        on = value.casefold() == "on"
        if what == "llm":
            row.llm_enabled = on
            return Reply(f":robot_face: The LLM summary is {'on' if on else 'off'} for this channel's digest"
                         + ("" if on else " (the deterministic digest is posted as always)") + ".")
        row.chart_enabled = on
        return Reply(f":chart_with_upwards_trend: The weekly chart is {'attached to' if on else 'left out of'} "
                     "this channel's digest.")

    def learnings(self, s: Session, ctx: Ctx, name: str) -> Reply:
        customer_id = None
        title = "Learnings"
        if name.strip():
            found = cust.resolve_exact(s, ctx.team_id, strip_quotes(name))
            if isinstance(found, cust.NoMatch):
                raise UsageError(cust.no_match_message(found))
            customer_id, title = found.id, f"Learnings about {safe(found.name)}"
        rows = repo.learnings(s, ctx.team_id, customer_id=customer_id)
        if not rows:
            return Reply(f"{title}: none yet. Answer the digest's question in its thread — *{QUESTION}*")
        lines = [f"*{title}* (newest first)"] + [learning_line(s, ctx.team_id, r) for r in rows]
        return Reply("\n".join(lines)[:3900])

    def decisions(self, s: Session, ctx: Ctx) -> Reply:
        rows = repo.learnings(s, ctx.team_id, decisions_only=True)
        if not rows:
            return Reply("No decisions recorded yet. When you add a learning, name the decision it affects.")
        lines = ["*Decisions* (newest first)"]
        for r in rows:
            state = OUTCOMES.get(r.outcome or "", "to review")
            by = f" by <@{r.outcome_by}> on {fmt_date(r.outcome_at)}" if r.outcome_by and r.outcome_at else ""
            owner = f" · owner <@{r.owner_id}>" if r.owner_id else ""
            review = f" · review {fmt_date(r.review_on)}" if r.review_on else ""
            lines.append(f"• “{quote(r.decision or '', 200)}” — *{state}*{by}{owner}{review}\n"
                         f"   _because: {quote(r.text, 160)}_")
        return Reply("\n".join(lines)[:3900])


def _zone(tz: str):  # noqa: ANN202
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


def learning_line(s: Session, team_id: str, r: Learning) -> str:
    names = []
    for lc in r.customers:
        c = repo.customer_by_id(s, team_id, lc.customer_id)
        if c:
            names.append(c.name)
    who = f" — <@{r.author_id}>" if r.author_id else ""
    about = f" · {', '.join(quote(n) for n in names)}" if names else ""
    decision = f"\n   :arrow_right: decision: “{quote(r.decision, 200)}”" if r.decision else \
        "\n   _no decision named yet_"
    return f"• {fmt_date(r.created_at)}: “{quote(r.text, 300)}”{who}{about}{decision}"


# --- recording answers ------------------------------------------------------------------

def record_thread_reply(s: Session, team_id: str, channel_id: str, ts: str, thread_ts: str, user_id: str | None,
                        text: str, now: datetime) -> tuple[Learning | None, bool]:
    """A reply in a digest's thread -> a learning. Returns (learning or None if already stored, is_digest_thread)."""
    run = repo.digest_run_by_ts(s, team_id, channel_id, thread_ts)
    if run is None:
        return None, False
    body = text.strip()
    if not body:
        return None, True
    row = Learning(team_id=team_id, channel_id=channel_id, message_ts=ts, digest_run_id=run.id,
                   text=body[:MAX_LEARNING], author_id=user_id, owner_id=user_id,
                   review_on=next_review(now), created_at=now)
    return repo.add_learning(s, row, [], []), True


def next_review(now: datetime) -> date:
    """Review date default: a week from now (next week's digest)."""
    return (now + timedelta(days=7)).date()


def decision_offer(channel_id: str, user: str, learning_id: int) -> Ephemeral:
    return Ephemeral(channel_id, user, "Recorded as a learning. Which decision does it affect?", blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": ":bulb: Recorded your reply as a learning. "
                                                               "*Which decision does it affect?*"},
         "accessory": {"type": "button", "action_id": "name_decision", "value": str(learning_id),
                       "text": {"type": "plain_text", "text": "Name the decision"}}}])


def set_outcome(s: Session, team_id: str, learning_id: int, outcome: str, user: str,
                now: datetime) -> Learning:
    if outcome not in OUTCOMES:
        raise UsageError("Unknown outcome.")
    row = repo.learning_by_id(s, team_id, learning_id)
    if row is None or not row.decision:
        raise UsageError("That decision no longer exists.")
    row.outcome, row.outcome_by, row.outcome_at = outcome, user, now
    return row


@dataclass
class Submitted:
    errors: dict[str, str]
    message: str = ""
    learning_id: int | None = None


def submit_learning(sf: sessionmaker[Session], team_id: str, user: str, meta: dict, values: dict,
                    now: datetime) -> Submitted:
    """The learning modal: validate every field, then write the learning in one transaction."""
    errors: dict[str, str] = {}
    text = (values.get("learning") or "").strip()
    decision = (values.get("decision") or "").strip() or None
    if not text:
        errors["learning"] = "Say what you are learning (one or two sentences)."
    elif len(text) > MAX_LEARNING:
        errors["learning"] = f"Keep it under {MAX_LEARNING} characters."
    if decision and len(decision) > 500:
        errors["decision"] = "Keep the decision under 500 characters."
    review: date | None = None
    if values.get("review"):
        try:
            review = date.fromisoformat(values["review"])
        except ValueError:
            errors["review"] = "Pick a date."
        else:
            if review < now.date():
                errors["review"] = "Pick a review date from today on."
    owner = values.get("owner") or user
    ids = [v for v in values.get("customers") or [] if str(v).isdigit()]
    m_ids = [v for v in values.get("milestones") or [] if str(v).isdigit()]
    if errors:
        return Submitted(errors)
    with sf.begin() as s:
        customers = [c for c in (repo.customer_by_id(s, team_id, int(i)) for i in ids) if c is not None]
        milestones = [m for m in (repo.milestone_by_id(s, team_id, int(i)) for i in m_ids) if m is not None]
        # a milestone names its customer too
        cust_ids = {c.id for c in customers} | {m.customer_id for m in milestones}
        if meta.get("learning"):
            row = repo.learning_by_id(s, team_id, int(meta["learning"]))
            if row is None:
                return Submitted({"learning": "This learning no longer exists."})
            row.text, row.decision, row.owner_id, row.review_on = text, decision, owner, review
            row.customers = [LearningCustomer(customer_id=c) for c in sorted(cust_ids)]
            row.milestones = [LearningMilestone(milestone_id=m.id) for m in milestones]
        else:
            run_id = int(meta.get("run") or 0) or None
            if run_id is not None and s.get(DigestRun, run_id) is None:
                run_id = None
            row = repo.add_learning(s, Learning(team_id=team_id, channel_id=meta.get("channel"), message_ts=None,
                                                digest_run_id=run_id, text=text, decision=decision,
                                                author_id=user, owner_id=owner, review_on=review, created_at=now),
                                    cust_ids, [m.id for m in milestones])
        assert row is not None
        what = f" — decision: “{safe(decision)}”, reviewed in next week's digest" if decision else \
            " (no decision named yet: add one from `/loop learnings`)"
        return Submitted({}, f":bulb: Learning recorded{what}.", row.id)


def outcome_line(row: Learning) -> str:
    when = fmt_date(row.outcome_at) if row.outcome_at else ""
    label = OUTCOMES[row.outcome or "still_open"]
    return f"*{label}* — “{quote(row.decision or '', 200)}” · <@{row.outcome_by}> {when}"
