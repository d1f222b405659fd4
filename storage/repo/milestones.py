"""Milestones, their history and the workspace's own milestone templates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Customer, Milestone, MilestoneEvent, MilestoneTemplate


def workspace_templates(session: Session, *, team_id: str) -> Sequence[MilestoneTemplate]:
    return session.scalars(
        select(MilestoneTemplate).where(MilestoneTemplate.team_id == team_id).order_by(MilestoneTemplate.segment)
    ).all()


def milestone_at(session: Session, *, customer: Customer, position: int) -> Milestone | None:
    """The customer's live milestone at `position` (removed ones sit at negative positions)."""
    return session.scalar(
        select(Milestone).where(
            Milestone.team_id == customer.team_id, Milestone.customer_id == customer.id, Milestone.position == position
        )
    )


def milestone_by_id(session: Session, *, team_id: str, milestone_id: int) -> Milestone | None:
    m = session.get(Milestone, milestone_id)
    return m if m is not None and m.team_id == team_id else None


def next_position(session: Session, *, customer: Customer) -> int:
    top = session.scalar(select(func.max(Milestone.position)).where(Milestone.customer_id == customer.id))
    return (top or 0) + 1


def milestones_for_team(session: Session, *, team_id: str) -> Sequence[Milestone]:
    return session.scalars(
        select(Milestone).where(Milestone.team_id == team_id).order_by(Milestone.customer_id, Milestone.position)
    ).all()


def milestone_events_between(
    session: Session, *, team_id: str, start: datetime, end: datetime
) -> Sequence[MilestoneEvent]:
    return session.scalars(
        select(MilestoneEvent)
        .where(MilestoneEvent.team_id == team_id, MilestoneEvent.at >= start, MilestoneEvent.at < end)
        .order_by(MilestoneEvent.at, MilestoneEvent.id)
    ).all()


def achieved_between(
    session: Session, *, team_id: str, customer_ids: Iterable[int], start: datetime, end: datetime
) -> list[datetime]:
    """When the customers' milestones were achieved, for those achieved in [start, end)."""
    return [
        at
        for at in session.scalars(
            select(Milestone.achieved_at).where(
                Milestone.team_id == team_id,
                Milestone.customer_id.in_(list(customer_ids)),
                Milestone.achieved_at.is_not(None),
                Milestone.achieved_at >= start,
                Milestone.achieved_at < end,
            )
        )
        if at is not None  # the query already leaves out None
    ]


def achieved_by_segment(session: Session, *, team_id: str) -> dict[str, list[list[datetime]]]:
    """Segment -> each customer's milestone achievement dates (oldest first): what segment medians need, without
    loading every customer and milestone as objects."""
    rows = session.execute(
        select(Customer.id, Customer.segment, Milestone.achieved_at)
        .join(Milestone, Milestone.customer_id == Customer.id)
        .where(Customer.team_id == team_id, Milestone.achieved_at.is_not(None))
        .order_by(Customer.id, Milestone.achieved_at)
    ).all()
    by_customer: dict[int, tuple[str, list[datetime]]] = {}
    for cid, segment, at in rows:
        if at is not None:
            by_customer.setdefault(cid, (segment or "", []))[1].append(at)
    out: dict[str, list[list[datetime]]] = {}
    for segment, dates in by_customer.values():
        out.setdefault(segment, []).append(dates)
    return out
