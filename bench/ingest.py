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


def slack_and_env(database_url: str) -> tuple[FakeSlackServer, dict[str, str]]:
    """The Slack simulator the servers under test talk to (the 40 authors the events come from known to it), and
    their environment: this process's, without any Slack, signalloop or OpenAI setting, pointed at it and at
    `database_url`."""
    slack = FakeSlackServer(FakeSlackState(team_id=TEAM)).start()
    for i in range(40):
        uid = f"U{i:03d}"
        slack.state.users[uid] = {"id": uid, "name": f"user{i}", "profile": {"display_name": f"User {i}"}}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIGNALLOOP_", "OPENAI_"))}
    env.update(
        SLACK_SIGNING_SECRET=SECRET, SLACK_BOT_TOKEN="xoxb-bench", SLACK_API_URL=slack.url, DATABASE_URL=database_url
    )
    return slack, env


def stop(procs: dict[str, subprocess.Popen], slack: FakeSlackServer) -> None:
    """End the servers a benchmark started (those still running) and its Slack simulator."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    slack.stop()


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


def make_events(n: int, channel: str = "C1", start: int = 0) -> list[str]:
    out = []
    for i in range(start, start + n):
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


def cpu_split(pid: int) -> tuple[float, float, int]:
    """The process's user and system CPU seconds so far, and the context switches of all its threads (voluntary:
    a thread waited, on a lock, the GIL, a socket; involuntary: it was preempted), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        for line in status.splitlines():
            if "ctxt_switches:" in line:
                switches += int(line.split()[1])
    return int(fields[11]) / tick, int(fields[12]) / tick, switches


def send(port: int, bodies: list[str], concurrency: int = 8, pid: int | None = None) -> dict:
    """Send every body once from `concurrency` keep-alive connections: the latencies (time to the acknowledgement),
    the errors, the wall time and, with the server's `pid`, the CPU time the server used meanwhile."""
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
    before = cpu_split(pid) if pid else (0.0, 0.0, 0)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    after = cpu_split(pid) if pid else (0.0, 0.0, 0)
    user, system, switches = (a - b for a, b in zip(after, before, strict=True))
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": elapsed,
        "cpu": user + system,
        "user": user,
        "sys": system,
        "switches": switches,
    }


def summarise(parts: list[dict]) -> dict[str, float]:
    """Rounds of `send` as one figure: events/s over the rounds' wall time, p50/p99 over every request, and
    the server's CPU per event (user and system apart) and its threads' context switches per event."""
    latencies = sorted(x for p in parts for x in p["latencies"])
    elapsed = sum(p["seconds"] for p in parts)
    cpu = sum(p["cpu"] for p in parts)
    n = len(latencies)
    return {
        "events": n,
        "errors": sum(p["errors"] for p in parts),
        "seconds": round(elapsed, 3),
        "events_per_s": round(n / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[max(0, int(n * 0.99) - 1)] * 1000, 2),
        "server_cpu_ms_per_event": round(cpu * 1000 / n, 3),
        "server_user_ms_per_event": round(sum(p.get("user", 0.0) for p in parts) * 1000 / n, 3),
        "server_sys_ms_per_event": round(sum(p.get("sys", 0.0) for p in parts) * 1000 / n, 3),
        "server_switches_per_event": round(sum(p.get("switches", 0) for p in parts) / n, 2),
    }


def load(port: int, bodies: list[str], concurrency: int = 8, pid: int | None = None) -> dict[str, float]:
    """Send every body once (one round) and summarise."""
    return summarise([send(port, bodies, concurrency, pid)])


def _start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(port, proc)
    except Exception:
        proc.terminate()
        proc.wait()
        raise
    return proc


def _link_channel(port: int) -> None:
    """`/loop customer add Acme` and `/loop link Acme` in C1, as a person would."""
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


def _count(database_url: str, table: str) -> int:
    from sqlalchemy import text

    from storage import db

    eng = db.make_engine(database_url)
    try:
        with eng.connect() as c:
            return c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        eng.dispose()


SERVERS = ("bare", "peer", "signalloop", "signalloop_not_stored")


def classify_cpu_ms(bodies: list[str], n: int = 1000) -> float:
    """CPU per message of the classifier alone (bot.classify, in this process) on the events' own texts: the part
    of a stored event's CPU the no-op and the peer do not have."""
    from bot.classify import classify

    texts = [json.loads(b)["event"]["text"] for b in bodies[:n]]
    for t in texts[:100]:
        classify(t, TEAM)  # warm: the model and VADER's lexicon loaded
    t0 = time.process_time()
    for t in texts:
        classify(t, TEAM)
    return round((time.process_time() - t0) * 1000 / len(texts), 3)


