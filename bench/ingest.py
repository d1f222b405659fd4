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


def make_events(n: int, channel: str = "C1") -> list[str]:
    out = []
    for i in range(n):
        ev = {
            "type": "message",
            "channel": channel,
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, bodies: list[str], concurrency: int = 8, pid: int | None = None) -> dict[str, float]:
    """Send every body once from `concurrency` keep-alive connections; latency = time to the acknowledgement.

    With the server's `pid`: also the server's CPU time per event, which says where a lower throughput
    comes from on a machine whose cores the load generator shares."""
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
    cpu0 = cpu_seconds(pid) if pid else 0.0
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0 if pid else None
    latencies.sort()
    return {
        "events": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        **({"server_cpu_ms_per_event": round(cpu * 1000 / len(latencies), 3)} if cpu is not None else {}),
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
            results["bare"] = load(port, bodies, pid=bare.pid)
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
            results["signalloop"] = load(port, bodies, pid=app.pid)
            # the same events in a channel that is not linked: routed and let go, nothing stored
            results["signalloop_not_stored"] = load(port, make_events(n, channel="C9"), pid=app.pid)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                results["healthz"] = r.status
        finally:
            app.terminate()
            app.wait()
    finally:
        slack.stop()
    results["ratio"] = round(results["signalloop"]["events_per_s"] / results["bare"]["events_per_s"], 3)
    return results


if __name__ == "__main__":
    # ingestion alone (make bench runs it with everything else): python -m bench.ingest [events]
    import tempfile

    from bench.pg import drop_pg_schema, fresh_pg_schema, pg_available

    events = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(f"sqlite:///{tmp}/ingest.db", events, "sqlite"), indent=2))
    if pg_available():
        url = fresh_pg_schema()
        try:
            print(json.dumps(run(url, events, "postgresql"), indent=2))
        finally:
            drop_pg_schema(url)
