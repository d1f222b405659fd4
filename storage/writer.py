"""Group commit for the capture hot path: one transaction for every signal waiting at that moment.

Each Slack request thread hands its rows to the writer and waits; the writer inserts everything queued
in one transaction, commits, and only then releases the waiting threads, which acknowledge Slack.
"Acknowledged means stored" still holds, and the cost of a commit is shared by all the requests
that arrived while the previous one was being written.

Rows routed from an in-memory cache come with the workspace's routing version they were routed by.
The writer reads the versions once per batch, in the insert's own transaction, and writes nothing for
a request whose workspace's routing moved since: that request gets RoutingChanged and routes again.
So the hot path reads no routing from the database, and a cache that fell behind drops nothing.

On PostgreSQL a batch is one round trip: the writer keeps its own connection, in autocommit, and sends one
statement that reads the versions and inserts every row whose request's version still holds (the rows as one
array per column); a statement on its own is a transaction, committed before its answer comes back. The
SQLAlchemy path it replaces cost four round trips per batch (the pool's check-out with its ping, the version
read, the rows, the commit) and about 1.3 ms of CPU whatever the batch size (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, exc
from sqlalchemy.dialects import postgresql

from storage import db, repo
from storage.models import Signal

log = logging.getLogger(__name__)

MAX_BATCH = 256
WAIT_SECONDS = 20.0  # well past any healthy commit; Slack itself gives up after 3 s and retries


class RoutingChanged(Exception):
    """The workspace's links or names changed after these rows were routed: nothing was written."""


class _Done:
    """Set once by the writer, waited on by one request thread: a bare lock, held until then. Cheaper than a
    threading.Event (a Condition, and a new lock per wait), which every request paid twice under load."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        if self._lock.locked():
            self._lock.release()

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self, timeout: float) -> bool:
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False


@dataclass
class _Batch:
    rows: list[dict[str, Any]]
    routed: tuple[str, int] | None = None  # (team id, the routing version the rows were routed by)
    done: _Done = field(default_factory=_Done)
    error: BaseException | None = None


class SignalWriter:
    """Inserts signal rows (duplicates ignored) from many threads, committing them together."""

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._raw: _RawBatch | None = (
            _PgBatch(engine)
            if engine.dialect.name == "postgresql"
            else _SqliteBatch(engine)
            if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")
            else None
        )
        self._thread = threading.Thread(target=self._run, name="signal-writer", daemon=True)
        self._thread.start()

    def insert(self, rows: list[dict[str, Any]], routed: tuple[str, int] | None = None) -> None:
        """Store `rows`; returns once they are committed, raises if they could not be.

        `routed`: (team id, routing version) the rows were routed by; RoutingChanged when the workspace's
        version is no longer that one (nothing written).
        """
        if not rows and routed is None:
            return
        item = _Batch(rows, routed)
        self._queue.put(item)
        if not item.done.wait(WAIT_SECONDS):
            raise TimeoutError(f"signals not committed within {WAIT_SECONDS:.0f} s")
        if item.error is not None:
            raise item.error

    def check(self, routed: tuple[str, int]) -> None:
        """Raise RoutingChanged if the workspace's routing version is no longer `routed`'s; read together with the
        writes waiting at that moment (one query for the batch), not on its own."""
        self.insert([], routed)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                if self._raw is not None:
                    self._raw.close()
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[_Batch]) -> None:
        try:
            self._commit(batch)
        except Exception as e:
            if len(batch) == 1:
                batch[0].error = e
            else:
                # one bad request must not fail the others: write each on its own
                log.warning(
                    "a batch of %d signal writes failed (%s): writing each request alone", len(batch), type(e).__name__
                )
                for item in batch:
                    item.error = None
                    try:
                        self._commit([item])
                    except Exception as each:
                        item.error = each
        for item in batch:
            item.done.set()

    def _commit(self, batch: list[_Batch]) -> None:
        if self._raw is not None and self._raw.fits(batch):
            self._raw.commit(batch)
            return
        with db.write_lock(self.engine), self.engine.begin() as conn:
            teams = {item.routed[0] for item in batch if item.routed is not None}
            versions = repo.routing_versions(conn, team_ids=teams) if teams else {}
            rows = []
            for item in batch:
                if item.routed is not None and versions.get(item.routed[0], 0) != item.routed[1]:
                    item.error = RoutingChanged(item.routed[0])
                else:
                    rows.extend(item.rows)
            if rows:
                repo.insert_signals(conn, rows=rows)


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect __init__ has no type hints


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # aware (UTCDateTime's bind): PostgreSQL reads the offset
    raise TypeError(f"{type(value).__name__} is not a signal column's value")


def _json(value: Any) -> str:
    return json.dumps(value, default=_isoformat, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _RawBatch:
    """A batch written on the writer thread's own DB-API connection, without SQLAlchemy's per-statement work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fairy: Any = None  # the pooled connection the writer keeps
        table = Signal.__table__
        self._columns = {c.name for c in table.columns}
        # each column's value as SQLAlchemy would send it on this database: the dialect's own type (on SQLite a
        # datetime is text in SQLAlchemy's format, which the rows written by the ORM use and queries compare with)
        self._bind = {c.name: c.type.dialect_impl(engine.dialect).bind_processor(engine.dialect) for c in table.columns}
        # columns SQLAlchemy would fill from a Python-side default: a row without them goes the SQLAlchemy way
        self._defaulted = {c.name for c in table.columns if c.default is not None and c.server_default is None}

    def fits(self, batch: list[_Batch]) -> bool:
        """Every row has the same columns, all of them the table's (else the SQLAlchemy path takes the batch)."""
        keys = None
        for item in batch:
            for row in item.rows:
                if keys is None:
                    keys = row.keys()
                    if not keys <= self._columns or not self._defaulted <= keys:
                        return False
                elif row.keys() != keys:
                    return False
        return True

    @staticmethod
    def _columns_of(batch: list[_Batch]) -> tuple[str, ...]:
        for item in batch:
            if item.rows:
                return tuple(item.rows[0])
        return ()

    def _values(self, cols: tuple[str, ...], row: dict[str, Any]) -> list[Any]:
        out = []
        for c in cols:
            v = row[c]
            bind = self._bind[c]
            out.append(v if bind is None else bind(v))
        return out

    def commit(self, batch: list[_Batch]) -> None:
        raise NotImplementedError

    def _drop(self) -> None:
        """Give the kept connection back to the pool as unusable; the next batch checks out a new one."""
        if self._fairy is not None:
            try:
                self._fairy.invalidate()
            finally:
                self._fairy = None

    def close(self) -> None:
        if self._fairy is not None:
            self._reset(self._fairy.driver_connection)
            self._fairy.close()
            self._fairy = None

    def _reset(self, conn: Any) -> None:
        """The connection as the pool lent it."""


