"""Closing the loop: messages queued to people (the outbox), nudges claimed once, outcomes to tell."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import CustomerTold, Nudge, Outbox
from storage.repo._sql import dialect_insert


def queue_message(
    session: Session,
    *,
    team_id: str,
    user: str,
    kind: str,
    dedupe_key: str,
    payload: str,
    due_at: datetime,
    now: datetime,
) -> None:
    """One message to one person, once (the same dedupe key is never queued twice)."""
    session.execute(
        dialect_insert(session, Outbox)
        .values(
            team_id=team_id,
            user_id=user,
            kind=kind,
            dedupe_key=dedupe_key[:200],
            payload=payload,
            due_at=due_at,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["team_id", "dedupe_key"])
    )


def due_messages(session: Session, *, now: datetime, limit: int = 500) -> Sequence[Outbox]:
    return session.scalars(
        select(Outbox).where(Outbox.sent_at.is_(None), Outbox.due_at <= now).order_by(Outbox.due_at).limit(limit)
    ).all()


def claim_messages(session: Session, *, ids: list[int], now: datetime) -> set[int]:
    """Mark messages sent before sending them: what another instance claimed first is not sent twice."""
    if not ids:
        return set()
    res = session.execute(
        update(Outbox).where(Outbox.id.in_(ids), Outbox.sent_at.is_(None)).values(sent_at=now).returning(Outbox.id)
    )
    return set(res.scalars())


def mark_sent(session: Session, *, ids: list[int], now: datetime) -> None:
    session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(sent_at=now))


def postpone(session: Session, *, ids: list[int], due_at: datetime) -> None:
    session.execute(update(Outbox).where(Outbox.id.in_(ids), Outbox.sent_at.is_(None)).values(due_at=due_at))


def sent_since(session: Session, *, team_id: str, user: str, kind: str, since: datetime) -> bool:
    return (
        session.scalar(
            select(Outbox.id)
            .where(Outbox.team_id == team_id, Outbox.user_id == user, Outbox.kind == kind, Outbox.sent_at >= since)
            .limit(1)
        )
        is not None
    )


def queued_messages(session: Session, *, team_id: str, user: str | None = None) -> Sequence[Outbox]:
    q = select(Outbox).where(Outbox.team_id == team_id)
    if user:
        q = q.where(Outbox.user_id == user)
    return session.scalars(q.order_by(Outbox.id)).all()


def add_outcome_to_tell(
    session: Session, *, team_id: str, customer_id: int, key: str, summary: str, owner: str | None, now: datetime
) -> int | None:
    """Record an outcome the customer should be told about; None when it is recorded already."""
    stmt = (
        dialect_insert(session, CustomerTold)
        .values(
            team_id=team_id,
            customer_id=customer_id,
            outcome_key=key[:64],
            summary=summary,
            owner_id=owner,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["team_id", "outcome_key"])
        .returning(CustomerTold.id)
    )
    told: int | None = session.scalar(stmt)  # dialect_insert picks the dialect's insert, typed Any
    return told


def mark_told(session: Session, *, team_id: str, told_id: int, user: str, now: datetime) -> CustomerTold | None:
    row = session.get(CustomerTold, told_id)
    if row is None or row.team_id != team_id:
        return None
    if row.told_at is None:
        row.told_by, row.told_at = user, now
    return row


def outcomes_to_tell(session: Session, *, team_id: str, customer_ids: Iterable[int], since: datetime) -> Sequence[Any]:
    ids = list(customer_ids)
    if not ids:
        return []
    return session.scalars(
        select(CustomerTold)
        .where(CustomerTold.team_id == team_id, CustomerTold.customer_id.in_(ids), CustomerTold.created_at >= since)
        .order_by(CustomerTold.created_at)
    ).all()


def claim_nudge(
    session: Session, *, team_id: str, subject: str, kind: str, period: str, sent_to: str | None, now: datetime
) -> bool:
    """True the first time (subject, kind, period) is claimed: a nudge goes out once per period."""
    stmt = (
        dialect_insert(session, Nudge)
        .values(team_id=team_id, subject=subject, kind=kind, period=period, sent_to=sent_to, created_at=now)
        .on_conflict_do_nothing(index_elements=["team_id", "subject", "kind", "period"])
        .returning(Nudge.id)
    )
    return session.scalar(stmt) is not None
