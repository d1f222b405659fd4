"""Milestone templates, the status machine with its history, and detection on an injected clock."""

from __future__ import annotations

import json
import statistics
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from bot.cards import CustomerCard, MilestoneCard
from bot.text import as_id
from storage import repo
from storage.models import Customer, Milestone, MilestoneEvent

TEMPLATES_PATH = Path(__file__).with_name("templates.toml")

PLANNED, IN_PROGRESS, AT_RISK, ACHIEVED = "planned", "in_progress", "at_risk", "achieved"
STATUSES = (PLANNED, IN_PROGRESS, AT_RISK, ACHIEVED)
STATUS_LABEL = {PLANNED: "planned", IN_PROGRESS: "in progress", AT_RISK: "at risk", ACHIEVED: "achieved"}
STATUS_EMOJI = {
    PLANNED: ":white_circle:",
    IN_PROGRESS: ":large_blue_circle:",
    AT_RISK: ":warning:",
    ACHIEVED: ":white_check_mark:",
}
DEFAULT_STALL_DAYS = 14
DEFAULT_QUIET_WEEKS = 3
MAX_TITLE = 200

# the detection below reads a stored milestone or the renderers' plain copy of one alike
AnyMilestone = Milestone | MilestoneCard
M = TypeVar("M", Milestone, MilestoneCard)


@dataclass(frozen=True)
class TemplateMilestone:
    title: str
    days: int | None = None
    impact: str | None = None
    ask: str | None = None
    ask_kind: str | None = None


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    stall_days: int = DEFAULT_STALL_DAYS
    quiet_weeks: int = DEFAULT_QUIET_WEEKS
    milestones: tuple[TemplateMilestone, ...] = field(default_factory=tuple)


@cache
def load_templates(path: Path = TEMPLATES_PATH) -> dict[str, Segment]:
    """Segments and their milestone templates from the TOML file."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Segment] = {}
    for k, seg in raw.get("segments", {}).items():
        ms = tuple(
            TemplateMilestone(
                title=m["title"],
                days=m.get("days"),
                impact=m.get("impact"),
                ask=m.get("ask"),
                ask_kind=m.get("ask_kind"),
            )
            for m in seg.get("milestones", [])
        )
        out[k.casefold()] = Segment(
            key=k,
            label=seg.get("label", k),
            stall_days=int(seg.get("stall_days", DEFAULT_STALL_DAYS)),
            quiet_weeks=int(seg.get("quiet_weeks", DEFAULT_QUIET_WEEKS)),
            milestones=ms,
        )
    return out


def templates_for(session: Session, team_id: str) -> dict[str, Segment]:
    """The bundled templates, with the workspace's own added (its own win when a segment has both)."""
    out = dict(load_templates())
    for row in repo.workspace_templates(session, team_id=team_id):
        items = json.loads(row.titles)
        base = out.get(row.segment.casefold())
        out[row.segment.casefold()] = Segment(
            key=row.segment,
            label=row.label or row.segment,
            stall_days=base.stall_days if base else DEFAULT_STALL_DAYS,
            quiet_weeks=base.quiet_weeks if base else DEFAULT_QUIET_WEEKS,
            milestones=tuple(
                TemplateMilestone(
                    title=i["title"],
                    days=i.get("days"),
                    impact=i.get("impact"),
                    ask=i.get("ask"),
                    ask_kind=i.get("ask_kind"),
                )
                for i in items
            ),
        )
    return out


def segment_rules(segment: str | None) -> Segment:
    """The thresholds of a segment (defaults when the segment has no template)."""
    return load_templates().get((segment or "").casefold(), Segment(key=segment or "", label=segment or ""))


class TransitionError(ValueError):
    """A status change that makes no sense; the message says why and what to do."""


# action -> statuses it may start from -> status it leads to
_TRANSITIONS: dict[str, tuple[set[str], str]] = {
    "start": ({PLANNED, AT_RISK}, IN_PROGRESS),
    "done": ({PLANNED, IN_PROGRESS, AT_RISK}, ACHIEVED),
    "reopen": ({ACHIEVED}, IN_PROGRESS),
    "risk": ({PLANNED, IN_PROGRESS}, AT_RISK),
}


