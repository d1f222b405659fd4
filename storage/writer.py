"""Group commit for the capture hot path: one transaction for every signal waiting at that moment.

Each Slack request thread hands its rows to the writer and waits; the writer inserts everything queued
in one transaction, commits, and only then releases the waiting threads, which acknowledge Slack.
"Acknowledged means stored" still holds, and the cost of a commit is shared by all the requests
that arrived while the previous one was being written.

Rows routed from an in-memory cache come with the workspace's routing version they were routed by.
The writer reads the versions once per batch, in the insert's own transaction, and writes nothing for
a request whose workspace's routing moved since: that request gets RoutingChanged and routes again.
So the hot path reads no routing from the database, and a cache that fell behind drops nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from storage import db, repo

log = logging.getLogger(__name__)

MAX_BATCH = 256
WAIT_SECONDS = 20.0  # well past any healthy commit; Slack itself gives up after 3 s and retries


class RoutingChanged(Exception):
    """The workspace's links or names changed after these rows were routed: nothing was written."""


@dataclass
class _Batch:
    rows: list[dict[str, Any]]
    routed: tuple[str, int] | None = None  # (team id, the routing version the rows were routed by)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class SignalWriter:
    """Inserts signal rows (duplicates ignored) from many threads, committing them together."""

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
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
        with db.write_lock(self.engine), self.engine.begin() as conn:
            teams = {item.routed[0] for item in batch if item.routed is not None}
            versions = repo.routing_versions(conn, teams) if teams else {}
            rows = []
            for item in batch:
                if item.routed is not None and versions.get(item.routed[0], 0) != item.routed[1]:
                    item.error = RoutingChanged(item.routed[0])
                else:
                    rows.extend(item.rows)
            if rows:
                repo.insert_signals(conn, rows)
