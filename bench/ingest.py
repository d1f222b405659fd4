"""Ingestion: the same signed message events into a bare Bolt app and into signalloop's full capture path."""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from devtools.fakeslack import FakeSlackServer, FakeSlackState

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
TEAM = "T0BENCH"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def signed(body: str, verifier: SignatureVerifier, content_type: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
    }


def make_events(n: int) -> list[str]:
    out = []
    for i in range(n):
        ev = {
            "type": "message",
            "channel": "C1",
            "user": f"U{i % 40:03d}",
            "channel_type": "channel",
            "text": f"Bench message {i}: the export failed again for the Leeds depot",
            "ts": f"{1763600000 + i}.000100",
        }
        out.append(
            json.dumps(
                {
                    "type": "event_callback",
                    "team_id": TEAM,
                    "api_app_id": "A1",
                    "event": ev,
                    "event_id": f"EvB{uuid.uuid4().hex[:12]}",
                    "event_time": 1763600000 + i,
                }
            )
        )
    return out


def load(port: int, bodies: list[str], concurrency: int = 8) -> dict[str, float]:
    """Send every body once from `concurrency` keep-alive connections; latency = time to the acknowledgement."""
    verifier = SignatureVerifier(SECRET)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    it = iter(bodies)

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                body = next(it, None)
            if body is None:
                break
            headers = signed(body, verifier, "application/json")
            t0 = time.perf_counter()
            conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
            resp = conn.getresponse()
            resp.read()
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if resp.status != 200:
                    errors += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "events": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def run(database_url: str, n: int = 5000, label: str = "sqlite") -> dict:
    slack = FakeSlackServer(FakeSlackState(team_id=TEAM)).start()
    for i in range(40):
        uid = f"U{i:03d}"
        slack.state.users[uid] = {"id": uid, "name": f"user{i}", "profile": {"display_name": f"User {i}"}}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIGNALLOOP_", "OPENAI_"))}
    env.update(
        SLACK_SIGNING_SECRET=SECRET, SLACK_BOT_TOKEN="xoxb-bench", SLACK_API_URL=slack.url, DATABASE_URL=database_url
    )
    bodies = make_events(n)
    warm = make_events(200)
    results: dict = {"database": label, "events": n, "concurrency": 8}
    try:
        # the bare app
        port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_app", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_up(port, bare)
            load(port, warm)
            results["bare"] = load(port, bodies)
        finally:
            bare.terminate()
            bare.wait()
        # signalloop, full capture path: a linked channel, every message stored
        port = free_port()
        env_app = dict(env, SIGNALLOOP_PORT=str(port))
        app = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=ROOT,
            env=env_app,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_up(port, app)
            verifier = SignatureVerifier(SECRET)
            for text in ("customer add Acme", "link Acme"):
                form = urllib.parse.urlencode(
                    {
                        "team_id": TEAM,
                        "channel_id": "C1",
                        "user_id": "U001",
                        "command": "/loop",
                        "text": text,
                        "trigger_id": uuid.uuid4().hex,
                    }
                )
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/slack/events",
                    data=form.encode(),
                    headers=signed(form, verifier, "application/x-www-form-urlencoded"),
                )
                urllib.request.urlopen(req).read()
            load(port, warm)
            results["signalloop"] = load(port, bodies)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                results["healthz"] = r.status
        finally:
            app.terminate()
            app.wait()
    finally:
        slack.stop()
    results["ratio"] = round(results["signalloop"]["events_per_s"] / results["bare"]["events_per_s"], 3)
    return results