def check_transition(m: Milestone, action: str) -> str:
    """The status `action` leads to from m's status, or TransitionError saying why not."""
    allowed, target = _TRANSITIONS[action]
    if m.status in allowed:
        return target
    label = f"Milestone {m.position} (“{m.title}”)"
    if action == "start":
        why = (
            "is already in progress"
            if m.status == IN_PROGRESS
            else "is already achieved — use `reopen` if it needs more work"
        )
    elif action == "done":
        why = "is already achieved"
    elif action == "reopen":
        why = f"is {STATUS_LABEL[m.status]}, not achieved — only an achieved milestone can be reopened"
    else:
        why = "is already at risk" if m.status == AT_RISK else "is achieved — `reopen` it first if it is at risk again"
    raise TransitionError(f"{label} {why}.")


def apply_transition(
    m: Milestone, action: str, actor: str | None, now: datetime, reason: str | None = None
) -> MilestoneEvent:
    """Change m's status by `action`, with a history row; raises TransitionError when it makes no sense."""
    target = check_transition(m, action)
    ev = MilestoneEvent(
        team_id=m.team_id, actor_id=actor, at=now, from_status=m.status, to_status=target, reason=reason
    )
    m.history.append(ev)
    m.status = target
    m.status_changed_at = now
    if target == IN_PROGRESS and m.started_at is None:
        m.started_at = now
    if target == ACHIEVED:
        m.achieved_at = now
        m.risk_reason = None
    elif action == "reopen":
        m.achieved_at = None
    if target == AT_RISK:
        m.risk_reason = reason
    elif target == IN_PROGRESS:
        m.risk_reason = None
    if m.owner_id is None and actor and target in (IN_PROGRESS, ACHIEVED):
        m.owner_id = actor
    return ev


def new_milestone(
    customer: Customer,
    position: int,
    title: str,
    now: datetime,
    actor: str | None,
    due: date | None = None,
    impact: str | None = None,
    ask: str | None = None,
    ask_kind: str | None = None,
    reason: str = "added",
) -> Milestone:
    m = Milestone(
        team_id=customer.team_id,
        customer_id=customer.id,
        position=position,
        title=title,
        status=PLANNED,
        due_date=due,
        expected_impact=impact,
        ask=ask,
        ask_kind=ask_kind,
        status_changed_at=now,
        created_at=now,
    )
    m.history.append(
        MilestoneEvent(
            team_id=customer.team_id, actor_id=actor, at=now, from_status=None, to_status=PLANNED, reason=reason
        )
    )
    return m


def instantiate_template(customer: Customer, segment: Segment, start: datetime, actor: str | None) -> list[Milestone]:
    """The segment's template milestones for a new customer, due dates counted from `start`."""
    out = []
    for i, t in enumerate(segment.milestones, start=1):
        due = (start + timedelta(days=t.days)).date() if t.days is not None else None
        out.append(
            new_milestone(
                customer,
                i,
                t.title,
                start,
                actor,
                due=due,
                impact=t.impact,
                ask=t.ask,
                ask_kind=t.ask_kind,
                reason=f"template {segment.key}",
            )
        )
    return out


# --- detection: pure functions of values and `now` ----------------------------------------


def is_overdue(m: AnyMilestone, today: date) -> bool:
    """Due date passed and not achieved (due today is not overdue yet)."""
    return m.due_date is not None and m.status != ACHIEVED and m.due_date < today


def days_overdue(m: AnyMilestone, today: date) -> int:
    return (today - m.due_date).days if m.due_date is not None else 0


def is_stalled(m: AnyMilestone, now: datetime, stall_days: int = DEFAULT_STALL_DAYS) -> bool:
    """In progress (or at risk) with no change for longer than `stall_days`."""
    return m.status in (IN_PROGRESS, AT_RISK) and now - m.status_changed_at > timedelta(days=stall_days)


def days_unchanged(m: AnyMilestone, now: datetime) -> int:
    return (now - m.status_changed_at).days


def velocity(achieved: Iterable[datetime], now: datetime, days: int = 30) -> int:
    """Milestones achieved in the `days` up to now."""
    start = now - timedelta(days=days)
    return sum(1 for at in achieved if start < at <= now)


def gaps_days(achieved: Iterable[datetime]) -> list[float]:
    ordered = sorted(achieved)
    return [(b - a).total_seconds() / 86400 for a, b in zip(ordered, ordered[1:], strict=False)]


