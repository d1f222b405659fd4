"""Small helpers shared by the tests."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from storage.models import Signal

FIGURES: list[tuple[str, str]] = []


def figure(text: str, test: str | None = None) -> None:
    """A figure a test measured (events sent, stored; digests posted…), listed at the end of the test run."""
    test = test or os.environ.get("PYTEST_CURRENT_TEST", "?").split("::", 1)[-1].rsplit(" (", 1)[0]
    FIGURES.append((test, text))


def signals(sf, team: str | None = None) -> list[Signal]:  # noqa: ANN001
    with sf() as s:
        q = select(Signal).order_by(Signal.id)
        if team:
            q = q.where(Signal.team_id == team)
        return list(s.scalars(q))


def count(sf, model: Any) -> int:  # noqa: ANN001
    with sf() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def ephemeral_text(resp: Any) -> str:
    body = resp.json()
    assert body is not None, "expected an acknowledgement with a body"
    return body.get("text") or ""


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    """Poll until predicate() is truthy (work handed to a background thread); fail after `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@contextmanager
def heap_frozen() -> Iterator[None]:
    """While timing an app that runs inside the test process: the test run's own heap (every earlier test's
    objects) is left out of the garbage collector's full passes, which take 100-200 ms on it. `signalloop run`
    freezes its start-up heap the same way."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
