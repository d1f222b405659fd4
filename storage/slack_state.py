"""What the app keeps of Slack's own state: capture modals' messages, minutes of events Slack held back, and a
channel's rows following it when Slack changes its id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import (
    CaptureDraft,
    ChannelInfo,
    ChannelLink,
    DigestRun,
    DigestSchedule,
    EventGap,
    Learning,
    Signal,
    Workspace,
)


def _rows(result: object) -> int:
    """Rows an UPDATE touched (a CursorResult's rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


DRAFT_DAYS = 7  # a capture modal left open longer than this is submitted rarely enough to ask for a new one


def save_draft(
    session: Session,
    *,
    team_id: str,
    draft_key: str,
    channel_id: str,
    message_ts: str,
    thread_ts: str | None,
    user_id: str | None,
    text: str,
    now: datetime,
) -> None:
    """Keep a modal's message; drafts older than DRAFT_DAYS go at the same time."""
    session.execute(delete(CaptureDraft).where(CaptureDraft.created_at < now - timedelta(days=DRAFT_DAYS)))
    session.add(
        CaptureDraft(
            team_id=team_id,
            draft_key=draft_key,
            channel_id=channel_id,
            message_ts=message_ts,
            thread_ts=thread_ts,
            user_id=user_id,
            text=text,
            created_at=now,
        )
    )


def find_draft(session: Session, *, team_id: str, draft_key: str) -> CaptureDraft | None:
    return session.scalar(
        select(CaptureDraft).where(CaptureDraft.team_id == team_id, CaptureDraft.draft_key == draft_key)
    )


def save_gap(session: Session, *, team_id: str, start_at: datetime, now: datetime) -> bool:
    """Note a minute Slack stopped sending events from; False when it was noted already."""
    try:
        with session.begin_nested():
            session.add(EventGap(team_id=team_id, start_at=start_at, noticed_at=now))
        return True
    except IntegrityError:
        return False


def open_gaps(session: Session, *, team_id: str) -> Sequence[EventGap]:
    """The workspace's gaps not read back from history yet, oldest first."""
    return session.scalars(
        select(EventGap).where(EventGap.team_id == team_id, EventGap.done_at.is_(None)).order_by(EventGap.start_at)
    ).all()


def close_gap(session: Session, *, gap_id: int, now: datetime) -> None:
    session.execute(update(EventGap).where(EventGap.id == gap_id).values(done_at=now))


def move_channel(session: Session, *, team_id: str, old: str, new: str) -> int:
    """Every row of channel `old` moves to `new` (links, watch settings, schedules, digests, signals, learnings);
    where `new` already has its own row of a one-per-channel kind, that row is kept. Returns the rows moved.
    The caller's transaction makes it all-or-nothing; routing is re-read (routing_version bumped)."""
    moved = 0
    for model, keys in (
        (ChannelLink, ()),
        (DigestSchedule, ()),
        (ChannelInfo, ()),
        (DigestRun, (DigestRun.week,)),
    ):
        # one row per channel (per week for digest runs): the new id's own row wins over the old one
        chan = model.channel_id
        team = model.team_id
        clash = select(*(keys or (chan,))).where(team == team_id, chan == new)
        if keys:
            session.execute(delete(model).where(team == team_id, chan == old, keys[0].in_(clash)))
        elif session.scalar(select(func.count()).select_from(model).where(team == team_id, chan == new)):
            session.execute(delete(model).where(team == team_id, chan == old))
        moved += _rows(session.execute(update(model).where(team == team_id, chan == old).values(channel_id=new)))
    # a message's signal keeps its ts; its permalink names the channel
    moved += _rows(
        session.execute(
            update(Signal)
            .where(Signal.team_id == team_id, Signal.channel_id == old)
            .values(
                channel_id=new,
                permalink=func.replace(Signal.permalink, f"/archives/{old}/", f"/archives/{new}/"),
            )
        )
    )
    moved += _rows(
        session.execute(
            update(Learning).where(Learning.team_id == team_id, Learning.channel_id == old).values(channel_id=new)
        )
    )
    session.execute(
        update(CaptureDraft)
        .where(CaptureDraft.team_id == team_id, CaptureDraft.channel_id == old)
        .values(channel_id=new)
    )
    session.execute(
        update(Workspace).where(Workspace.team_id == team_id).values(routing_version=Workspace.routing_version + 1)
    )
    return moved


def set_message_private(session: Session, *, team_id: str, channel_id: str, ts: str, private: bool) -> int:
    """A message's signals learn what Slack says of their channel's privacy (asked after they were stored)."""
    return _rows(
        session.execute(
            update(Signal)
            .where(Signal.team_id == team_id, Signal.channel_id == channel_id, Signal.message_ts == ts)
            .values(is_private=private)
        )
    )
