"""Digest schedules and runs: the claim that makes a digest go out once, reminders, the latest posted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import DigestRun, DigestSchedule, Learning
from storage.repo._sql import dialect_insert, rowcount


def schedule_for(session: Session, *, team_id: str, channel_id: str) -> DigestSchedule | None:
    return session.scalar(
        select(DigestSchedule).where(DigestSchedule.team_id == team_id, DigestSchedule.channel_id == channel_id)
    )


def enabled_schedules(session: Session) -> Sequence[DigestSchedule]:
    """Every enabled schedule of every workspace (the scheduler's own, unscoped, read)."""
    return session.scalars(select(DigestSchedule).where(DigestSchedule.enabled.is_(True))).all()


def claim_digest_run(session: Session, *, values: dict[str, Any]) -> int | None:
    """Claim (team, channel, week); None when someone already holds the claim."""
    stmt = (
        dialect_insert(session, DigestRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["team_id", "channel_id", "week"])
        .returning(DigestRun.id)
    )
    claimed: int | None = session.scalar(stmt)  # dialect_insert picks the dialect's insert, typed Any
    return claimed


def digest_run(session: Session, *, team_id: str, channel_id: str, week: str) -> DigestRun | None:
    return session.scalar(
        select(DigestRun).where(
            DigestRun.team_id == team_id, DigestRun.channel_id == channel_id, DigestRun.week == week
        )
    )


def retake_digest_run(session: Session, *, run: DigestRun, claimed_by: str, now: datetime, late: bool) -> bool:
    """Claim a run again (stale or failed) unless another instance retook it first: the update matches only the
    status and claim time read a moment ago. True when this call holds the claim."""
    res = session.execute(
        update(DigestRun)
        .where(
            DigestRun.id == run.id,
            DigestRun.status == run.status,
            DigestRun.claimed_at == run.claimed_at,
        )
        .values(status="claimed", claimed_by=claimed_by, claimed_at=now, late=late, error=None)
    )
    return bool(rowcount(res))


def digest_run_by_id(session: Session, *, team_id: str, run_id: int) -> DigestRun | None:
    run = session.get(DigestRun, run_id)
    return run if run is not None and run.team_id == team_id else None


def digest_run_by_ts(session: Session, *, team_id: str, channel_id: str, ts: str) -> DigestRun | None:
    return session.scalar(
        select(DigestRun).where(
            DigestRun.team_id == team_id, DigestRun.channel_id == channel_id, DigestRun.message_ts == ts
        )
    )


def posted_sections(session: Session, *, team_id: str, channel_id: str, other_than_week: str) -> list[str]:
    """The recorded sections (comma-separated keys) of the channel's posted digests of other weeks."""
    rows = session.scalars(
        select(DigestRun.sections).where(
            DigestRun.team_id == team_id,
            DigestRun.channel_id == channel_id,
            DigestRun.week != other_than_week,
            DigestRun.status == "posted",
            DigestRun.sections.is_not(None),
        )
    )
    return [row for row in rows if row]


def runs_needing_reminder(session: Session, *, posted_before: datetime, posted_after: datetime) -> Sequence[DigestRun]:
    """Posted digests without a learning or a reminder yet, posted between `posted_after` and `posted_before`."""
    has_learning = select(Learning.id).where(Learning.digest_run_id == DigestRun.id).exists()
    return session.scalars(
        select(DigestRun).where(
            DigestRun.status == "posted",
            DigestRun.posted_at < posted_before,
            DigestRun.reminder_sent_at.is_(None),
            DigestRun.message_ts.is_not(None),
            ~has_learning,
            DigestRun.posted_at >= posted_after,
        )
    ).all()


def claim_reminder(session: Session, *, run_id: int, now: datetime) -> bool:
    res = session.execute(
        update(DigestRun)
        .where(DigestRun.id == run_id, DigestRun.reminder_sent_at.is_(None))
        .values(reminder_sent_at=now)
    )
    return bool(rowcount(res))


def latest_digest_for(session: Session, *, team_id: str, channel_ids: Iterable[int | str]) -> DigestRun | None:
    """The newest posted digest in one of these channels, else in a portfolio channel."""
    posted = (DigestRun.team_id == team_id, DigestRun.status == "posted", DigestRun.message_ts.is_not(None))
    ids = list(channel_ids)
    if ids:
        run = session.scalar(
            select(DigestRun).where(*posted, DigestRun.channel_id.in_(ids)).order_by(DigestRun.posted_at.desc())
        )
        if run is not None:
            return run
    portfolio = select(DigestSchedule.channel_id).where(
        DigestSchedule.team_id == team_id, DigestSchedule.portfolio.is_(True)
    )
    return session.scalar(
        select(DigestRun).where(*posted, DigestRun.channel_id.in_(portfolio)).order_by(DigestRun.posted_at.desc())
    )