class _SqliteBatch(_RawBatch):
    """SQLite: the versions read and the rows inserted in one IMMEDIATE transaction (the write lock taken first),
    on the writer's own sqlite3 connection."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._sql: dict[tuple[str, ...], str] = {}

    def _connection(self) -> Any:
        if self._fairy is None:
            self._fairy = self.engine.raw_connection()
            self._fairy.driver_connection.isolation_level = None  # transactions begun and ended here
        return self._fairy.driver_connection

    def _reset(self, conn: Any) -> None:
        conn.isolation_level = ""

    def commit(self, batch: list[_Batch]) -> None:
        cols = self._columns_of(batch)
        sql = self._sql.get(cols)
        if sql is None and cols:
            sql = self._sql[cols] = (
                f"INSERT INTO signals ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                "ON CONFLICT (team_id, channel_id, message_ts, customer_id) DO NOTHING"
            )
        teams = sorted({item.routed[0] for item in batch if item.routed is not None})
        dbapi = self.engine.dialect.loaded_dbapi
        with db.write_lock(self.engine):
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    versions: dict[str, int] = {}
                    if teams:
                        marks = ", ".join("?" for _ in teams)
                        versions = {
                            t: v or 0
                            for t, v in conn.execute(
                                f"SELECT team_id, routing_version FROM workspaces WHERE team_id IN ({marks})", teams
                            )
                        }
                    rows: list[list[Any]] = []
                    for item in batch:
                        if item.routed is not None and versions.get(item.routed[0], 0) != item.routed[1]:
                            item.error = RoutingChanged(item.routed[0])
                        else:
                            rows.extend(self._values(cols, row) for row in item.rows)
                    if rows and sql is not None:
                        conn.executemany(sql, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except dbapi.Error as e:
                for item in batch:
                    if isinstance(item.error, RoutingChanged):
                        item.error = None  # nothing was written: the batch is tried again, request by request
                raise exc.DBAPIError.instance(sql or "BEGIN", None, e, dbapi.Error) from e


class _PgBatch(_RawBatch):
    """A batch in one round trip on PostgreSQL, on the writer thread's own connection (see the module's doc)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._sql: dict[tuple[str, ...], str] = {}
        self._cast = {c.name: c.type.compile(dialect=_PG) for c in Signal.__table__.columns}

    def _reset(self, conn: Any) -> None:
        conn.autocommit = False

    def _statement(self, cols: tuple[str, ...]) -> str:
        sql = self._sql.get(cols)
        if sql is None and not cols:  # versions to check, nothing to write
            sql = self._sql[cols] = (
                "SELECT team_id, coalesce(routing_version, 0) FROM workspaces "
                "WHERE team_id IN (SELECT json_array_elements_text(%s::json))"
            )
        elif sql is None:
            names = ", ".join(cols)
            record = ", ".join(f"{c} {self._cast[c]}" for c in cols)
            # one snapshot for the read and the insert: a row goes in only if its request's routing version holds
            sql = (
                "WITH v AS (SELECT team_id, routing_version FROM workspaces "
                "WHERE team_id IN (SELECT json_array_elements_text(%s::json))), "
                f"ins AS (INSERT INTO signals ({names}) SELECT {names} FROM json_to_recordset(%s::json) "
                f"AS r({record}, routed_team text, routed_version int) WHERE r.routed_team IS NULL OR "
                "r.routed_version = coalesce((SELECT v.routing_version FROM v WHERE v.team_id = r.routed_team), 0) "
                "ON CONFLICT (team_id, channel_id, message_ts, customer_id) DO NOTHING) "
                "SELECT team_id, coalesce(routing_version, 0) FROM v"
            )
            self._sql[cols] = sql
        return sql

    def commit(self, batch: list[_Batch]) -> None:
        cols = self._columns_of(batch)
        binds = [(c, bind) for c in cols if (bind := self._bind[c]) is not None]
        records: list[dict[str, Any]] = []
        for item in batch:
            team, version = item.routed if item.routed is not None else (None, None)
            for row in item.rows:
                record = dict(row)
                for c, bind in binds:
                    record[c] = bind(record[c])
                record["routed_team"] = team
                record["routed_version"] = version
                records.append(record)
        teams = sorted({item.routed[0] for item in batch if item.routed is not None})
        sql = self._statement(cols)
        # the rows as one JSON document (json.dumps is C; psycopg's array dumpers are Python, per value): about half
        # the writer's CPU per batch (BENCHMARKS.md)
        params = [_json(teams), _json(records)] if cols else [_json(teams)]
        try:
            versions = self._run(sql, params)
        except self.engine.dialect.loaded_dbapi.Error as e:
            if self._fairy is not None and not self._fairy.driver_connection.closed:
                raise exc.DBAPIError.instance(sql, None, e, self.engine.dialect.loaded_dbapi.Error) from e
            self._drop()
            # the kept connection had died (a restart, a network cut): once more on a new one. Safe: a row already
            # committed is skipped by its unique key.
            try:
                versions = self._run(sql, params)
            except self.engine.dialect.loaded_dbapi.Error as again:
                self._drop()
                raise exc.DBAPIError.instance(
                    sql, None, again, self.engine.dialect.loaded_dbapi.Error, connection_invalidated=True
                ) from again
        for item in batch:
            if item.routed is not None and versions.get(item.routed[0], 0) != item.routed[1]:
                item.error = RoutingChanged(item.routed[0])

    def _run(self, sql: str, params: list[Any]) -> dict[str, int]:
        if self._fairy is None:
            self._fairy = self.engine.raw_connection()  # checked out with the pool's ping
            # one statement is its own transaction: committed before its answer comes back
            self._fairy.driver_connection.autocommit = True
        return dict(self._fairy.driver_connection.execute(sql, params).fetchall())
