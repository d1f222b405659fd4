"""What the app learned from Slack about people and channels: names, time zones, App Home, opt-outs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import ChannelInfo, Signal, SlackUser
from storage.repo._sql import dialect_insert, rowcount, upsert


def channel_info(session: Session, *, team_id: str, channel_id: str) -> ChannelInfo | None:
    return session.get(ChannelInfo, (team_id, channel_id))


def channel_names(session: Session, *, team_id: str) -> dict[str, str]:
    """Channel id -> name, for every channel whose name the app has seen."""
    rows = session.execute(
        select(ChannelInfo.channel_id, ChannelInfo.name).where(
            ChannelInfo.team_id == team_id, ChannelInfo.name.is_not(None)
        )
    )
    return {cid: name for cid, name in rows if name is not None}  # the query already leaves out None


def save_channel_info(
    session: Session, *, team_id: str, channel_id: str, name: str | None, is_private: bool, now: datetime
) -> None:
    upsert(
        session,
        ChannelInfo,
        ["team_id", "channel_id"],
        dict(team_id=team_id, channel_id=channel_id, name=name, is_private=is_private, updated_at=now),
        ["name", "is_private", "updated_at"],
    )


def save_channel_name(session: Session, *, team_id: str, channel_id: str, name: str, now: datetime) -> None:
    """A channel's name (privacy unknown: a new row is taken as private until Slack says otherwise)."""
    stmt = dialect_insert(session, ChannelInfo).values(
        team_id=team_id, channel_id=channel_id, name=name, is_private=True, updated_at=now
    )
    session.execute(stmt.on_conflict_do_update(index_elements=["team_id", "channel_id"], set_={"name": name}))


def slack_user(session: Session, *, team_id: str, user_id: str) -> SlackUser | None:
    return session.get(SlackUser, (team_id, user_id))


def save_slack_user(
    session: Session, *, team_id: str, user_id: str, name: str | None, is_bot: bool, tz: str | None, now: datetime
) -> None:
    upsert(
        session,
        SlackUser,
        ["team_id", "user_id"],
        dict(team_id=team_id, user_id=user_id, name=name, is_bot=is_bot, tz=tz, updated_at=now, dm_opt_out=False),
        ["name", "is_bot", "tz", "updated_at"],
    )


def fill_author_names(session: Session, *, team_id: str, user_id: str, name: str) -> int:
    """The person's name into their signals captured before it was known."""
    res = session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.user_id == user_id, Signal.author_name.is_(None))
        .values(author_name=name)
    )
    return rowcount(res)


def fill_permalinks(session: Session, *, team_id: str, link: Callable[[str, str, str | None], str | None]) -> int:
    """Permalinks for the workspace's signals captured before its URL was known."""
    rows = session.execute(
        select(Signal.id, Signal.channel_id, Signal.message_ts, Signal.thread_ts).where(
            Signal.team_id == team_id, Signal.permalink.is_(None), ~Signal.message_ts.startswith("cmd:")
        )
    ).all()
    for r in rows:
        url = link(r.channel_id, r.message_ts, r.thread_ts)
        if url:
            session.execute(update(Signal).where(Signal.id == r.id).values(permalink=url))
    return len(rows)


def user_names(session: Session, *, team_id: str, user_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {
        u: n
        for u, n in session.execute(
            select(SlackUser.user_id, SlackUser.name).where(
                SlackUser.team_id == team_id, SlackUser.user_id.in_(ids), SlackUser.name.is_not(None)
            )
        )
        if n is not None  # the query already leaves out None
    }


def mark_home_opened(session: Session, *, team_id: str, user_id: str, now: datetime) -> None:
    upsert(
        session,
        SlackUser,
        ["team_id", "user_id"],
        dict(team_id=team_id, user_id=user_id, home_opened_at=now, updated_at=now, is_bot=False, dm_opt_out=False),
        ["home_opened_at"],
    )


def set_dm_opt_out(session: Session, *, team_id: str, user_id: str, opt_out: bool, now: datetime) -> None:
    upsert(
        session,
        SlackUser,
        ["team_id", "user_id"],
        dict(team_id=team_id, user_id=user_id, dm_opt_out=opt_out, updated_at=now, is_bot=False),
        ["dm_opt_out"],
    )


def home_viewers(session: Session, *, team_id: str, since: datetime, limit: int = 50) -> list[str]:
    """People who opened App Home since `since`, most recent first (bounded: a refresh is one call each)."""
    return list(
        session.scalars(
            select(SlackUser.user_id)
            .where(SlackUser.team_id == team_id, SlackUser.home_opened_at >= since)
            .order_by(SlackUser.home_opened_at.desc())
            .limit(limit)
        )
    )


def display_names(session: Session, *, team_id: str) -> dict[str, str]:
    """User and channel ids -> names, from the caches (for terminal output)."""
    users = session.execute(
        select(SlackUser.user_id, SlackUser.name).where(SlackUser.team_id == team_id, SlackUser.name.is_not(None))
    )
    out: dict[str, str] = {uid: name for uid, name in users if name}
    channels = session.execute(
        select(ChannelInfo.channel_id, ChannelInfo.name).where(
            ChannelInfo.team_id == team_id, ChannelInfo.name.is_not(None)
        )
    )
    out.update({cid: name for cid, name in channels if name})
    return out


def user_tzs(session: Session, *, team_id: str, users: Iterable[str]) -> dict[str, str | None]:
    users = list(users)
    if not users:
        return {}
    return dict(
        session.execute(
            select(SlackUser.user_id, SlackUser.tz).where(SlackUser.team_id == team_id, SlackUser.user_id.in_(users))
        ).all()
    )


def opted_out(session: Session, *, team_id: str, users: Iterable[str]) -> set[str]:
    users = list(users)
    if not users:
        return set()
    return set(
        session.scalars(
            select(SlackUser.user_id).where(
                SlackUser.team_id == team_id, SlackUser.user_id.in_(users), SlackUser.dm_opt_out.is_(True)
            )
        )
    )


def is_opted_out(session: Session, *, team_id: str, user: str) -> bool:
    return user in opted_out(session, team_id=team_id, users=[user])
