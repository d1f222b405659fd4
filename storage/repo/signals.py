"""Signals: the capture path's inserts, edits and deletions, corrections, and the reads digests and
reviews make of a week."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Customer, Signal
from storage.repo._sql import dialect_key, rowcount

# built once: the statement is compiled once per dialect and reused for every signal (the hot path)
_SIGNAL_KEY = ["team_id", "channel_id", "message_ts", "customer_id"]
_INSERT_SIGNALS = {
    name: dialect.insert(Signal.__table__).on_conflict_do_nothing(index_elements=_SIGNAL_KEY)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_SIGNAL = {name: stmt.returning(Signal.__table__.c.id) for name, stmt in _INSERT_SIGNALS.items()}


def insert_signals(conn: Connection, *, rows: list[dict[str, Any]]) -> None:
    """Insert many signals in one statement; duplicates (same message and customer) are skipped."""
    conn.execute(_INSERT_SIGNALS[dialect_key(conn.dialect.name)], rows)


def insert_signal(session: Session, *, values: dict[str, Any]) -> int | None:
    """Insert a signal once; a duplicate (same message and customer) returns None."""
    return session.execute(_INSERT_SIGNAL[dialect_key(session.get_bind().dialect.name)], values).scalar()


def signals_for_message(session: Session, *, team_id: str, channel_id: str, ts: str) -> Sequence[Signal]:
    return session.scalars(
        select(Signal).where(Signal.team_id == team_id, Signal.channel_id == channel_id, Signal.message_ts == ts)
    ).all()


def signal_by_id(session: Session, *, team_id: str, signal_id: int) -> Signal | None:
    sig = session.get(Signal, signal_id)
    return sig if sig is not None and sig.team_id == team_id else None


def update_message_text(
    session: Session,
    *,
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


def untie_signals(session: Session, *, team_id: str, milestone_id: int) -> int:
    res = session.execute(
        update(Signal).where(Signal.team_id == team_id, Signal.milestone_id == milestone_id).values(milestone_id=None)
    )
    return rowcount(res)


def tie_signals(session: Session, *, team_id: str, ids: Iterable[int], milestone_id: int) -> int:
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


def mark_corrected(session: Session, *, team_id: str, signal_id: int, user: str, now: datetime) -> None:
    session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.id == signal_id)
        .values(corrected_by=user, corrected_at=now, classified_by="person")
    )


def correct_kind(session: Session, *, team_id: str, signal_id: int, kind: str, user: str, now: datetime) -> bool:
    """A person's kind for a signal (True when it changed anything)."""
    res = session.execute(
        update(Signal)
        .where(Signal.team_id == team_id, Signal.id == signal_id, Signal.deleted_at.is_(None))
        .values(kind=kind, corrected_by=user, corrected_at=now, classified_by="person")
    )
    return bool(rowcount(res))


def corrected_signals(session: Session, *, team_id: str | None = None) -> Sequence[Any]:
    q = select(Signal.team_id, Signal.text, Signal.kind, Signal.corrected_by, Signal.corrected_at).where(
        Signal.corrected_by.is_not(None), Signal.deleted_at.is_(None), Signal.text != ""
    )
    if team_id:
        q = q.where(Signal.team_id == team_id)
    return session.execute(q.order_by(Signal.corrected_at, Signal.id)).all()


def delete_signals(session: Session, *, team_id: str, ids: Iterable[int]) -> int:
    ids = list(ids)
    if not ids:
        return 0
    return rowcount(session.execute(delete(Signal).where(Signal.team_id == team_id, Signal.id.in_(ids))))


def mark_message_deleted(session: Session, *, team_id: str, channel_id: str, ts: str, now: datetime) -> int:
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


@lru_cache(maxsize=16)
def _record(fields: tuple[str, ...]) -> Any:
    """A named tuple type for rows of these columns. Reading a field of a Row by name costs about a microsecond
    (SQLAlchemy resolves the name in Python); a named tuple's is an index. A digest reads a dozen fields of each
    of tens of thousands of rows, several times."""
    return namedtuple("SignalRow", fields)


def _records(rows: Iterable[Any], columns: Sequence[Any]) -> list[Any]:
    make = _record(tuple(c.key for c in columns))._make
    return [make(r) for r in rows]


