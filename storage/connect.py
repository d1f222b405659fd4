"""Slack Connect queries: what a channel is shared with, the connected organisations, first-hand answers.

Every query is scoped by team_id (the host workspace); an organisation's own id is `org_team_id`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from storage.models import ChannelInfo, ChannelLink, ConnectedTeam, Signal
from storage.repo._sql import dialect_insert, rowcount

ASKING_KINDS = ("question", "request")


def save_channel(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    name: str | None,
    is_private: bool,
    is_ext_shared: bool,
    is_shared: bool,
    connected_team_ids: Iterable[str],
    is_member: bool | None,
    now: datetime,
) -> None:
    """What conversations.info (or users.conversations) said about a channel; two writers racing both succeed."""
    values = dict(
        team_id=team_id,
        channel_id=channel_id,
        name=name,
        is_private=is_private,
        is_ext_shared=is_ext_shared,
        is_shared=is_shared,
        connected_team_ids=json.dumps(sorted(set(connected_team_ids))),
        checked_at=now,
        updated_at=now,
    )
    keep = ["name", "is_private", "is_ext_shared", "is_shared", "connected_team_ids", "checked_at", "updated_at"]
    if is_member is not None:
        values["is_member"] = is_member
        keep.append("is_member")
    stmt = dialect_insert(session, ChannelInfo).values(**values)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["team_id", "channel_id"], set_={k: stmt.excluded[k] for k in keep})
    )


def mark_ext_shared(session: Session, *, team_id: str, channel_id: str, now: datetime) -> None:
    """An event said the channel is shared with another organisation (its envelope, or an external author)."""
    stmt = dialect_insert(session, ChannelInfo).values(
        team_id=team_id, channel_id=channel_id, is_private=False, is_ext_shared=True, is_shared=True, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["team_id", "channel_id"], set_={"is_ext_shared": True, "is_shared": True}
        )
    )


def connected(info: ChannelInfo | None) -> list[str]:
    if info is None or not info.connected_team_ids:
        return []
    try:
        return list(json.loads(info.connected_team_ids))
    except ValueError:
        return []


def save_team(
    session: Session, *, team_id: str, org_team_id: str, name: str | None, domain: str | None, now: datetime
) -> None:
    """A connected organisation's name and domain (team.info); whom it belongs to is kept."""
    stmt = dialect_insert(session, ConnectedTeam).values(
        team_id=team_id, org_team_id=org_team_id, name=name, domain=domain, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["team_id", "org_team_id"],
            set_={"name": stmt.excluded.name, "domain": stmt.excluded.domain, "updated_at": now},
        )
    )


def teams(session: Session, *, team_id: str, org_team_ids: Iterable[str] | None = None) -> Sequence[ConnectedTeam]:
    q = select(ConnectedTeam).where(ConnectedTeam.team_id == team_id)
    if org_team_ids is not None:
        q = q.where(ConnectedTeam.org_team_id.in_(list(org_team_ids)))
    return session.scalars(q.order_by(ConnectedTeam.org_team_id)).all()


def set_team_customer(
    session: Session, *, team_id: str, org_team_id: str, customer_id: int | None, now: datetime
) -> None:
    """An organisation is this customer's (or no one's): its people's messages are first-hand for them."""
    stmt = dialect_insert(session, ConnectedTeam).values(
        team_id=team_id, org_team_id=org_team_id, customer_id=customer_id, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["team_id", "org_team_id"], set_={"customer_id": customer_id, "updated_at": now}
        )
    )


def org_customers(conn: Connection | Session, *, team_id: str) -> dict[str, int]:
    """organisation team id -> customer id, for every organisation the team has said whose it is."""
    rows = conn.execute(
        select(ConnectedTeam.org_team_id, ConnectedTeam.customer_id).where(
            ConnectedTeam.team_id == team_id, ConnectedTeam.customer_id.is_not(None)
        )
    )
    return {org: cid for org, cid in rows if cid is not None}  # the query already leaves out None


def channels(session: Session, *, team_id: str, ids: Iterable[str] | None = None) -> Sequence[ChannelInfo]:
    q = select(ChannelInfo).where(ChannelInfo.team_id == team_id)
    if ids is not None:
        q = q.where(ChannelInfo.channel_id.in_(list(ids)))
    return session.scalars(q).all()


def unlinked_member_channels(session: Session, *, team_id: str) -> Sequence[ChannelInfo]:
    """Channels the app is in that are neither linked nor watched."""
    linked = select(ChannelLink.channel_id).where(ChannelLink.team_id == team_id)
    return session.scalars(
        select(ChannelInfo)
        .where(ChannelInfo.team_id == team_id, ChannelInfo.is_member.is_(True), ChannelInfo.channel_id.not_in(linked))
        .order_by(ChannelInfo.name)
    ).all()


def mark_answered(
    session: Session, *, team_id: str, channel_id: str, ts: str, user_id: str | None, now: datetime
) -> int:
    """A team member replied in the thread of (or reacted to) message `ts`: its first-hand signals are answered."""
    res = session.execute(
        update(Signal)
        .where(
            Signal.team_id == team_id,
            Signal.channel_id == channel_id,
            Signal.message_ts == ts,
            Signal.first_hand.is_(True),
            Signal.answered_at.is_(None),
        )
        .values(answered_at=now, answered_by=user_id)
    )
    return rowcount(res)


def waiting(
    session: Session, *, team_id: str, since: datetime, customer_ids: Iterable[int] | None = None
) -> list[Signal]:
    """First-hand questions and requests since `since` that no one on the team has answered, oldest first."""
    q = select(Signal).where(
        Signal.team_id == team_id,
        Signal.first_hand.is_(True),
        Signal.answered_at.is_(None),
        Signal.deleted_at.is_(None),
        Signal.kind.in_(ASKING_KINDS),
        Signal.posted_at >= since,
    )
    if customer_ids is not None:
        q = q.where(Signal.customer_id.in_(list(customer_ids)))
    return list(session.scalars(q.order_by(Signal.posted_at, Signal.id)))


def claim_unanswered_nudge(session: Session, *, signal_id: int, now: datetime) -> bool:
    """One nudge per question, whichever instance gets there first."""
    res = session.execute(
        update(Signal)
        .where(Signal.id == signal_id, Signal.unanswered_nudged_at.is_(None), Signal.answered_at.is_(None))
        .values(unanswered_nudged_at=now)
    )
    return bool(rowcount(res))


def is_external_author(session: Session, *, team_id: str, user_id: str) -> bool:
    """Whether this person has written first-hand signals (a customer's person, not the team)."""
    return (
        session.scalar(
            select(Signal.id)
            .where(Signal.team_id == team_id, Signal.user_id == user_id, Signal.first_hand.is_(True))
            .limit(1)
        )
        is not None
    )


def claim_proposal(session: Session, *, team_id: str, channel_id: str, now: datetime) -> bool:
    """One link proposal per channel, whichever instance gets there first."""
    res = session.execute(
        update(ChannelInfo)
        .where(
            ChannelInfo.team_id == team_id,
            ChannelInfo.channel_id == channel_id,
            ChannelInfo.link_proposed_at.is_(None),
        )
        .values(link_proposed_at=now)
    )
    return bool(rowcount(res))


def waiting_at(session: Session, *, team_id: str, channel_id: str, ts: str) -> bool:
    """Whether message `ts` is a first-hand signal not answered yet."""
    return (
        session.scalar(
            select(Signal.id)
            .where(
                Signal.team_id == team_id,
                Signal.channel_id == channel_id,
                Signal.message_ts == ts,
                Signal.first_hand.is_(True),
                Signal.answered_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )
