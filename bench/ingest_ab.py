"""What a change bought, in one run: this checkout's `signalloop run` against another checkout's, beside the no-op and
the peer, the same events in alternating rounds on the same database (so the machine's load falls on all alike).

    git worktree add --detach /tmp/before <commit>
    python -m bench.ingest_ab /tmp/before [events] [sqlite|postgresql]

Both instances serve the same workspace (the first links C1); each is sent its own messages. Prints events/s,
p50/p99 and the server's CPU per event for each, and the ratios.

    python -m bench.ingest_ab /tmp/before 2000 sqlite aged-names

`aged-names`: the 40 authors' names (and the workspace's URL) are already stored, learned more than a week ago
(bot.directory.FRESH), as for a workspace whose instances restarted after its people were named: what a stored
message costs there, where the benchmark's own database otherwise holds only names learned during the run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench import ingest
from bench.pg import drop_pg_schema, fresh_pg_schema


def _signalloop(checkout: Path, env: dict[str, str], port: int) -> subprocess.Popen:
    # `python -m` puts the working directory first on sys.path: the modules come from that checkout
    proc = subprocess.Popen(
        [sys.executable, "-m", "entry.cli", "run"],
        cwd=checkout,
        env=dict(env, SIGNALLOOP_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ingest.wait_up(port, proc)
    return proc


def _age_names(url: str) -> None:
    """The authors' names and the workspace's URL stored a day more than FRESH ago."""
    from datetime import UTC, datetime, timedelta

    from bot.directory import FRESH
    from storage import db, repo

    engine = db.make_engine(url)
    long_ago = datetime.now(UTC) - FRESH - timedelta(days=1)
    try:
        with db.make_session_factory(engine).begin() as s:
            for i in range(40):
                repo.save_slack_user(
                    s, team_id=ingest.TEAM, user_id=f"U{i:03d}", name=f"User {i}", is_bot=False, tz=None, now=long_ago
                )
            repo.ensure_workspace(s, team_id=ingest.TEAM, now=long_ago).url = "https://bench.slack.com/"
    finally:
        engine.dispose()


def run(
    other: Path, n: int, database: str, rounds: int = 8, concurrency: int = 8, aged_names: bool = False
) -> dict[str, dict]:
    tmp = tempfile.mkdtemp()
    url = fresh_pg_schema() if database == "postgresql" else f"sqlite:///{tmp}/ab.db"
    slack, env = ingest.slack_and_env(url)
    names = ("bare", "peer", "this", "other")
    bodies = {k: ingest.make_events(n, start=j * 1_000_000) for j, k in enumerate(names)}
    procs: dict[str, subprocess.Popen] = {}
    ports = {k: ingest.free_port() for k in names}
    try:
        procs["bare"] = ingest._start(["-m", "bench.bare_app", str(ports["bare"])], env, ports["bare"])
        procs["this"] = _signalloop(ingest.ROOT, env, ports["this"])
        ingest._link_channel(ports["this"])
        if aged_names:
            _age_names(url)  # before either instance has read a name
        procs["other"] = _signalloop(other, env, ports["other"])
        procs["peer"] = ingest._start(["-m", "bench.peer_app", str(ports["peer"])], env, ports["peer"])
        for j, k in enumerate(names):
            ingest.send(ports[k], ingest.make_events(200, start=10_000_000 + j * 1000), concurrency)
        parts: dict[str, list[dict]] = {k: [] for k in names}
        size = -(-n // rounds)
        for r in range(rounds):
            for k in names[r % len(names) :] + names[: r % len(names)]:
                chunk = bodies[k][r * size : (r + 1) * size]
                parts[k].append(ingest.send(ports[k], chunk, concurrency, procs[k].pid))
        return {k: ingest.summarise(parts[k]) for k in names}
    finally:
        ingest.stop(procs, slack)
        if database == "postgresql":
            drop_pg_schema(url)


if __name__ == "__main__":
    other = Path(sys.argv[1]).resolve()
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    database = sys.argv[3] if len(sys.argv) > 3 else "postgresql"
    res = run(other, events, database, aged_names="aged-names" in sys.argv[4:])
    for k, m in res.items():
        print(
            f"{database} {k:6s} {m['events_per_s']:7,.0f} ev/s  p50 {m['p50_ms']:5.1f} ms  p99 {m['p99_ms']:6.1f} ms  "
            f"CPU {m['server_cpu_ms_per_event']:.3f} ms/ev (user {m['server_user_ms_per_event']:.3f}, "
            f"sys {m['server_sys_ms_per_event']:.3f})  switches {m['server_switches_per_event']:.1f}/ev  "
            f"errors {m['errors']}"
        )
    cpu = {k: m["server_cpu_ms_per_event"] for k, m in res.items()}
    rate = {k: m["events_per_s"] for k, m in res.items()}
    print(
        f"this ÷ other: CPU {cpu['this'] / cpu['other']:.2f}×, events/s {rate['this'] / rate['other']:.2f}×; "
        f"÷ peer: this {rate['this'] / rate['peer']:.2f}×, other {rate['other'] / rate['peer']:.2f}×; "
        f"CPU ÷ no-op's: this {cpu['this'] / cpu['bare']:.2f}×, other {cpu['other'] / cpu['bare']:.2f}×"
    )
