"""Customers, their aliases and the channels linked to them; what forgetting a customer deletes."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from storage.models import (
    ChannelLink,
    Customer,
    CustomerAlias,
    CustomerTold,
    Learning,
    LearningCustomer,
    Milestone,
    MilestoneEvent,
    Nudge,
    Outbox,
    Signal,
)
from storage.repo._sql import rowcount
from storage.repo.workspaces import bump_routing


def customer_by_id(session: Session, *, team_id: str, customer_id: int) -> Customer | None:
    c = session.get(Customer, customer_id)
    return c if c is not None and c.team_id == team_id else None


def customer_by_key(session: Session, *, team_id: str, key: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.team_id == team_id, Customer.name_key == key))


def alias_owner(session: Session, *, team_id: str, key: str) -> Customer | None:
    return session.scalar(
        select(Customer).join(CustomerAlias).where(CustomerAlias.team_id == team_id, CustomerAlias.alias_key == key)
    )


def list_customers(session: Session, *, team_id: str, ids: Iterable[int] | None = None) -> Sequence[Customer]:
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


@dataclass(frozen=True)
class CustomerRecords:
    """Customers (by segment then name), their milestones (by customer and position) and aliases (by customer, in
    the order added), as named tuples of their columns."""

    customers: list[Any]
    milestones: list[Any]
    aliases: list[Any]


def customer_records(session: Session, *, team_id: str, ids: Iterable[int] | None = None) -> CustomerRecords:
    """`list_customers` as plain rows, three Core reads: a digest reads a thousand customers and five thousand
    milestones and only looks, where ORM objects cost a third of the time of its reads and more at each attribute
    read."""
    q = select(*_CUSTOMER_COLUMNS).where(Customer.team_id == team_id)
    mq = select(*_MILESTONE_COLUMNS).where(Milestone.team_id == team_id)
    aq = select(CustomerAlias.customer_id, CustomerAlias.alias).where(CustomerAlias.team_id == team_id)
    if ids is not None:
        wanted = list(set(ids))
        if not wanted:
            return CustomerRecords([], [], [])
        q = q.where(Customer.id.in_(wanted))
        mq = mq.where(Milestone.customer_id.in_(wanted))
        aq = aq.where(CustomerAlias.customer_id.in_(wanted))
    customers = session.execute(q.order_by(Customer.segment.is_(None), Customer.segment, Customer.name_key)).all()
    milestones = session.execute(mq.order_by(Milestone.customer_id, Milestone.position, Milestone.id)).all()
    aliases = session.execute(aq.order_by(CustomerAlias.customer_id, CustomerAlias.id)).all()
    return CustomerRecords(
        _named("CustomerRow", _CUSTOMER_COLUMNS, customers),
        _named("MilestoneRow", _MILESTONE_COLUMNS, milestones),
        [tuple(a) for a in aliases],
    )


_CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.team_id,
    Customer.name,
    Customer.name_key,
    Customer.segment,
    Customer.outcome_required,
    Customer.outcome_experience,
    Customer.created_at,
)
_MILESTONE_COLUMNS = (
    Milestone.id,
    Milestone.customer_id,
    Milestone.position,
    Milestone.title,
    Milestone.status,
    Milestone.due_date,
    Milestone.owner_id,
    Milestone.expected_impact,
    Milestone.risk_reason,
    Milestone.achieved_at,
    Milestone.status_changed_at,
    Milestone.removed_at,
    Milestone.ask,
    Milestone.ask_kind,
)


def _named(name: str, columns: Sequence[Any], rows: Sequence[Any]) -> list[Any]:
    record: Any = namedtuple(name, [c.key for c in columns])  # type: ignore[misc]
    return [record._make(r) for r in rows]


def customer_names(session: Session, *, team_id: str, ids: Iterable[int]) -> dict[int, str]:
    """Names of just these customers (a search shows ten of a thousand)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.name).where(Customer.team_id == team_id, Customer.id.in_(wanted))
    ).all()
    return {cid: name for cid, name in rows}


def name_index(session: Session, *, team_id: str) -> list[tuple[str, int, str]]:
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


def add_customer(
    session: Session, *, team_id: str, name: str, key: str, segment: str | None, now: datetime
) -> Customer:
    c = Customer(team_id=team_id, name=name, name_key=key, segment=segment, created_at=now)
    session.add(c)
    session.flush()
    return c


def add_alias(session: Session, *, customer: Customer, alias: str, key: str) -> CustomerAlias:
    a = CustomerAlias(team_id=customer.team_id, customer_id=customer.id, alias=alias, alias_key=key)
    session.add(a)
    session.flush()
    return a


def channel_link(session: Session, *, team_id: str, channel_id: str) -> ChannelLink | None:
    return session.scalar(
        select(ChannelLink).where(ChannelLink.team_id == team_id, ChannelLink.channel_id == channel_id)
    )


def channel_links(session: Session, *, team_id: str) -> Sequence[ChannelLink]:
    return session.scalars(select(ChannelLink).where(ChannelLink.team_id == team_id)).all()


def links_for_customer(session: Session, *, team_id: str, customer_id: int) -> Sequence[ChannelLink]:
    return session.scalars(
        select(ChannelLink)
        .where(ChannelLink.team_id == team_id, ChannelLink.customer_id == customer_id)
        .order_by(ChannelLink.id)
    ).all()


def set_channel_link(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    kind: str,
    customer_id: int | None,
    user_id: str | None,
    now: datetime,
) -> ChannelLink:
    link = channel_link(session, team_id=team_id, channel_id=channel_id)
    if link is None:
        link = ChannelLink(team_id=team_id, channel_id=channel_id, created_at=now)
        session.add(link)
    link.kind, link.customer_id, link.linked_by = kind, customer_id, user_id
    session.flush()
    return link


def remove_channel_link(session: Session, *, team_id: str, channel_id: str) -> bool:
    res = session.execute(
        delete(ChannelLink).where(ChannelLink.team_id == team_id, ChannelLink.channel_id == channel_id)
    )
    return bool(rowcount(res))


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


def customer_footprint(session: Session, *, team_id: str, customer_id: int) -> Footprint:
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
        links=[
            (lk.channel_id, lk.kind) for lk in links_for_customer(session, team_id=team_id, customer_id=customer_id)
        ],
        milestones=len(milestone_ids),
        signals=n(Signal, Signal.team_id == team_id, Signal.customer_id == customer_id),
        learnings=len(learning_ids),
        outbox=n(Outbox, _outbox_about(team_id, customer_id, milestone_ids, learning_ids)),
        nudges=n(Nudge, _nudges_about(team_id, customer_id, milestone_ids)),
        told=n(CustomerTold, CustomerTold.team_id == team_id, CustomerTold.customer_id == customer_id),
    )


def forget_customer(session: Session, *, team_id: str, customer_id: int) -> Footprint:
    """Delete the customer and everything stored about it, in the caller's transaction: its aliases, channel
    links, milestones (and their history), signals, the learnings that name it, the outbox rows and nudges
    about it, its outcomes to tell. Returns what was deleted (counted first, in the same transaction)."""
    found = customer_footprint(session, team_id=team_id, customer_id=customer_id)
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
    bump_routing(session, team_id=team_id)
    return found


def thread_reply_channels(session: Session, *, team_id: str) -> set[str]:
    return set(
        session.scalars(
            select(ChannelLink.channel_id).where(ChannelLink.team_id == team_id, ChannelLink.thread_replies.is_(True))
        )
    )
