"""Queries the rest of the code calls. Every one is scoped by team_id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    CursorResult,
    Result,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from storage.models import (
    ChannelInfo,
    ChannelLink,
    Customer,
    CustomerAlias,
    CustomerTold,
    DigestRun,
    DigestSchedule,
    Learning,
    LearningCustomer,
    LearningMilestone,
    LearningSignal,
    Milestone,
    MilestoneEvent,
    MilestoneTemplate,
    Nudge,
    Outbox,
    Signal,
    SlackUser,
    TZDateTime,
    Workspace,
)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched. Session.execute is typed to return a Result; for those statements it
    returns a CursorResult, which carries rowcount (the cast says what the type system cannot know)."""
    return cast("CursorResult[Any]", result).rowcount


def _insert(session: Session, model: type) -> Any:
    """A dialect insert that supports ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


# --- workspaces -------------------------------------------------------------------------


def ensure_workspace(session: Session, team_id: str, now: datetime) -> Workspace:
    ws = session.get(Workspace, team_id)
    if ws is None:
        session.execute(
            _insert(session, Workspace)
            .values(team_id=team_id, created_at=now, llm_include_private=False)
            .on_conflict_do_nothing(index_elements=["team_id"])
        )
        ws = session.get(Workspace, team_id)
    assert ws is not None
    return ws


def get_workspace(session: Session, team_id: str) -> Workspace | None:
    return session.get(Workspace, team_id)


def bump_routing(session: Session, team_id: str) -> None:
    """Links, customers or aliases changed: every instance re-reads its routing cache before the next event."""
    session.execute(
        update(Workspace).where(Workspace.team_id == team_id).values(routing_version=Workspace.routing_version + 1)
    )


_ROUTING_VERSIONS = select(Workspace.team_id, Workspace.routing_version).where(
    Workspace.team_id.in_(bindparam("team_ids", expanding=True))
)


def routing_version(conn: Connection, team_id: str) -> int:
    """The workspace's routing version (0 before anything was set up): one primary-key read."""
    return routing_versions(conn, [team_id]).get(team_id, 0)


def routing_versions(conn: Connection, team_ids: Iterable[str]) -> dict[str, int]:
    """The routing versions of several workspaces at once (a workspace not set up yet is absent: version 0).

    The group-commit writer asks once per batch, so it is one prepared Core statement, not an ORM query."""
    rows = conn.execute(_ROUTING_VERSIONS, {"team_ids": list(team_ids)})
    return {team_id: version or 0 for team_id, version in rows}


def workspace_templates(session: Session, team_id: str) -> Sequence[MilestoneTemplate]:
    return session.scalars(
        select(MilestoneTemplate).where(MilestoneTemplate.team_id == team_id).order_by(MilestoneTemplate.segment)
    ).all()


# --- customers --------------------------------------------------------------------------


def customer_by_id(session: Session, team_id: str, customer_id: int) -> Customer | None:
    c = session.get(Customer, customer_id)
    return c if c is not None and c.team_id == team_id else None


def customer_by_key(session: Session, team_id: str, key: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.team_id == team_id, Customer.name_key == key))


def alias_owner(session: Session, team_id: str, key: str) -> Customer | None:
    return session.scalar(
        select(Customer).join(CustomerAlias).where(CustomerAlias.team_id == team_id, CustomerAlias.alias_key == key)
    )


def list_customers(session: Session, team_id: str, *, ids: Iterable[int] | None = None) -> Sequence[Customer]:
    """The workspace's customers with their milestones and aliases, by segment then name; only `ids` when given
    (one customer's digest loads one customer, not the workspace)."""
    q = select(Customer).where(Customer.team_id == team_id)
    if ids is not None:
        wanted = list(set(ids))
        if not wanted:
            return []
        q = q.where(Customer.id.in_(wanted))
    return session.scalars(
        q.options(selectinload(Customer.milestones), selectinload(Customer.aliases)).order_by(
            Customer.segment.is_(None), Customer.segment, Customer.name_key
        )
    ).all()


def achieved_by_segment(session: Session, team_id: str) -> dict[str, list[list[datetime]]]:
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


