"""Learnings and decisions, and the signals a decision cites."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from storage.models import Learning, LearningCustomer, LearningMilestone, LearningSignal
from storage.repo._sql import dialect_insert


def add_learning(
    session: Session, *, learning: Learning, customer_ids: Iterable[int], milestone_ids: Iterable[int]
) -> Learning | None:
    """Store a learning once (a thread reply is unique by its message)."""
    if learning.message_ts is not None:
        exists = session.scalar(
            select(Learning.id).where(
                Learning.team_id == learning.team_id,
                Learning.channel_id == learning.channel_id,
                Learning.message_ts == learning.message_ts,
            )
        )
        if exists:
            return None
    learning.customers = [LearningCustomer(customer_id=c) for c in sorted(set(customer_ids))]
    learning.milestones = [LearningMilestone(milestone_id=m) for m in sorted(set(milestone_ids))]
    session.add(learning)
    session.flush()
    return learning


def learning_by_id(session: Session, *, team_id: str, learning_id: int) -> Learning | None:
    row = session.get(Learning, learning_id)
    return row if row is not None and row.team_id == team_id else None


def learning_by_message(session: Session, *, team_id: str, channel_id: str, ts: str) -> Learning | None:
    """The learning a thread reply became."""
    return session.scalar(
        select(Learning).where(
            Learning.team_id == team_id, Learning.channel_id == channel_id, Learning.message_ts == ts
        )
    )


def list_learnings(
    session: Session, *, team_id: str, customer_id: int | None = None, decisions_only: bool = False, limit: int = 30
) -> Sequence[Learning]:
    q = select(Learning).where(Learning.team_id == team_id)
    if customer_id is not None:
        q = q.join(LearningCustomer).where(LearningCustomer.customer_id == customer_id)
    if decisions_only:
        q = q.where(Learning.decision.is_not(None))
    return session.scalars(
        q.options(selectinload(Learning.customers))
        .order_by(Learning.created_at.desc(), Learning.id.desc())
        .limit(limit)
    ).all()


def decisions_to_review(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    before: datetime,
    since: datetime,
    customer_ids: Iterable[int] = (),
) -> Sequence[Learning]:
    """Decisions still to be reviewed, made between `since` and `before`: those recorded in this channel, and
    those about any of `customer_ids` wherever they were recorded."""
    about = select(LearningCustomer.learning_id).where(LearningCustomer.customer_id.in_(list(customer_ids)))
    return session.scalars(
        select(Learning)
        .where(
            Learning.team_id == team_id,
            (Learning.channel_id == channel_id) | Learning.id.in_(about),
            Learning.decision.is_not(None),
            Learning.created_at < before,
            Learning.created_at >= since,
            (Learning.outcome.is_(None)) | (Learning.outcome == "still_open"),
        )
        .order_by(Learning.created_at)
    ).all()


def decision_dates(session: Session, *, team_id: str, since: datetime) -> dict[int, datetime]:
    """Newest decision per customer since a date."""
    rows = session.execute(
        select(LearningCustomer.customer_id, func.max(Learning.created_at))
        .join(Learning)
        .where(Learning.team_id == team_id, Learning.decision.is_not(None), Learning.created_at >= since)
        .group_by(LearningCustomer.customer_id)
    )
    return {cid: at for cid, at in rows}


def cite_signals(session: Session, *, learning_id: int, signal_ids: Iterable[int]) -> None:
    for sid in signal_ids:
        session.execute(
            dialect_insert(session, LearningSignal)
            .values(learning_id=learning_id, signal_id=sid)
            .on_conflict_do_nothing(index_elements=["learning_id", "signal_id"])
        )