def run(database_url: str, n: int = 4000, label: str = "sqlite", rounds: int = 8, concurrency: int = 8) -> dict:
    """The no-op Bolt app, the hand-written peer (bench/peer_app.py) and signalloop, all running at once on the
    same server and database, each sent the same `n` signed events in `rounds` alternating rounds (the order
    rotating each round), so a change in the machine's load falls on all of them alike.

    signalloop's channel is linked to a customer, so every event is routed, classified and committed before
    its 200; "signalloop_not_stored" sends the same events to a channel that is not linked. Afterwards the rows
    are counted: every acknowledged event must be in the database."""
    slack, env = slack_and_env(database_url)
    warm = make_events(200, start=10_000_000)
    bodies = {
        "bare": make_events(n),
        "peer": make_events(n),
        "signalloop": make_events(n),
        "signalloop_not_stored": make_events(n, channel="C9"),
    }
    results: dict = {"database": label, "events": n, "concurrency": concurrency, "rounds": rounds}
    procs: dict[str, subprocess.Popen] = {}
    ports: dict[str, int] = {}
    try:
        ports["bare"] = free_port()
        procs["bare"] = _start(["-m", "bench.bare_app", str(ports["bare"])], env, ports["bare"])
        # signalloop first: it creates the schema (migrations) the peer's table joins
        ports["signalloop"] = free_port()
        procs["signalloop"] = _start(
            ["-m", "entry.cli", "run"], dict(env, SIGNALLOOP_PORT=str(ports["signalloop"])), ports["signalloop"]
        )
        _link_channel(ports["signalloop"])
        ports["peer"] = free_port()
        procs["peer"] = _start(["-m", "bench.peer_app", str(ports["peer"])], env, ports["peer"])
        ports["signalloop_not_stored"] = ports["signalloop"]
        procs["signalloop_not_stored"] = procs["signalloop"]
        for name in ("bare", "peer", "signalloop"):
            send(ports[name], warm, concurrency)
        parts: dict[str, list[dict]] = {name: [] for name in SERVERS}
        size = -(-n // rounds)
        for r in range(rounds):
            order = SERVERS[r % len(SERVERS) :] + SERVERS[: r % len(SERVERS)]
            for name in order:
                chunk = bodies[name][r * size : (r + 1) * size]
                parts[name].append(send(ports[name], chunk, concurrency, procs[name].pid))
        for name in SERVERS:
            results[name] = summarise(parts[name])
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['signalloop']}/healthz") as resp:
            results["healthz"] = resp.status
    finally:
        stop(procs, slack)
    results["stored"] = {"signalloop": _count(database_url, "signals"), "peer": _count(database_url, "peer_messages")}
    results["stored_expected"] = n + len(warm)
    results["vs_peer"] = round(results["signalloop"]["events_per_s"] / results["peer"]["events_per_s"], 3)
    results["vs_bare"] = round(results["signalloop"]["events_per_s"] / results["bare"]["events_per_s"], 3)
    results["cpu_vs_bare"] = round(
        results["signalloop"]["server_cpu_ms_per_event"] / results["bare"]["server_cpu_ms_per_event"], 3
    )
    results["classify_cpu_ms_per_message"] = classify_cpu_ms(bodies["signalloop"])
    return results


def table(results: list[dict]) -> str:
    """The three-way ingestion table (Markdown) BENCHMARKS.md shows."""

    def cell(m: dict) -> str:
        return f"{m['events_per_s']:,.0f} ev/s, p99 {m['p99_ms']:.0f} ms, CPU {m['server_cpu_ms_per_event']:.2f} ms/ev"

    lines = [
        "| database | no-op Bolt app | the hand-written peer | signalloop | signalloop ÷ peer | CPU ÷ no-op's "
        "| of which classifying |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['database']} | {cell(r['bare'])} | {cell(r['peer'])} | **{cell(r['signalloop'])}** "
            f"| {r['vs_peer']:.2f}× | {r['cpu_vs_bare']:.2f}× | {r['classify_cpu_ms_per_message']:.2f} ms/ev |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    # ingestion alone (make bench runs it with everything else): python -m bench.ingest [events] [sqlite|postgresql]
    import tempfile

    from bench.pg import drop_pg_schema, fresh_pg_schema, pg_available

    events = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    only = sys.argv[2] if len(sys.argv) > 2 else None  # "sqlite" or "postgresql"
    out = []
    if only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            out.append(run(f"sqlite:///{tmp}/ingest.db", events, "sqlite"))
            print(json.dumps(out[-1], indent=2), flush=True)
    if only in (None, "postgresql") and pg_available():
        url = fresh_pg_schema()
        try:
            out.append(run(url, events, "postgresql"))
            print(json.dumps(out[-1], indent=2))
        finally:
            drop_pg_schema(url)
    print(table(out))