def signals_between(
    session: Session,
    *,
    team_id: str,
    start: datetime,
    end: datetime,
    customer_ids: Iterable[int] | None = None,
    columns: Sequence[Any] = SIGNAL_COLUMNS,
) -> Sequence[Any]:
    """Live (not deleted) signals posted in [start, end), newest first, as read-only named tuples.

    Named tuples, not ORM objects or Rows: the digest reads a whole week (tens of thousands of signals) and only
    looks.
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
            rows = _records(session.execute(q.order_by(Signal.posted_at.desc(), Signal.id.desc())), columns)
            return [r for r in rows if r.customer_id in wanted]
    return _records(session.execute(q.order_by(Signal.posted_at.desc(), Signal.id.desc())), columns)


# what trends and the success gap read of the weeks before a digest's (bot.digest)
TRAIL_COLUMNS = (Signal.id, Signal.customer_id, Signal.posted_at, Signal.milestone_id, Signal.text)


def signal_trail(
    session: Session, *, team_id: str, start: datetime, end: datetime, customer_ids: Iterable[int]
) -> Sequence[Any]:
    """(id, customer_id, posted_at, milestone_id, text) of live signals in [start, end): enough for trends."""
    wanted = set(customer_ids)
    rows = session.execute(
        select(*TRAIL_COLUMNS).where(
            Signal.team_id == team_id, Signal.posted_at >= start, Signal.posted_at < end, Signal.deleted_at.is_(None)
        )
    )
    return [r for r in _records(rows, TRAIL_COLUMNS) if r.customer_id in wanted]


def signal_counts_by_customer(session: Session, *, team_id: str, start: datetime, end: datetime) -> dict[int, int]:
    rows = session.execute(
        select(Signal.customer_id, func.count())
        .where(
            Signal.team_id == team_id, Signal.posted_at >= start, Signal.posted_at < end, Signal.deleted_at.is_(None)
        )
        .group_by(Signal.customer_id)
    )
    return {cid: n for cid, n in rows}


def live_signal_counts(session: Session, *, team_id: str) -> dict[int, int]:
    """Live signals per customer, all time (a customer without any is absent)."""
    rows = session.execute(
        select(Signal.customer_id, func.count())
        .where(Signal.team_id == team_id, Signal.deleted_at.is_(None))
        .group_by(Signal.customer_id)
    )
    return {cid: n for cid, n in rows}


def sentiments_between(
    session: Session, *, team_id: str, customer_ids: Iterable[int], start: datetime, end: datetime
) -> Sequence[Any]:
    """(posted_at, sentiment) of the customers' live signals posted in [start, end)."""
    return session.execute(
        select(Signal.posted_at, Signal.sentiment).where(
            Signal.team_id == team_id,
            Signal.customer_id.in_(list(customer_ids)),
            Signal.deleted_at.is_(None),
            Signal.posted_at >= start,
            Signal.posted_at < end,
        )
    ).all()


def last_signal_at(session: Session, *, team_id: str, ids: Iterable[int] | None = None) -> dict[int, datetime]:
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


def signals_channels(session: Session, *, team_id: str, channel_id: str, start: datetime, end: datetime) -> set[int]:
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


def erase_signal_text_before(session: Session, *, cutoff: datetime) -> int:
    res = session.execute(update(Signal).where(Signal.posted_at < cutoff, Signal.text != "").values(text="", note=None))
    return rowcount(res)


def _unclassified(since: datetime) -> list[Any]:
    return [
        Signal.classified_by == "rules",
        Signal.recorded_at >= since,
        Signal.deleted_at.is_(None),
        Signal.text != "",
    ]


def teams_with_unclassified_signals(session: Session, *, since: datetime) -> list[str]:
    return list(session.scalars(select(Signal.team_id).where(*_unclassified(since)).distinct()))


def unclassified_signals(
    session: Session, *, team_id: str, since: datetime, include_private: bool, limit: int
) -> Sequence[Any]:
    """(id, text) of the workspace's recent signals classified by the rules only, newest first."""
    q = select(Signal.id, Signal.text).where(Signal.team_id == team_id, *_unclassified(since))
    if not include_private:
        q = q.where(Signal.is_private.is_(False))
    return session.execute(q.order_by(Signal.recorded_at.desc(), Signal.id.desc()).limit(limit)).all()


def set_classifications(
    session: Session, *, team_id: str, answers: dict[int, tuple[str, float]], kept: Iterable[int]
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


def recent_signal_ids(
    session: Session,
    *,
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


def signals_tied_to(session: Session, *, team_id: str, milestone_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Signal.id).where(
                Signal.team_id == team_id, Signal.milestone_id == milestone_id, Signal.deleted_at.is_(None)
            )
        )
    )


def signals_by_id(session: Session, *, team_id: str, ids: Iterable[int]) -> Sequence[Any]:
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


def negative_signals_by_customer(
    session: Session, *, team_id: str, since: datetime, until: datetime, at_least: int
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
