"""Where a stored message's CPU goes: `signalloop run` (or the no-op or the peer) under yappi, sent signed events.

    .venv/bin/pip install yappi   # a measuring tool, not a dependency of the app
    python -m bench.profile_ingest [signalloop|bare|peer] [events] [sqlite|postgresql] [--no-profile]

The server runs as a subprocess with yappi's CPU clock on every thread (start-up included: read past the imports);
after the events it is stopped with SIGTERM and the costliest functions by own and by inclusive time are printed,
with the server's CPU per event from /proc (measured with the profiler on, which inflates it two- to threefold and
Bolt's many small calls most: compare shares, not absolutes; --no-profile measures CPU alone).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import ingest
from bench.pg import drop_pg_schema, fresh_pg_schema

SERVE = """
import sys, yappi, signal
out = sys.argv[1]
module = sys.argv[2]
yappi.set_clock_type("cpu")
if out != "-":
    yappi.start(builtins=True)
try:
    if module == "signalloop":
        from entry.cli import main
        sys.argv = ["signalloop", "run"]
        main(["run"])
    else:
        import importlib
        mod = importlib.import_module(module)
        sys.argv = [module, sys.argv[3]]
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            mod.main()
        except KeyboardInterrupt:
            pass
finally:
    if out != "-":
        yappi.stop()
        yappi.get_func_stats().save(out, type="pstat")
"""


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    which = args[0] if args else "signalloop"
    n = int(args[1]) if len(args) > 1 else 2000
    database = args[2] if len(args) > 2 else "postgresql"
    profile = "--no-profile" not in sys.argv
    tmp = tempfile.mkdtemp()
    url = fresh_pg_schema() if database == "postgresql" else f"sqlite:///{tmp}/p.db"
    slack, env = ingest.slack_and_env(url)
    port = ingest.free_port()
    env["SIGNALLOOP_PORT"] = str(port)
    out = str(Path(tmp) / "prof.pstat") if profile else "-"
    procs = []
    try:
        if which != "signalloop":
            # the peer's table sits beside signalloop's schema: migrate first, as bench.ingest does
            from storage import db

            db.upgrade(url)
        module = {"signalloop": "signalloop", "bare": "bench.bare_app", "peer": "bench.peer_app"}[which]
        proc = subprocess.Popen([sys.executable, "-c", SERVE, out, module, str(port)], cwd=ingest.ROOT, env=env)
        procs.append(proc)
        ingest.wait_up(port, proc)
        if which == "signalloop":
            ingest._link_channel(port)
        ingest.send(port, ingest.make_events(200, start=10_000_000), 8)
        r = ingest.summarise([ingest.send(port, ingest.make_events(n), 8, proc.pid)])
        print(r, flush=True)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        slack.stop()
        if database == "postgresql":
            drop_pg_schema(url)
    if profile:
        import pstats

        st = pstats.Stats(out)
        st.sort_stats("tottime").print_stats(45)
        st.sort_stats("cumtime").print_stats(70)


if __name__ == "__main__":
    main()