def customer_names(session: Session, team_id: str, ids: Iterable[int]) -> dict[int, str]:
    """Names of just these customers (a search shows ten of a thousand)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.name).where(Customer.team_id == team_id, Customer.id.in_(wanted))
    ).all()
    return {cid: name for cid, name in rows}


def name_index(session: Session, team_id: str) -> list[tuple[str, int, str]]:
    """(key, customer_id, customer name) for every name and alias of the team."""
    rows = [
        (c.name_key, c.id, c.name)
        for c in session.execute(
            select(Customer.name_key, Customer.id, Customer.name).where(Customer.team_id == team_id)
        )
    ]
    rows += [
        (a.alias_key, a.id, a.name)
        for a in session.execute(
            select(CustomerAlias.alias_key, Customer.id, Customer.name)
            .join(Customer)
            .where(CustomerAlias.team_id == team_id)
        )
    ]
    return rows


def add_customer(session: Session, team_id: str, name: str, key: str, segment: str | None, now: datetime) -> Customer:
    c = Customer(team_id=team_id, name=name, name_key=key, segment=segment, created_at=now)
    session.add(c)
    session.flush()
    return c


def add_alias(session: Session, customer: Customer, alias: str, key: str) -> CustomerAlias:
    a = CustomerAlias(team_id=customer.team_id, customer_id=customer.id, alias=alias, alias_key=key)
    session.add(a)
    session.flush()
    return a


# --- channels ---------------------------------------------------------------------------


def channel_link(session: Session, team_id: str, channel_id: str) -> ChannelLink | None:
    return session.scalar(
        select(ChannelLink).where(ChannelLink.team_id == team_id, ChannelLink.channel_id == channel_id)
    )


def channel_links(session: Session, team_id: str) -> Sequence[ChannelLink]:
    return session.scalars(select(ChannelLink).where(ChannelLink.team_id == team_id)).all()


def links_for_customer(session: Session, team_id: str, customer_id: int) -> Sequence[ChannelLink]:
    return session.scalars(
        select(ChannelLink)
        .where(ChannelLink.team_id == team_id, ChannelLink.customer_id == customer_id)
        .order_by(ChannelLink.id)
    ).all()


def set_channel_link(
    session: Session,
    team_id: str,
    channel_id: str,
    kind: str,
    customer_id: int | None,
    user_id: str | None,
    now: datetime,
) -> ChannelLink:
    link = channel_link(session, team_id, channel_id)
    if link is None:
        link = ChannelLink(team_id=team_id, channel_id=channel_id, created_at=now)
        session.add(link)
    link.kind, link.customer_id, link.linked_by = kind, customer_id, user_id
    session.flush()
    return link


def remove_channel_link(session: Session, team_id: str, channel_id: str) -> bool:
    res = session.execute(
        delete(ChannelLink).where(ChannelLink.team_id == team_id, ChannelLink.channel_id == channel_id)
    )
    return bool(rowcount(res))


def channel_info(session: Session, team_id: str, channel_id: str) -> ChannelInfo | None:
    return session.get(ChannelInfo, (team_id, channel_id))


def _upsert(session: Session, model: type, keys: list[str], values: dict[str, Any], update: list[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE: two requests racing on the same row both succeed."""
    stmt = _insert(session, model).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    session.execute(stmt)


def channel_names(session: Session, team_id: str) -> dict[str, str]:
    """Channel id -> name, for every channel whose name the app has seen."""
    rows = session.execute(
        select(ChannelInfo.channel_id, ChannelInfo.name).where(
            ChannelInfo.team_id == team_id, ChannelInfo.name.is_not(None)
        )
    )
    return {cid: name for cid, name in rows if name is not None}  # the query already leaves out None


def save_channel_info(
    session: Session, team_id: str, channel_id: str, name: str | None, is_private: bool, now: datetime
) -> None:
    _upsert(
        session,
        ChannelInfo,
        ["team_id", "channel_id"],
        dict(team_id=team_id, channel_id=channel_id, name=name, is_private=is_private, updated_at=now),
        ["name", "is_private", "updated_at"],
    )


def save_channel_name(session: Session, team_id: str, channel_id: str, name: str, now: datetime) -> None:
    """A channel's name (privacy unknown: a new row is taken as private until Slack says otherwise)."""
    stmt = _insert(session, ChannelInfo).values(
        team_id=team_id, channel_id=channel_id, name=name, is_private=True, updated_at=now
    )
    session.execute(stmt.on_conflict_do_update(index_elements=["team_id", "channel_id"], set_={"name": name}))


def slack_user(session: Session, team_id: str, user_id: str) -> SlackUser | None:
    return session.get(SlackUser, (team_id, user_id))


def save_slack_user(
    session: Session, team_id: str, user_id: str, name: str | None, is_bot: bool, tz: str | None, now: datetime
) -> None:
    _upsert(
        session,
        SlackUser,
        ["team_id", "user_id"],
        dict(team_id=team_id, user_id=user_id, name=name, is_bot=is_bot, tz=tz, updated_at=now, dm_opt_out=False),
        ["name", "is_bot", "tz", "updated_at"],
    )


def fill_author_names(session: Session, team_id: str, user_id: str, name: str) -> int:
    """The person's name into their signals captured before it was known."""
    res = session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.user_id == user_id, Signal.author_name.is_(None))
        .values(author_name=name)
    )
    return rowcount(res)


def fill_permalinks(session: Session, team_id: str, link: Callable[[str, str, str | None], str | None]) -> int:
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


def user_names(session: Session, team_id: str, user_ids: Iterable[str]) -> dict[str, str]:
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


def mark_home_opened(session: Session, team_id: str, user_id: str, now: datetime) -> None:
    _upsert(
        session,
        SlackUser,
        ["team_id", "user_id"],
        dict(team_id=team_id, user_id=user_id, home_opened_at=now, updated_at=now, is_bot=False, dm_opt_out=False),
        ["home_opened_at"],
    )


def set_dm_opt_out(session: Session, team_id: str, user_id: str, opt_out: bool, now: datetime) -> None:
    _upsert(
        session,
        SlackUser,
        ["team_id", "user_id"],
        dict(team_id=team_id, user_id=user_id, dm_opt_out=opt_out, updated_at=now, is_bot=False),
        ["dm_opt_out"],
    )


def home_viewers(session: Session, team_id: str, limit: int = 50) -> list[str]:
    """People who opened App Home, most recent first (bounded: a refresh is one call each)."""
    return list(
        session.scalars(
            select(SlackUser.user_id)
            .where(SlackUser.team_id == team_id, SlackUser.home_opened_at.is_not(None))
            .order_by(SlackUser.home_opened_at.desc())
            .limit(limit)
        )
    )


# --- signals ----------------------------------------------------------------------------

