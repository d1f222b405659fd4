"""CPU per digest of the scheduled minute: one customer's digest built and rendered in a workspace of 1,000
customers (the storm's data, bench/storm.py), on SQLite, without the model step.

python -m bench.minute_cpu [--channels 1000] [--sample 100]

The minute is CPU-bound on 2 cores (BENCHMARKS.md), so what one digest costs the process is what moves it; this
measures that alone, with time.process_time, which other processes on the machine do not inflate much."""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import storm
from bot.config import Settings
from bot.render.digest import digest_messages
from bot.runner import DigestRunner
from bot.weeks import week_at
from storage import db


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--channels", type=int, default=1000)
    p.add_argument("--sample", type=int, default=100)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'minute.db'}"
        storm.populate(url, args.channels, datetime.now(UTC) + timedelta(hours=1))
        engine = db.make_engine(url)
        sf = db.make_session_factory(engine)
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET="x",
            SLACK_API_URL="http://127.0.0.1:9/",
            DATABASE_URL=url,
        )
        runner = DigestRunner(settings, sf, lambda: datetime.now(UTC), client_for=lambda _t: None)  # type: ignore[arg-type, return-value]
        week = week_at(datetime.now(UTC), "UTC")
        step = max(1, args.channels // args.sample)
        channels = [f"CST{i:05d}" for i in range(0, args.channels, step)][: args.sample]

        def one(channel: str) -> None:
            with sf() as s:
                dg = runner.build(s, storm.TEAM, channel, week)
            digest_messages(dg, 1)

        for ch in channels[:5]:
            one(ch)  # warm-up
        t0 = time.process_time()
        for ch in channels:
            one(ch)
        ms = (time.process_time() - t0) * 1000 / len(channels)
        runner.close()
        engine.dispose()
    print(f"one customer's digest in a workspace of {args.channels} customers: {ms:.1f} ms of CPU (build + render)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
