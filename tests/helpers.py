"""Small helpers shared by the tests."""

from __future__ import annotations

import gc
import io
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
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


@dataclass
class Ran:
    """What a command printed and its exit code (the fields of subprocess.CompletedProcess the tests read)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


_CLI = threading.Lock()


def run_signalloop(
    args: Sequence[str], env: dict[str, str], cwd: Path | None = None, stdin: str | None = None, timeout: float = 120
) -> Ran:
    """`signalloop ARGS` in this process, through entry.cli.main, given what a subprocess would be given: exactly
    `env` as the environment, `cwd`, `stdin`; its exit code and output as a subprocess would report them.

    For tests of what a command does: a Python start and a fresh import of everything cost more than most
    commands. A test about the process itself (the console program's exit code, a real pipe, signals) starts one.
    """
    from entry.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: list[int] = []

    def command() -> None:
        try:
            code.append(main(list(args)))
        except SystemExit as e:  # argparse's usage errors
            if e.code is None or isinstance(e.code, int):
                code.append(e.code or 0)
            else:
                print(e.code, file=sys.stderr)
                code.append(1)
        except Exception:  # noqa: BLE001 - what Python does with an uncaught exception: the traceback, exit 1
            traceback.print_exc()
            code.append(1)

    root = logging.getLogger()
    loggers = {name: logging.getLogger(name) for name in ("", "slack_sdk", "alembic")}
    with _CLI:
        saved = (dict(os.environ), os.getcwd(), sys.stdin, root.handlers[:], {n: lg.level for n, lg in loggers.items()})
        os.environ.clear()
        os.environ.update(env)
        try:
            if cwd is not None:
                os.chdir(cwd)
            sys.stdin = io.StringIO(stdin or "")
            root.handlers = []  # so the command's logging.basicConfig writes to its own stderr, as in its process
            with redirect_stdout(out), redirect_stderr(err):
                # on a thread, so a command that never ends fails the test instead of hanging the run
                worker = threading.Thread(target=command, name="signalloop-cli", daemon=True)
                worker.start()
                worker.join(timeout)
        finally:
            environ, where, sys.stdin, root.handlers, levels = saved
            os.environ.clear()
            os.environ.update(environ)
            os.chdir(where)
            for name, level in levels.items():
                loggers[name].setLevel(level)
    if not code:
        raise AssertionError(f"signalloop {' '.join(args)} did not end within {timeout:.0f} s")

    def text(buf: io.StringIO) -> str:  # as subprocess.run(text=True) reads a pipe: universal newlines
        return buf.getvalue().replace("\r\n", "\n").replace("\r", "\n")

    return Ran(list(args), code[0], text(out), text(err))
