"""Where the server's CPU per event goes, thread by thread: the no-op, the peer and signalloop under the same load.

    python -m bench.ingest_threads [events] [sqlite|postgresql] [rounds]

Each server runs with every Python thread's name given to its OS thread (Linux `prctl`), so /proc tells the
threads apart: waitress's I/O loop and its workers, the group-commit writer, the scheduler. For each group of
threads it prints user and system CPU per event and context switches per event (voluntary: the thread waited,
on a lock, the GIL or a socket; involuntary: it was preempted). The servers take turns in alternating rounds, as
in bench.ingest. CPU ticks are 10 ms: with 2,000 events a tick is 0.005 ms an event.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench import ingest
from bench.pg import drop_pg_schema, fresh_pg_schema

# Run a module with each Python thread's name as its OS thread name; the bench's own wrapper, not the app's
NAMED = """
import ctypes, os, runpy, sys, threading
sys.path.insert(0, os.getcwd())
libc = ctypes.CDLL(None)
start = threading.Thread._bootstrap_inner
def named(self):
    libc.prctl(15, self.name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    return start(self)
threading.Thread._bootstrap_inner = named
module = sys.argv[1]
sys.argv = [module] + sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""

Counts = dict[str, tuple[str, int, int, int, int]]  # thread id -> (name, user ticks, sys ticks, voluntary, not)


def threads_of(pid: int) -> Counts:
    out: Counts = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        vol = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
        inv = int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        out[task.name] = (re.sub(r"[-_]?\d+$", "", name), int(fields[11]), int(fields[12]), vol, inv)
    return out


def table(spent: dict[str, list[int]], n: int) -> list[str]:
    tick = os.sysconf("SC_CLK_TCK")
    lines = []
    for name, (user, system, vol, inv, k) in sorted(spent.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        if user + system + vol:
            lines.append(
                f"    {name:16s} ×{k:<3d} user {user * 1000 / tick / n:.3f}  sys {system * 1000 / tick / n:.3f} ms/ev"
                f"   switches {vol / n:.2f} + {inv / n:.2f} preempted /ev"
            )
    return lines


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    database = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    names = ("bare", "peer", "signalloop")
    tmp = tempfile.mkdtemp()
    url = fresh_pg_schema() if database == "postgresql" else f"sqlite:///{tmp}/threads.db"
    slack, env = ingest.slack_and_env(url)
    ports = {k: ingest.free_port() for k in names}
    procs = {}
    try:
        # signalloop first: it creates the schema the peer's table joins
        procs["signalloop"] = ingest._start(
            ["-c", NAMED, "entry.cli", "run"], dict(env, SIGNALLOOP_PORT=str(ports["signalloop"])), ports["signalloop"]
        )
        ingest._link_channel(ports["signalloop"])
        for k, module in (("bare", "bench.bare_app"), ("peer", "bench.peer_app")):
            procs[k] = ingest._start(["-c", NAMED, module, str(ports[k])], env, ports[k])
        for j, k in enumerate(names):
            ingest.send(ports[k], ingest.make_events(200, start=10_000_000 + j * 1000), 8)
        bodies = {k: ingest.make_events(n, start=j * 1_000_000) for j, k in enumerate(names)}
        parts: dict[str, list[dict]] = {k: [] for k in names}
        spent: dict[str, dict[str, list[int]]] = {k: defaultdict(lambda: [0, 0, 0, 0, 0]) for k in names}
        size = -(-n // rounds)
        for r in range(rounds):
            for k in names[r % len(names) :] + names[: r % len(names)]:
                before = threads_of(procs[k].pid)
                parts[k].append(ingest.send(ports[k], bodies[k][r * size : (r + 1) * size], 8, procs[k].pid))
                for tid, (name, *after) in threads_of(procs[k].pid).items():
                    was = before.get(tid, (name, 0, 0, 0, 0))[1:]
                    row = spent[k][name]
                    for i in range(4):
                        row[i] += after[i] - was[i]
                    if r == 0:
                        row[4] += 1
        for k in names:
            m = ingest.summarise(parts[k])
            print(
                f"{database} {k}: {m['events_per_s']:,.0f} ev/s, p50 {m['p50_ms']} ms, CPU "
                f"{m['server_cpu_ms_per_event']:.3f} ms/ev (user {m['server_user_ms_per_event']:.3f}, sys "
                f"{m['server_sys_ms_per_event']:.3f}), switches {m['server_switches_per_event']:.1f}/ev"
            )
            print("\n".join(table(spent[k], m["events"])))
    finally:
        ingest.stop(procs, slack)
        if database == "postgresql":
            drop_pg_schema(url)


if __name__ == "__main__":
    main()