def segment_median_gap(achieved_by_customer: Iterable[Sequence[datetime]]) -> float | None:
    """Median days between consecutive milestones across a segment's customers."""
    gaps = [g for dates in achieved_by_customer for g in gaps_days(dates)]
    return statistics.median(gaps) if gaps else None


@dataclass(frozen=True)
class Slowdown:
    recent: int  # achieved in the last period
    expected: float  # achievements per period expected from earlier pace or the segment
    basis: str  # "its earlier pace" | "the segment median"


def slowdown(
    achieved: Sequence[datetime],
    started: datetime,
    now: datetime,
    segment_median_days: float | None,
    period_days: int = 30,
) -> Slowdown | None:
    """This period's velocity under half of the customer's earlier pace or the segment median."""
    recent = velocity(achieved, now, period_days)
    period_start = now - timedelta(days=period_days)
    earlier = [a for a in achieved if a <= period_start]
    earlier_span = (period_start - started).total_seconds() / 86400
    if earlier and earlier_span >= period_days:
        pace = len(earlier) / earlier_span * period_days
        if recent < pace / 2:
            return Slowdown(recent, round(pace, 1), "its earlier pace")
    if segment_median_days and (now - started).days >= period_days:
        pace = period_days / segment_median_days
        if recent < pace / 2:
            return Slowdown(recent, round(pace, 1), "the segment median")
    return None


def is_quiet(
    last_signal: datetime | None,
    started: datetime,
    now: datetime,
    has_open_in_progress: bool,
    weeks: int = DEFAULT_QUIET_WEEKS,
) -> bool:
    """No signals for `weeks` (counted from the customer's start when never heard) while work is live."""
    if not has_open_in_progress:
        return False
    since = last_signal or started
    return now - since >= timedelta(weeks=weeks)


def live(ms: Sequence[M]) -> list[M]:
    """The milestones not removed (a removed one stays in the history, out of every count)."""
    return [m for m in ms if m.removed_at is None]


def next_milestone(ms: Sequence[M]) -> M | None:
    """The first milestone not yet achieved, in order."""
    return next((m for m in sorted(ms, key=lambda m: m.position) if m.status != ACHIEVED), None)


def progress(ms: Sequence[M]) -> tuple[int, int]:
    return sum(1 for m in ms if m.status == ACHIEVED), len(ms)


@dataclass(frozen=True)
class CustomerStatus:
    """Where a customer stands, for /milestone, App Home and the digest: plain cards, what the renderers take."""

    customer: CustomerCard
    achieved: int
    total: int
    next: MilestoneCard | None
    flags: list[str]
    stalled: list[MilestoneCard]
    overdue: list[MilestoneCard]
    at_risk: list[MilestoneCard]
    quiet: bool
    last_signal: datetime | None


def customer_status(row: Customer | CustomerCard, now: datetime, last_signal: datetime | None) -> CustomerStatus:
    """Progress, next milestone and flags (stalled, overdue, at risk, quiet) with their reasons."""
    c = row if isinstance(row, CustomerCard) else CustomerCard.of(row)
    rules = segment_rules(c.segment)
    ms = live(c.milestones)
    today = now.date()
    stalled = [m for m in ms if is_stalled(m, now, rules.stall_days)]
    overdue = [m for m in ms if is_overdue(m, today)]
    at_risk = [m for m in ms if m.status == AT_RISK]
    working = any(m.status in (IN_PROGRESS, AT_RISK) for m in ms)
    quiet = is_quiet(last_signal, c.created_at, now, working, rules.quiet_weeks)
    flags = []
    flags += [f":warning: #{m.position} at risk" for m in at_risk]
    flags += [f":alarm_clock: #{m.position} overdue {days_overdue(m, today)}d" for m in overdue]
    flags += [f":hourglass: #{m.position} stalled {days_unchanged(m, now)}d" for m in stalled]
    if quiet:
        since = last_signal or c.created_at
        flags.append(f":zzz: quiet {(now - since).days // 7}w")
    done, total = progress(ms)
    return CustomerStatus(c, done, total, next_milestone(ms), flags, stalled, overdue, at_risk, quiet, last_signal)


def by_id(session: Session, team_id: str, value: str | int | None) -> Milestone | None:
    """The workspace's milestone whose id a button or modal carried ("12" or 12), or None."""
    row_id = as_id(value)
    return repo.milestone_by_id(session, team_id=team_id, milestone_id=row_id) if row_id else None