# built once: the statement is compiled once per dialect and reused for every signal (the hot path)
_SIGNAL_KEY = ["team_id", "channel_id", "message_ts", "customer_id"]
_INSERT_SIGNALS = {
    name: dialect.insert(Signal.__table__).on_conflict_do_nothing(index_elements=_SIGNAL_KEY)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_SIGNAL = {name: stmt.returning(Signal.__table__.c.id) for name, stmt in _INSERT_SIGNALS.items()}


def _dialect(name: str) -> str:
    return "postgresql" if name == "postgresql" else "sqlite"


def insert_signals(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert many signals in one statement; duplicates (same message and customer) are skipped."""
    conn.execute(_INSERT_SIGNALS[_dialect(conn.dialect.name)], rows)


def insert_signal(session: Session, values: dict[str, Any]) -> int | None:
    """Insert a signal once; a duplicate (same message and customer) returns None."""
    return session.execute(_INSERT_SIGNAL[_dialect(session.get_bind().dialect.name)], values).scalar()


def signals_for_message(session: Session, team_id: str, channel_id: str, ts: str) -> Sequence[Signal]:
    return session.scalars(
        select(Signal).where(Signal.team_id == team_id, Signal.channel_id == channel_id, Signal.message_ts == ts)
    ).all()


def update_message_text(
    session: Session,
    team_id: str,
    channel_id: str,
    ts: str,
    text: str,
    kind: str,
    sentiment: float,
    edited_at: datetime,
) -> int:
    """New text for a message's signals; the rules classify it again unless a person corrected the kind."""
    live = (
        Signal.team_id == team_id,
        Signal.channel_id == channel_id,
        Signal.message_ts == ts,
        Signal.deleted_at.is_(None),
    )
    res = session.execute(update(Signal).where(*live).values(text=text, edited_at=edited_at))
    session.execute(
        update(Signal)
        .where(*live, Signal.corrected_by.is_(None))
        .values(kind=kind, sentiment=sentiment, classified_by="rules")
    )
    return rowcount(res)


def untie_signals(session: Session, team_id: str, milestone_id: int) -> int:
    res = session.execute(
        update(Signal).where(Signal.team_id == team_id, Signal.milestone_id == milestone_id).values(milestone_id=None)
    )
    return rowcount(res)


def tie_signals(session: Session, team_id: str, ids: Iterable[int], milestone_id: int) -> int:
    """Tie untied signals to a milestone."""
    ids = list(ids)
    if not ids:
        return 0
    res = session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.id.in_(ids), Signal.milestone_id.is_(None))
        .values(milestone_id=milestone_id)
    )
    return rowcount(res)


def mark_corrected(session: Session, team_id: str, signal_id: int, user: str, now: datetime) -> None:
    session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.id == signal_id)
        .values(corrected_by=user, corrected_at=now, classified_by="person")
    )


def correct_kind(session: Session, team_id: str, signal_id: int, kind: str, user: str, now: datetime) -> bool:
    """A person's kind for a signal (True when it changed anything)."""
    res = session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.id == signal_id, Signal.deleted_at.is_(None))
        .values(kind=kind, corrected_by=user, corrected_at=now, classified_by="person")
    )
    return bool(rowcount(res))


def corrected_signals(session: Session, team_id: str | None = None) -> Sequence[Any]:
    q = select(Signal.team_id, Signal.text, Signal.kind, Signal.corrected_by, Signal.corrected_at).where(
        Signal.corrected_by.is_not(None), Signal.deleted_at.is_(None), Signal.text != ""
    )
    if team_id:
        q = q.where(Signal.team_id == team_id)
    return session.execute(q.order_by(Signal.corrected_at, Signal.id)).all()


def delete_signals(session: Session, team_id: str, ids: Iterable[int]) -> int:
    ids = list(ids)
    if not ids:
        return 0
    return rowcount(session.execute(delete(Signal).where(Signal.team_id == team_id, Signal.id.in_(ids))))


def mark_message_deleted(session: Session, team_id: str, channel_id: str, ts: str, now: datetime) -> int:
    res = session.execute(
        update(Signal)
        .where(
            Signal.team_id == team_id,
            Signal.channel_id == channel_id,
            Signal.message_ts == ts,
            Signal.deleted_at.is_(None),
        )
        .values(text="", note=None, deleted_at=now)
    )
    return rowcount(res)


SIGNAL_COLUMNS = (
    Signal.id,
    Signal.team_id,
    Signal.channel_id,
    Signal.message_ts,
    Signal.user_id,
    Signal.author_name,
    Signal.text,
    Signal.note,
    Signal.permalink,
    Signal.customer_id,
    Signal.milestone_id,
    Signal.kind,
    Signal.sentiment,
    Signal.is_private,
    Signal.posted_at,
    Signal.deleted_at,
    Signal.first_hand,
)


# what an impact review reads of a signal (bot.impact): fewer columns, as it reads seven weeks
IMPACT_COLUMNS = (
    Signal.id,
    Signal.channel_id,
    Signal.author_name,
    Signal.text,
    Signal.permalink,
    Signal.customer_id,
    Signal.milestone_id,
    Signal.kind,
    Signal.sentiment,
    Signal.is_private,
    Signal.posted_at,
    Signal.first_hand,
)


