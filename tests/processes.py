"""`signalloop run` as a real process for the tests, and the events they send it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools.fakeslack import FakeSlackServer
from tests.conftest import SECRET, SlackDriver

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
        self.driver = SlackDriver(f"http://127.0.0.1:{self.port}", slack.url.removesuffix("api/"))

    def start(self) -> AppProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
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
