"""Full-text search over signals (FTS5 on SQLite, tsvector on PostgreSQL), and the export."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, bindparam, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from storage.models import Signal, TZDateTime


def search_signals(
    session: Session,
    *,
    team_id: str,
    terms: list[str],
    phrases: list[str],
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
    session: Session, *, team_id: str, since: datetime | None, customer_id: int | None
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