def signals_between(
    session: Session,
    team_id: str,
    start: datetime,
    end: datetime,
    customer_ids: Iterable[int] | None = None,
    columns: Sequence[Any] = SIGNAL_COLUMNS,
) -> Sequence[Any]:
    """Live (not deleted) signals posted in [start, end), newest first, as read-only rows.

    Rows, not ORM objects: the digest reads a whole week (tens of thousands of signals) and only looks.
    """
    q = select(*columns).where(
        Signal.team_id == team_id, Signal.posted_at >= start, Signal.posted_at < end, Signal.deleted_at.is_(None)
    )
    if customer_ids is not None:
        ids = list(customer_ids)
        if len(ids) <= 500:
            q = q.where(Signal.customer_id.in_(ids))
        else:
            wanted = set(ids)
            rows = session.execute(q.order_by(Signal.posted_at.desc(), Signal.id.desc())).all()
            return [r for r in rows if r.customer_id in wanted]
    return session.execute(q.order_by(Signal.posted_at.desc(), Signal.id.desc())).all()


def signal_trail(
    session: Session, team_id: str, start: datetime, end: datetime, customer_ids: Iterable[int]
) -> Sequence[Any]:
    """(id, customer_id, posted_at, milestone_id, text) of live signals in [start, end): enough for trends."""
    wanted = set(customer_ids)
    rows = session.execute(
        select(Signal.id, Signal.customer_id, Signal.posted_at, Signal.milestone_id, Signal.text).where(
            Signal.team_id == team_id, Signal.posted_at >= start, Signal.posted_at < end, Signal.deleted_at.is_(None)
        )
    ).all()
    return [r for r in rows if r.customer_id in wanted]


def signal_counts_by_customer(session: Session, team_id: str, start: datetime, end: datetime) -> dict[int, int]:
    rows = session.execute(
        select(Signal.customer_id, func.count())
        .where(
            Signal.team_id == team_id, Signal.posted_at >= start, Signal.posted_at < end, Signal.deleted_at.is_(None)
        )
        .group_by(Signal.customer_id)
    )
    return {cid: n for cid, n in rows}


