"""People correct a signal's kind from Slack: stored with who and when, never overwritten afterwards,
taught to the workspace's classifier (bot.memory: its later similar messages are classified the corrected
way) and exported as labelled data so the corpus grows from real use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot import memory
from bot.kinds import KINDS
from bot.weeks import parse_week
from storage import repo

MAX_IN_MODAL = 20


def signals_to_review(s: Session, team_id: str, run_id: int, customer_id: int) -> list[Any]:
    """The customer's signals of a digest's week that may be shown in its channel (newest first, bounded)."""
    run = repo.digest_run_by_id(s, team_id=team_id, run_id=run_id)
    if run is None:
        return []
    sched = repo.schedule_for(s, team_id=team_id, channel_id=run.channel_id)
    start, end = parse_week(run.week).bounds(sched.tz if sched else "UTC")
    start -= timedelta(days=7)  # the digest also covers what came in after last week's digest went out
    rows = repo.signals_between(s, team_id=team_id, start=start, end=end, customer_ids=[customer_id])
    visible = [r for r in rows if r.text and (not r.is_private or r.channel_id == run.channel_id)]
    return visible[:MAX_IN_MODAL]


def correct(s: Session, team_id: str, changes: dict[int, str], user: str, now: datetime) -> int:
    """Set the kinds a person chose; returns how many changed."""
    n = 0
    for sid, kind in changes.items():
        if kind in KINDS and repo.correct_kind(s, team_id=team_id, signal_id=sid, kind=kind, user=user, now=now):
            n += 1
    if n:
        memory.forget(team_id)  # the workspace's later messages like these are classified the corrected way
    return n


def export_rows(s: Session, team_id: str | None = None) -> Iterable[dict[str, Any]]:
    """Every correction as a labelled example: text, the kind people chose, who and when."""
    for r in repo.corrected_signals(s, team_id=team_id):
        yield {
            "text": r.text,
            "kind": r.kind,
            "corrected_by": r.corrected_by,
            "corrected_at": r.corrected_at.isoformat() if r.corrected_at else None,
            "team_id": r.team_id,
        }
