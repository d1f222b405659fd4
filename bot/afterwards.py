"""Work that follows an answer to Slack: run on a bounded pool of threads, never on the request's thread.

Slack waits 3 seconds for an answer to a command, a button or an event (docs.slack.dev/interactivity/
handling-user-interaction; docs.slack.dev/apis/events-api). The app answers once what was asked is stored, and
everything that calls Slack's Web API after that (posts, DMs, App Home re-publishes, look-ups) goes here, on a
client that waits out a 429's Retry-After on this pool's threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

WORKERS = 4


class Afterwards:
    """A bounded pool for after-the-answer work; `wait_idle` tells when everything handed to it is done."""

    def __init__(self, workers: int = WORKERS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="after-answer")
        self._idle = threading.Condition()
        self._pending = 0
        self._keys: set[Any] = set()

    def submit(self, fn: Callable[..., Any], *args: Any, key: Any = None) -> bool:
        """Run fn(*args) on the pool. With a `key`, a second submission while one with that key is still waiting
        to start is dropped (the waiting one will do the same work, seeing the newer state). False when dropped."""
        with self._idle:
            if key is not None:
                if key in self._keys:
                    return False
                self._keys.add(key)
            self._pending += 1

        def run() -> None:
            try:
                if key is not None:
                    with self._idle:
                        self._keys.discard(key)
                fn(*args)
            except Exception:  # noqa: BLE001 - one failure must not stop the pool; it is logged
                log.exception("work after the answer failed: %s", getattr(fn, "__name__", fn))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        try:
            self.pool.submit(run)
        except RuntimeError:  # shut down: the process is stopping
            with self._idle:
                self._pending -= 1
                self._keys.discard(key)
                self._idle.notify_all()
            return False
        return True

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until nothing handed to the pool is waiting or running; False after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        self.wait_idle(timeout)
        self.pool.shutdown(wait=True)