def last_signal_at(session: Session, team_id: str, *, ids: Iterable[int] | None = None) -> dict[int, datetime]:
    """Each customer's newest live signal (only `ids` when given): one index seek per customer, however long the
    history."""
    newest = (
        select(Signal.posted_at)
        .where(Signal.customer_id == Customer.id, Signal.deleted_at.is_(None))
        .order_by(Signal.posted_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    q = select(Customer.id, newest).where(Customer.team_id == team_id)
    if ids is not None:
        q = q.where(Customer.id.in_(list(set(ids))))
    return {cid: at for cid, at in session.execute(q) if at is not None}


def signals_channels(session: Session, team_id: str, channel_id: str, start: datetime, end: datetime) -> set[int]:
    """Customers with live signals in a channel in [start, end)."""
    return set(
        session.scalars(
            select(Signal.customer_id)
            .where(
                Signal.team_id == team_id,
                Signal.channel_id == channel_id,
                Signal.posted_at >= start,
                Signal.posted_at < end,
                Signal.deleted_at.is_(None),
            )
            .distinct()
        )
    )


def erase_signal_text_before(session: Session, cutoff: datetime) -> int:
    res = session.execute(update(Signal).where(Signal.posted_at < cutoff, Signal.text != "").values(text="", note=None))
    return rowcount(res)


# --- milestones -------------------------------------------------------------------------


def milestone_at(session: Session, customer: Customer, position: int) -> Milestone | None:
    """The customer's live milestone at `position` (removed ones sit at negative positions)."""
    return session.scalar(
        select(Milestone).where(
            Milestone.team_id == customer.team_id, Milestone.customer_id == customer.id, Milestone.position == position
        )
    )


def milestone_by_id(session: Session, team_id: str, milestone_id: int) -> Milestone | None:
    m = session.get(Milestone, milestone_id)
    return m if m is not None and m.team_id == team_id else None


def next_position(session: Session, customer: Customer) -> int:
    top = session.scalar(select(func.max(Milestone.position)).where(Milestone.customer_id == customer.id))
    return (top or 0) + 1


def milestones_for_team(session: Session, team_id: str) -> Sequence[Milestone]:
    return session.scalars(
        select(Milestone).where(Milestone.team_id == team_id).order_by(Milestone.customer_id, Milestone.position)
    ).all()


def milestone_events_between(
    session: Session, team_id: str, start: datetime, end: datetime
) -> Sequence[MilestoneEvent]:
    return session.scalars(
        select(MilestoneEvent)
        .where(MilestoneEvent.team_id == team_id, MilestoneEvent.at >= start, MilestoneEvent.at < end)
        .order_by(MilestoneEvent.at, MilestoneEvent.id)
    ).all()


# --- digests ----------------------------------------------------------------------------


def schedule_for(session: Session, team_id: str, channel_id: str) -> DigestSchedule | None:
    return session.scalar(
        select(DigestSchedule).where(DigestSchedule.team_id == team_id, DigestSchedule.channel_id == channel_id)
    )


def enabled_schedules(session: Session) -> Sequence[DigestSchedule]:
    """Every enabled schedule of every workspace (the scheduler's own, unscoped, read)."""
    return session.scalars(select(DigestSchedule).where(DigestSchedule.enabled.is_(True))).all()


def claim_digest_run(session: Session, values: dict[str, Any]) -> int | None:
    """Claim (team, channel, week); None when someone already holds the claim."""
    stmt = (
        _insert(session, DigestRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["team_id", "channel_id", "week"])
        .returning(DigestRun.id)
    )
    claimed: int | None = session.scalar(stmt)  # _insert picks the dialect's insert, typed Any
    return claimed


def digest_run(session: Session, team_id: str, channel_id: str, week: str) -> DigestRun | None:
    return session.scalar(
        select(DigestRun).where(
            DigestRun.team_id == team_id, DigestRun.channel_id == channel_id, DigestRun.week == week
        )
    )


def digest_run_by_id(session: Session, team_id: str, run_id: int) -> DigestRun | None:
    run = session.get(DigestRun, run_id)
    return run if run is not None and run.team_id == team_id else None


def digest_run_by_ts(session: Session, team_id: str, channel_id: str, ts: str) -> DigestRun | None:
    return session.scalar(
        select(DigestRun).where(
            DigestRun.team_id == team_id, DigestRun.channel_id == channel_id, DigestRun.message_ts == ts
        )
    )


def runs_needing_reminder(session: Session, posted_before: datetime) -> Sequence[DigestRun]:
    has_learning = select(Learning.id).where(Learning.digest_run_id == DigestRun.id).exists()
    return session.scalars(
        select(DigestRun).where(
            DigestRun.status == "posted",
            DigestRun.posted_at < posted_before,
            DigestRun.reminder_sent_at.is_(None),
            DigestRun.message_ts.is_not(None),
            ~has_learning,
        )
    ).all()


def claim_reminder(session: Session, run_id: int, now: datetime) -> bool:
    res = session.execute(
        update(DigestRun)
        .where(DigestRun.id == run_id, DigestRun.reminder_sent_at.is_(None))
        .values(reminder_sent_at=now)
    )
    return bool(rowcount(res))


# --- learnings --------------------------------------------------------------------------


def add_learning(
    session: Session, learning: Learning, customer_ids: Iterable[int], milestone_ids: Iterable[int]
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


def learning_by_id(session: Session, team_id: str, learning_id: int) -> Learning | None:
    row = session.get(Learning, learning_id)
    return row if row is not None and row.team_id == team_id else None


def learnings(
    session: Session, team_id: str, customer_id: int | None = None, decisions_only: bool = False, limit: int = 30
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


def decision_dates(session: Session, team_id: str, since: datetime) -> dict[int, datetime]:
    """Newest decision per customer since a date."""
    rows = session.execute(
        select(LearningCustomer.customer_id, func.max(Learning.created_at))
        .join(Learning)
        .where(Learning.team_id == team_id, Learning.decision.is_not(None), Learning.created_at >= since)
        .group_by(LearningCustomer.customer_id)
    )
    return {cid: at for cid, at in rows}


# --- deletion ---------------------------------------------------------------------------


@dataclass
class Footprint:
    """Everything stored about one customer: what `purge` and `/loop forget` show, then delete."""

    aliases: list[str]
    links: list[tuple[str, str]]  # (channel id, kind)
    milestones: int
    signals: int
    learnings: int
    outbox: int
    nudges: int
    told: int


def _outbox_about(team_id: str, customer_id: int, milestone_ids: list[int], learning_ids: list[int]) -> Any:
    """The outbox rows about a customer, by their dedupe keys (bot.outcomes and bot.nudges write them):
    tell:<outcome>:<customer>, burst|quiet:<customer>:…, milestone:<id>:…, stalled|overdue:<milestone>:…,
    learning:<id>:…"""
    keys = [
        Outbox.dedupe_key.like(f"tell:%:{customer_id}"),
        Outbox.dedupe_key.like(f"burst:{customer_id}:%"),
        Outbox.dedupe_key.like(f"quiet:{customer_id}:%"),
    ]
    for mid in milestone_ids:
        keys += [Outbox.dedupe_key.like(f"{k}:{mid}:%") for k in ("milestone", "stalled", "overdue")]
        keys.append(Outbox.dedupe_key.like(f"tell:milestone:{mid}:%"))
    for lid in learning_ids:
        keys += [Outbox.dedupe_key.like(f"learning:{lid}:%"), Outbox.dedupe_key.like(f"tell:learning:{lid}:%")]
    return (Outbox.team_id == team_id) & or_(*keys)


def _footprint_ids(session: Session, team_id: str, customer_id: int) -> tuple[list[int], list[int]]:
    milestone_ids = list(
        session.scalars(select(Milestone.id).where(Milestone.team_id == team_id, Milestone.customer_id == customer_id))
    )
    learning_ids = list(
        session.scalars(
            select(LearningCustomer.learning_id)
            .join(Learning)
            .where(Learning.team_id == team_id, LearningCustomer.customer_id == customer_id)
        )
    )
    return milestone_ids, learning_ids


def _nudges_about(team_id: str, customer_id: int, milestone_ids: list[int]) -> Any:
    subjects = [f"customer:{customer_id}"] + [f"milestone:{m}" for m in milestone_ids]
    return (Nudge.team_id == team_id) & Nudge.subject.in_(subjects)


def customer_footprint(session: Session, team_id: str, customer_id: int) -> Footprint:
    milestone_ids, learning_ids = _footprint_ids(session, team_id, customer_id)

    def n(model: Any, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return Footprint(
        aliases=list(
            session.scalars(
                select(CustomerAlias.alias)
                .where(CustomerAlias.team_id == team_id, CustomerAlias.customer_id == customer_id)
                .order_by(CustomerAlias.alias_key)
            )
        ),
        links=[(lk.channel_id, lk.kind) for lk in links_for_customer(session, team_id, customer_id)],
        milestones=len(milestone_ids),
        signals=n(Signal, Signal.team_id == team_id, Signal.customer_id == customer_id),
        learnings=len(learning_ids),
        outbox=n(Outbox, _outbox_about(team_id, customer_id, milestone_ids, learning_ids)),
        nudges=n(Nudge, _nudges_about(team_id, customer_id, milestone_ids)),
        told=n(CustomerTold, CustomerTold.team_id == team_id, CustomerTold.customer_id == customer_id),
    )


def forget_customer(session: Session, team_id: str, customer_id: int) -> Footprint:
    """Delete the customer and everything stored about it, in the caller's transaction: its aliases, channel
    links, milestones (and their history), signals, the learnings that name it, the outbox rows and nudges
    about it, its outcomes to tell. Returns what was deleted (counted first, in the same transaction)."""
    found = customer_footprint(session, team_id, customer_id)
    milestone_ids, learning_ids = _footprint_ids(session, team_id, customer_id)
    session.execute(delete(Outbox).where(_outbox_about(team_id, customer_id, milestone_ids, learning_ids)))
    session.execute(delete(Nudge).where(_nudges_about(team_id, customer_id, milestone_ids)))
    if learning_ids:
        session.execute(delete(Learning).where(Learning.team_id == team_id, Learning.id.in_(learning_ids)))
    session.execute(delete(Signal).where(Signal.team_id == team_id, Signal.customer_id == customer_id))
    if milestone_ids:
        session.execute(delete(MilestoneEvent).where(MilestoneEvent.milestone_id.in_(milestone_ids)))
        session.execute(delete(Milestone).where(Milestone.id.in_(milestone_ids)))
    session.execute(
        delete(CustomerTold).where(CustomerTold.team_id == team_id, CustomerTold.customer_id == customer_id)
    )
    session.execute(delete(ChannelLink).where(ChannelLink.team_id == team_id, ChannelLink.customer_id == customer_id))
    session.execute(
        delete(CustomerAlias).where(CustomerAlias.team_id == team_id, CustomerAlias.customer_id == customer_id)
    )
    session.execute(delete(Customer).where(Customer.team_id == team_id, Customer.id == customer_id))
    session.expire_all()
    bump_routing(session, team_id)
    return found


def display_names(session: Session, team_id: str) -> dict[str, str]:
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


# --- optional LLM classification -----------------------------------------------------------


def _unclassified(since: datetime) -> list[Any]:
    return [
        Signal.classified_by == "rules",
        Signal.recorded_at >= since,
        Signal.deleted_at.is_(None),
        Signal.text != "",
    ]


def teams_with_unclassified_signals(session: Session, since: datetime) -> list[str]:
    return list(session.scalars(select(Signal.team_id).where(*_unclassified(since)).distinct()))


def unclassified_signals(
    session: Session, team_id: str, since: datetime, include_private: bool, limit: int
) -> Sequence[Any]:
    """(id, text) of the workspace's recent signals classified by the rules only, newest first."""
    q = select(Signal.id, Signal.text).where(Signal.team_id == team_id, *_unclassified(since))
    if not include_private:
        q = q.where(Signal.is_private.is_(False))
    return session.execute(q.order_by(Signal.recorded_at.desc(), Signal.id.desc()).limit(limit)).all()


def set_classifications(
    session: Session, team_id: str, answers: dict[int, tuple[str, float]], kept: Iterable[int]
) -> None:
    """The model's kind and sentiment; `kept`: asked, no valid answer, the rules' answer stays for good."""
    for sid, (kind, sentiment) in answers.items():
        session.execute(
            update(Signal)
            .where(Signal.team_id == team_id, Signal.id == sid, Signal.classified_by == "rules")
            .values(kind=kind, sentiment=sentiment, classified_by="model")
        )
    kept = list(kept)
    if kept:
        session.execute(
            update(Signal)
            .where(Signal.team_id == team_id, Signal.id.in_(kept), Signal.classified_by == "rules")
            .values(classified_by="kept")
        )


# --- closing the loop: citations, the outbox, outcomes told --------------------------------------


def latest_digest_for(session: Session, team_id: str, channel_ids: Iterable[int | str]) -> DigestRun | None:
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


def recent_signal_ids(
    session: Session,
    team_id: str,
    since: datetime,
    customer_ids: Iterable[int],
    milestone_ids: Iterable[int],
    limit: int = 20,
) -> list[int]:
    """Live signals since `since` tied to one of the milestones or, failing that, about one of the customers."""
    cids, mids = list(customer_ids), list(milestone_ids)
    if not cids and not mids:
        return []
    about: ColumnElement[bool] = Signal.milestone_id.in_(mids) if mids else Signal.customer_id.in_(cids)
    if mids and cids:
        about = Signal.milestone_id.in_(mids) | Signal.customer_id.in_(cids)
    rows = session.scalars(
        select(Signal.id)
        .where(Signal.team_id == team_id, Signal.posted_at >= since, Signal.deleted_at.is_(None), about)
        .order_by(Signal.milestone_id.is_(None), Signal.posted_at.desc())
        .limit(limit)
    )
    return list(rows)


def cite_signals(session: Session, learning_id: int, signal_ids: Iterable[int]) -> None:
    for sid in signal_ids:
        session.execute(
            _insert(session, LearningSignal)
            .values(learning_id=learning_id, signal_id=sid)
            .on_conflict_do_nothing(index_elements=["learning_id", "signal_id"])
        )


def signals_tied_to(session: Session, team_id: str, milestone_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Signal.id).where(
                Signal.team_id == team_id, Signal.milestone_id == milestone_id, Signal.deleted_at.is_(None)
            )
        )
    )


def signals_by_id(session: Session, team_id: str, ids: Iterable[int]) -> Sequence[Any]:
    ids = list(ids)
    if not ids:
        return []
    return session.execute(
        select(
            Signal.id,
            Signal.user_id,
            Signal.text,
            Signal.posted_at,
            Signal.channel_id,
            Signal.message_ts,
            Signal.thread_ts,
            Signal.customer_id,
            Signal.first_hand,
        ).where(Signal.team_id == team_id, Signal.id.in_(ids), Signal.deleted_at.is_(None))
    ).all()


def user_tzs(session: Session, team_id: str, users: Iterable[str]) -> dict[str, str | None]:
    users = list(users)
    if not users:
        return {}
    return dict(
        session.execute(
            select(SlackUser.user_id, SlackUser.tz).where(SlackUser.team_id == team_id, SlackUser.user_id.in_(users))
        ).all()
    )


def opted_out(session: Session, team_id: str, users: Iterable[str]) -> set[str]:
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


def is_opted_out(session: Session, team_id: str, user: str) -> bool:
    return user in opted_out(session, team_id, [user])


def queue_message(
    session: Session,
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
        _insert(session, Outbox)
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


def due_messages(session: Session, now: datetime, limit: int = 500) -> Sequence[Outbox]:
    return session.scalars(
        select(Outbox).where(Outbox.sent_at.is_(None), Outbox.due_at <= now).order_by(Outbox.due_at).limit(limit)
    ).all()


def claim_messages(session: Session, ids: list[int], now: datetime) -> set[int]:
    """Mark messages sent before sending them: what another instance claimed first is not sent twice."""
    if not ids:
        return set()
    res = session.execute(
        update(Outbox).where(Outbox.id.in_(ids), Outbox.sent_at.is_(None)).values(sent_at=now).returning(Outbox.id)
    )
    return set(res.scalars())


def mark_sent(session: Session, ids: list[int], now: datetime) -> None:
    session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(sent_at=now))


def postpone(session: Session, ids: list[int], due_at: datetime) -> None:
    session.execute(update(Outbox).where(Outbox.id.in_(ids), Outbox.sent_at.is_(None)).values(due_at=due_at))


def sent_since(session: Session, team_id: str, user: str, kind: str, since: datetime) -> bool:
    return (
        session.scalar(
            select(Outbox.id)
            .where(Outbox.team_id == team_id, Outbox.user_id == user, Outbox.kind == kind, Outbox.sent_at >= since)
            .limit(1)
        )
        is not None
    )


def queued_messages(session: Session, team_id: str, user: str | None = None) -> Sequence[Outbox]:
    q = select(Outbox).where(Outbox.team_id == team_id)
    if user:
        q = q.where(Outbox.user_id == user)
    return session.scalars(q.order_by(Outbox.id)).all()


def add_outcome_to_tell(
    session: Session, team_id: str, customer_id: int, key: str, summary: str, owner: str | None, now: datetime
) -> int | None:
    """Record an outcome the customer should be told about; None when it is recorded already."""
    stmt = (
        _insert(session, CustomerTold)
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
    told: int | None = session.scalar(stmt)  # _insert picks the dialect's insert, typed Any
    return told


def mark_told(session: Session, team_id: str, told_id: int, user: str, now: datetime) -> CustomerTold | None:
    row = session.get(CustomerTold, told_id)
    if row is None or row.team_id != team_id:
        return None
    if row.told_at is None:
        row.told_by, row.told_at = user, now
    return row


def outcomes_to_tell(session: Session, team_id: str, customer_ids: Iterable[int], since: datetime) -> Sequence[Any]:
    ids = list(customer_ids)
    if not ids:
        return []
    return session.scalars(
        select(CustomerTold)
        .where(CustomerTold.team_id == team_id, CustomerTold.customer_id.in_(ids), CustomerTold.created_at >= since)
        .order_by(CustomerTold.created_at)
    ).all()


def thread_reply_channels(session: Session, team_id: str) -> set[str]:
    return set(
        session.scalars(
            select(ChannelLink.channel_id).where(ChannelLink.team_id == team_id, ChannelLink.thread_replies.is_(True))
        )
    )


# --- nudges ------------------------------------------------------------------------------------


def team_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Workspace.team_id)))


def negative_signals_by_customer(
    session: Session, team_id: str, since: datetime, until: datetime, at_least: int
) -> dict[int, list[Any]]:
    """Customers with `at_least` problem or churn-risk signals posted in [since, until): their signals, newest first."""
    rows = session.execute(
        select(Signal.customer_id, Signal.text, Signal.author_name, Signal.posted_at)
        .where(
            Signal.team_id == team_id,
            Signal.posted_at >= since,
            Signal.posted_at < until,
            Signal.deleted_at.is_(None),
            Signal.kind.in_(("problem", "churn-risk")),
        )
        .order_by(Signal.posted_at.desc())
    ).all()
    out: dict[int, list[Any]] = {}
    for r in rows:
        out.setdefault(r.customer_id, []).append(r)
    return {cid: rs for cid, rs in out.items() if len(rs) >= at_least}


def claim_nudge(
    session: Session, team_id: str, subject: str, kind: str, period: str, sent_to: str | None, now: datetime
) -> bool:
    """True the first time (subject, kind, period) is claimed: a nudge goes out once per period."""
    stmt = (
        _insert(session, Nudge)
        .values(team_id=team_id, subject=subject, kind=kind, period=period, sent_to=sent_to, created_at=now)
        .on_conflict_do_nothing(index_elements=["team_id", "subject", "kind", "period"])
        .returning(Nudge.id)
    )
    return session.scalar(stmt) is not None


# --- search -------------------------------------------------------------------------------------


def search_signals(
    session: Session,
    team_id: str,
    terms: list[str],
    phrases: list[str],
    *,
    customer_id: int | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    visible_private_channel: str | None = None,
    any_term: bool = False,
    limit: int = 10,
    offset: int = 0,
    candidates: int = 500,
) -> tuple[list[Any], dict[int, int]]:
    """Signals matching every term and phrase (or any term), best first then newest, and the count per customer.

    Ranking and counts cover the newest `candidates` matches: a word in every tenth message would otherwise cost
    a relevance score and a row read for each of its hundred thousand matches. When the counts add up to
    `candidates`, more matched. Deleted signals never match; private channels' signals only in their own channel
    (`visible_private_channel`). SQLite reads the FTS5 index (porter stems), PostgreSQL the tsvector column
    (English stems), both made by migration 0005.
    """
    where = ["s.team_id = :team", "s.deleted_at IS NULL", "s.text != ''"]
    params: dict[str, Any] = {"team": team_id, "cap": candidates}
    if customer_id is not None:
        where.append("s.customer_id = :customer")
        params["customer"] = customer_id
    if kind:
        where.append("s.kind = :kind")
        params["kind"] = kind
    pg = session.get_bind().dialect.name == "postgresql"
    if since is not None:
        where.append("s.posted_at >= :since")
        params["since"] = since
    where.append("(s.is_private = :false OR s.channel_id = :own)")
    params["false"] = False
    params["own"] = visible_private_channel or ""
    if pg:
        parts = [f"plainto_tsquery('english', :t{i})" for i in range(len(terms))]
        parts += [f"phraseto_tsquery('english', :p{i})" for i in range(len(phrases))]
        params.update({f"t{i}": t for i, t in enumerate(terms)})
        params.update({f"p{i}": p for i, p in enumerate(phrases)})
        query = "(" + (" || " if any_term else " && ").join(parts) + ")"
        # the kind is a lexeme of the indexed column (migration 0005): the index narrows by it too
        indexed = query
        if kind:
            indexed = f"({query} && CAST(:kind_lexeme AS tsquery))"
            params["kind_lexeme"] = f"'~kind:{kind}'"
        # the newest matches first, then a score for just those (ts_rank reads each one's whole tsvector)
        statement = (
            f"SELECT c.id, c.customer_id, c.posted_at, ts_rank(c.search, {query}) AS rank FROM ("
            f"SELECT s.id, s.customer_id, s.posted_at, s.search FROM signals s WHERE s.search @@ {indexed} AND "
            + " AND ".join(where)
            + " ORDER BY s.posted_at DESC, s.id DESC LIMIT :cap) c"
        )
        better = -1.0  # ts_rank: higher is better
    else:

        def q(x: str) -> str:
            return '"' + x.replace('"', '""') + '"'

        params["match"] = (" OR " if any_term else " ").join([q(t) for t in terms] + [q(p) for p in phrases])
        # FTS5 walks the index newest rowid first and stops at the cap; bm25 comes from the index alone
        statement = (
            "SELECT s.id, s.customer_id, s.posted_at, bm25(signals_fts) AS rank "
            "FROM signals_fts JOIN signals s ON s.id = signals_fts.rowid WHERE signals_fts MATCH :match AND "
            + " AND ".join(where)
            + " ORDER BY signals_fts.rowid DESC LIMIT :cap"
        )
        better = 1.0  # bm25: lower is better
    found = sql_text(statement).columns(posted_at=TZDateTime)
    if since is not None:  # the datetime goes through the column's type, as the ORM would bind it
        found = found.bindparams(bindparam("since", type_=TZDateTime))
    hits = list(session.execute(found, params).all())
    counts = dict(Counter(h.customer_id for h in hits))
    hits.sort(key=lambda h: (better * h.rank, -h.posted_at.timestamp(), -h.id))
    page = [h.id for h in hits[offset : offset + limit]]
    if not page:
        return [], counts
    rows = session.execute(
        sql_text(
            "SELECT s.id, s.customer_id, s.channel_id, s.message_ts, s.text, s.kind, s.author_name, s.user_id, "
            "s.permalink, s.posted_at, s.is_private, s.first_hand FROM signals s WHERE s.id IN :ids"
        )
        .bindparams(bindparam("ids", expanding=True))
        .columns(posted_at=TZDateTime, is_private=Boolean, first_hand=Boolean),
        {"ids": page},
    ).all()
    order = {sid: i for i, sid in enumerate(page)}
    return sorted(rows, key=lambda r: order[r.id]), counts


def signals_for_export(
    session: Session, team_id: str, since: datetime | None, customer_id: int | None
) -> Iterable[Any]:
    q = select(
        Signal.posted_at,
        Signal.customer_id,
        Signal.kind,
        Signal.sentiment,
        Signal.text,
        Signal.author_name,
        Signal.channel_id,
        Signal.permalink,
        Signal.corrected_by,
    ).where(Signal.team_id == team_id, Signal.deleted_at.is_(None))
    if since is not None:
        q = q.where(Signal.posted_at >= since)
    if customer_id is not None:
        q = q.where(Signal.customer_id == customer_id)
    return session.execute(q.order_by(Signal.posted_at, Signal.id).execution_options(yield_per=1000))
