"""Nothing acknowledged is dropped when routing changes, and the scheduled minute is shared, not duplicated."""

from __future__ import annotations

import threading
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runner import DigestRunner
from bot.scheduler import DigestJobs, make_scheduler
from bot.slack_out import CHANNEL_GAP
from devtools.fakeslack import FakeSlackServer
from storage import db
from storage.models import DigestRun, Signal
from tests.conftest import TEAM, Running, make_settings
from tests.helpers import figure, wait_for
from tests.processes import AppProcess
from tests.scenario.test_digest import at, ts

_N = [0]


def message(channel: str, text: str) -> dict:
    _N[0] += 1
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": "U2",
        "text": text,
        "ts": f"{1763470000 + _N[0]}.000100",
    }


SENT_AFTER: list[float] = []  # seconds from the change's answer to each event being sent


def burst(instances: list[AppProcess], channel: str, text: str, each: int = 5) -> list[int]:
    """`each` events on every instance at once, right after a change; their HTTP statuses."""
    statuses: list[int] = []
    lock = threading.Lock()
    changed = time.monotonic()

    def send(app: AppProcess, i: int) -> None:
        SENT_AFTER.append(time.monotonic() - changed)
        status = app.driver.event(message(channel, f"{text} ({i})")).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=(a, i)) for a in instances for i in range(each)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def stored(engine, like: str) -> int:  # noqa: ANN001
    with db.make_session_factory(engine)() as s:
        return s.scalar(select(func.count()).select_from(Signal).where(Signal.text.like(f"{like}%"))) or 0


@pytest.mark.alone  # every event sent within 100 ms of the change: timed with nothing else running
def test_a_routing_change_applies_to_the_next_event_on_every_instance(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several instances share PostgreSQL in production; SQLite is single-instance")
    a, b = AppProcess(db_url, slack, tmp_path, "a"), AppProcess(db_url, slack, tmp_path, "b")
    procs += [a, b]
    for p in (a, b):
        p.start()
    a.driver.command("/loop", "customer add Acme")
    engine = db.make_engine(db_url)
    try:
        # both instances have routed C7 and C8 as "not ours" and cached it
        burst([a, b], "C7", "warm-up", each=1)
        burst([a, b], "C8", "warm-up Acme", each=1)
        cases = []
        t0 = time.monotonic()
        a.driver.command("/loop", "link Acme", channel="C7")
        cases.append(("link", burst([a, b], "C7", "after link"), stored(engine, "after link"), time.monotonic() - t0))
        t0 = time.monotonic()
        b.driver.command("/loop", "watch", channel="C8")
        cases.append(
            (
                "watch",
                burst([a, b], "C8", "Acme after watch"),
                stored(engine, "Acme after watch"),
                time.monotonic() - t0,
            )
        )
        t0 = time.monotonic()
        a.driver.command("/loop", "customer alias Acme Roadrunner")
        cases.append(
            (
                "alias",
                burst([a, b], "C8", "Roadrunner after alias"),
                stored(engine, "Roadrunner after alias"),
                time.monotonic() - t0,
            )
        )
        t0 = time.monotonic()
        b.driver.command("/loop", "customer add Wile Industries")
        cases.append(
            (
                "new customer",
                burst([a, b], "C8", "Wile Industries after add"),
                stored(engine, "Wile Industries after add"),
                time.monotonic() - t0,
            )
        )
    finally:
        engine.dispose()
    assert max(SENT_AFTER[-40:]) < 0.1  # every event was sent within 100 ms of the change's answer
    figure(
        f"routing changes on 2 instances, events sent at most {max(SENT_AFTER[-40:]) * 1000:.0f} ms after the change: "
        + "; ".join(f"{name}: {len(st)} answered 200 {st.count(200)}, stored {n}" for name, st, n, _ in cases)
    )
    for name, statuses, n, _ in cases:
        assert statuses.count(200) == 10 and n == 10, name


def test_claim_before_queue_the_losing_instance_builds_nothing(running: Running, db_url: str) -> None:
    """50 digests due at one minute on two instances: 50 builds in all, 50 posts, never a build for a lost claim."""
    r = running
    r.clock.now = at(16, 9)
    for i in range(50):
        r.slack.state.channels[f"CS{i:02d}"] = {"id": f"CS{i:02d}", "name": f"cs-{i:02d}", "is_private": False}
    for i in range(50):
        r.driver.command("/loop", f"customer add Customer {i:02d}")
        r.driver.command("/loop", f"link Customer {i:02d}", channel=f"CS{i:02d}")
        r.driver.message(f"CS{i:02d}", f"the export failed again at site {i}", ts=ts(17, 10, i))
        r.driver.command("/loop", "digest schedule friday 15:00 UTC", channel=f"CS{i:02d}")
    r.clock.now = at(20, 15)
    other = DigestRunner(make_settings(db_url, r.slack), r.sf, r.clock, client_for=r.deps.digest_runner.client_for)
    other.pacer.gap = 0.01
    a, b = make_scheduler(), make_scheduler()
    for sched, runner in ((a, r.deps.digest_runner), (b, other)):
        DigestJobs(sched, runner).resync()
    from datetime import datetime as real_datetime

    soon = real_datetime.now(UTC) + timedelta(milliseconds=500)
    for sched in (a, b):
        for i in range(50):
            sched.modify_job(f"digest:{TEAM}:CS{i:02d}", next_run_time=soon)
        sched.start()
    try:

        def posted() -> int:
            with r.sf() as s:
                return s.scalar(select(func.count()).select_from(DigestRun).where(DigestRun.status == "posted")) or 0

        wait_for(lambda: posted() == 50, timeout=60)
    finally:
        a.shutdown(wait=False)
        b.shutdown(wait=False)
        other.close()
    tops = [
        c
        for c in r.slack.calls("chat.postMessage")
        if c.args["channel"].startswith("CS") and not c.args.get("thread_ts")
    ]
    builds = (r.deps.digest_runner.builds, other.builds)
    figure(f"50 digests due at one minute on 2 instances: builds {builds[0]} + {builds[1]}, posts {len(tops)}")
    assert sum(builds) == 50 and len(tops) == 50 and len({c.args["channel"] for c in tops}) == 50


def test_posts_to_one_channel_are_spaced_a_second_apart(running: Running) -> None:
    r = running
    r.deps.digest_runner.pacer.gap = CHANNEL_GAP  # production's spacing (the fixture shortens it)
    r.clock.now = at(16, 9)
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "link Acme", channel="C1")
    words = [
        "export",
        "invoice",
        "rota",
        "calendar",
        "reminder",
        "login",
        "payslip",
        "dashboard",
        "scanner",
        "report",
        "webhook",
        "search",
    ]
    for i, w in enumerate(words):  # more quotes than fit: the digest continues in its thread
        r.driver.message("C1", f"The {w} screen shows {w} data from {i + 2} weeks ago", ts=ts(17, 10, i))
    r.clock.now = at(20, 15)
    r.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    r.slack.reset()
    res = r.deps.digest_runner.run_scheduled(TEAM, "C1")
    posts = [c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C1"]
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    figure(f"digest of {len(posts)} messages in one channel: gaps between posts {[round(g, 2) for g in gaps]} s")
    assert res is not None and res.status == "posted" and len(posts) >= 2
    assert min(gaps) >= 1.0  # as Slack counts: on arrival
