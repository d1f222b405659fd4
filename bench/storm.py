"""The scheduled minute at scale: N channels due at one minute on K instances of `signalloop run` on PostgreSQL.

A fake Slack answers every call after 50 ms and a fake model after `--model-delay` seconds. Reported: the
first, median and last post after the minute, how many channels got exactly one digest, the most posts one
channel saw within a second, and each instance's CPU seconds and peak RSS. With `--outage`, the database is
cut (a TCP proxy) from before the minute until `--outage` seconds after it: the clock then runs from its return.

    python -m bench.storm --channels 1000 --instances 2 --model-delay 3
    python -m bench.storm --channels 1000 --instances 2 --model-delay 3 --outage 90
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.fakeopenai import FakeOpenAI, good_answer
from devtools.fakeslack import FakeSlackServer, FakeSlackState
from devtools.proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[1]
TEAM = "T0STORM"
RESULTS = ROOT / "bench" / "results"


def populate(url: str, channels: int, minute: datetime) -> None:
    """`channels` customers, each with a linked channel, three signals this week and a digest due at `minute`.

    Each channel is known as the app knows a channel it was invited to (member_joined_channel made it ask
    conversations.info): not shared with another organisation, so posting needs no look-up at the minute."""
    from storage import db
    from storage.models import ChannelInfo, ChannelLink, Customer, DigestSchedule, Signal, Workspace

    db.upgrade(url)
    engine = db.make_engine(url)
    now = datetime.now(UTC)
    texts = [
        "The export failed again for the night shift",
        "Could the rota show who is on holiday?",
        "The new reminders cut our no-shows, thank you",
    ]
    with db.make_session_factory(engine).begin() as s:
        s.add(Workspace(team_id=TEAM, created_at=now, url="https://storm.slack.com/"))
        for i in range(channels):
            c = Customer(team_id=TEAM, name=f"Customer {i:04d}", name_key=f"customer {i:04d}", created_at=now)
            s.add(c)
            s.flush()
            ch = f"CST{i:05d}"
            s.add(ChannelLink(team_id=TEAM, channel_id=ch, kind="customer", customer_id=c.id, created_at=now))
            s.add(
                ChannelInfo(
                    team_id=TEAM,
                    channel_id=ch,
                    name=f"cust-{i:04d}",
                    is_private=False,
                    is_ext_shared=False,
                    is_shared=False,
                    connected_team_ids="[]",
                    is_member=True,
                    checked_at=now,
                    updated_at=now,
                )
            )
            for j, text in enumerate(texts):
                s.add(
                    Signal(
                        team_id=TEAM,
                        channel_id=ch,
                        message_ts=f"{1763460000 + j}.{i:06d}",
                        text=text,
                        customer_id=c.id,
                        capture_path="channel",
                        kind=["problem", "request", "praise"][j],
                        sentiment=[-0.5, 0.0, 0.6][j],
                        user_id="U1",
                        author_name="Storm tester",
                        posted_at=now - timedelta(hours=j + 1),
                        recorded_at=now,
                    )
                )
            s.add(
                DigestSchedule(
                    team_id=TEAM,
                    channel_id=ch,
                    weekday=minute.weekday(),
                    hour=minute.hour,
                    minute=minute.minute,
                    tz="UTC",
                    portfolio=False,
                    enabled=True,
                    llm_enabled=True,
                    chart_enabled=False,
                    updated_at=now,
                )
            )
    engine.dispose()


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        peak = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    return cpu, peak


def run(
    pg: str,
    channels: int = 1000,
    instances: int = 2,
    model_delay: float = 3.0,
    slack_latency: float = 0.05,
    outage: float = 0.0,
    deadline: float = 900.0,
    settings: dict[str, str] | None = None,
) -> dict:
    """`settings`: SIGNALLOOP_* variables for the instances (SIGNALLOOP_LLM_CONCURRENCY…); else the defaults."""
    from sqlalchemy import text

    from storage import db

    schema = f"storm_{int(time.time())}"
    admin = db.make_engine(pg)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
    # the minute: far enough ahead for the instances to start and load their jobs
    minute = (datetime.now(UTC) + timedelta(seconds=150)).replace(second=0, microsecond=0)
    t_setup = time.monotonic()
    populate(url, channels, minute)
    setup_s = time.monotonic() - t_setup
    slack = FakeSlackServer(
        FakeSlackState(team_id=TEAM, team_url="https://storm.slack.com/", latency=slack_latency)
    ).start()
    model = FakeOpenAI().start()

    def slow_answer(request: dict) -> dict:
        return {**good_answer(request), "delay": model_delay}

    model.default = slow_answer
    proxy = TcpProxy(("127.0.0.1", 5432)) if outage else None
    app_url = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}") if proxy else url
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        for k in range(instances):
            env = {key: v for key, v in os.environ.items() if not key.startswith(("SLACK_", "SIGNALLOOP_", "OPENAI_"))}
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            sock.close()
            env.update(
                DATABASE_URL=app_url,
                SLACK_BOT_TOKEN="xoxb-storm",
                SLACK_SIGNING_SECRET="x",
                SLACK_API_URL=slack.url,
                SIGNALLOOP_PORT=str(port),
                OPENAI_API_KEY="sk-storm",
                OPENAI_BASE_URL=model.base_url,
                SIGNALLOOP_LLM_TIMEOUT=str(model_delay + 20),
            )
            env.update(settings or {})
            log = open(RESULTS / f"storm-{k}.log", "wb")  # noqa: SIM115 - closed below
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "entry.cli", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        wait_s = (minute - datetime.now(UTC)).total_seconds()
        if proxy:
            time.sleep(max(0.0, wait_s - 20))
            proxy.cut()  # the database goes away shortly before the minute
            time.sleep(max(0.0, (minute - datetime.now(UTC)).total_seconds()) + outage)
            proxy.restore()
            clock_from = datetime.now(UTC)
        else:
            clock_from = minute
        start = time.monotonic()

        def tops() -> list:
            return [
                c
                for c in slack.calls("chat.postMessage")
                if c.args.get("channel", "").startswith("CST") and not c.args.get("thread_ts")
            ]

        while len({c.args["channel"] for c in tops()}) < channels and time.monotonic() - start < deadline:
            time.sleep(1)
        time.sleep(5)  # anything posted twice would show up now
        stats = [proc_stats(p.pid) for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()
        if proxy:
            proxy.close()
        model.stop()
    posts = tops()
    slack.stop()
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
    after = sorted(c.at - clock_from.timestamp() for c in posts)
    per_channel: dict[str, list[float]] = defaultdict(list)
    for c in slack.calls("chat.postMessage"):
        per_channel[c.args.get("channel", "")].append(c.at)
    peak_rate = max((sum(1 for t in ts if t0 <= t < t0 + 1) for ts in per_channel.values() for t0 in ts), default=0)
    counts = defaultdict(int)
    for c in posts:
        counts[c.args["channel"]] += 1
    return {
        "channels": channels,
        "instances": instances,
        "model_delay_s": model_delay,
        "slack_latency_s": slack_latency,
        "outage_s": outage,
        "settings": settings or {},
        "setup_s": round(setup_s, 1),
        "clock_from": "the database's return" if outage else "the scheduled minute",
        "posted_channels": len(counts),
        "exactly_once": sum(1 for n in counts.values() if n == 1),
        "posted_twice_or_more": sum(1 for n in counts.values() if n > 1),
        "first_post_s": round(after[0], 1) if after else None,
        "median_post_s": round(statistics.median(after), 1) if after else None,
        "last_post_s": round(after[-1], 1) if after else None,
        "peak_posts_per_second_in_one_channel": peak_rate,
        "instances_cpu_s": [round(c, 1) for c, _ in stats],
        "instances_peak_rss_mb": [round(m) for _, m in stats],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channels", type=int, default=1000)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--model-delay", type=float, default=3.0)
    p.add_argument("--slack-latency", type=float, default=0.05)
    p.add_argument("--outage", type=float, default=0.0, help="seconds the database stays away after the minute")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a SIGNALLOOP_* setting")
    p.add_argument(
        "--database", default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    settings = dict(kv.split("=", 1) for kv in args.set)
    res = run(
        args.database,
        args.channels,
        args.instances,
        args.model_delay,
        args.slack_latency,
        args.outage,
        settings=settings,
    )
    name = "storm-outage.json" if args.outage else "storm.json"
    (RESULTS / name).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
