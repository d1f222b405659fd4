"""`signalloop run` as a real process for the tests, and the events they send it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from devtools.fakeslack import FakeSlackServer
from storage import db
from storage.models import Signal
from tests.conftest import SECRET, TEAM, SlackDriver

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`signalloop run` in HTTP mode on a free port, with its log in a file."""

    def __init__(self, db_url: str, slack: FakeSlackServer, tmp: Path, name: str = "app", **env: str) -> None:
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIGNALLOOP_", "OPENAI_"))}
        base.update(
            DATABASE_URL=db_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.url,
            SIGNALLOOP_PORT=str(self.port),
            **env,
        )
        self.env = base
        self.proc: subprocess.Popen | None = None
        self.driver = SlackDriver(f"http://127.0.0.1:{self.port}", slack.url.removesuffix("api/"), slack=slack)

    def start(self) -> AppProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "entry.cli", "run"], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise AssertionError("app did not start in 30 s")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def acme_in_c1(db_url: str, slack: FakeSlackServer, tmp: Path, procs: list[AppProcess]) -> AppProcess:
    """`signalloop run` started (stopped by the `procs` fixture), with customer Acme linked to channel C1."""
    app = AppProcess(db_url, slack, tmp)
    procs.append(app)
    app.start()
    app.driver.command("/loop", "customer add Acme")
    app.driver.command("/loop", "link Acme", channel="C1")
    return app


def events(n: int) -> list[tuple[str, dict]]:
    return [
        (
            f"EvKill{i:05d}",
            {
                "type": "message",
                "channel": "C1",
                "user": "U2",
                "channel_type": "channel",
                "text": f"Kill test message {i}: the export failed",
                "ts": f"{1763500000 + i}.000100",
            },
        )
        for i in range(n)
    ]


def send_until_stopped(
    app: AppProcess, batch: list[tuple[str, dict]], after: int, stop: Callable[[], None]
) -> set[str]:
    """Send `batch` from 8 threads and call `stop` once `after` events are acknowledged; the ids acknowledged."""
    acked: set[str] = set()
    lock = threading.Lock()

    def send(item: tuple[str, dict]) -> None:
        eid, ev = item
        try:
            resp = app.driver.event(ev, event_id=eid)
        except (urllib.error.URLError, ConnectionError, OSError):
            return
        if resp.status == 200:
            with lock:
                acked.add(eid)
                if len(acked) == after:
                    stop()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, batch))
    return set(acked)


def resend_unacknowledged(app: AppProcess, db_url: str, batch: list[tuple[str, dict]], acked: set[str]) -> list[str]:
    """Start the app again and re-send what got no 200, as Slack retries it; the event ids stored."""
    app.start()
    for eid, ev in batch:
        if eid not in acked:
            assert app.driver.event(ev, event_id=eid, retry=1).status == 200
    engine = db.make_engine(db_url)
    with db.make_session_factory(engine)() as s:
        stored = list(s.scalars(select(Signal.event_id).where(Signal.team_id == TEAM)))
    engine.dispose()
    return stored
