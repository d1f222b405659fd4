"""`signalloop run` as a real process: SIGKILL mid-load, the database going away, two instances on PostgreSQL."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from devtools.fakeslack import FakeSlackServer
from devtools.proxy import TcpProxy
from storage import db
from storage.models import Signal
from tests.conftest import PG_URL, TEAM
from tests.helpers import figure, wait_for
from tests.processes import AppProcess, acme_in_c1, events, resend_unacknowledged, send_until_stopped

ROOT = Path(__file__).resolve().parents[2]


def test_no_acknowledged_signal_is_lost_across_sigkill(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    app = acme_in_c1(db_url, slack, tmp_path, procs)
    batch = events(500)
    kill_after = random.Random().randint(50, 400)
    first_round = send_until_stopped(app, batch, kill_after, app.kill)
    assert app.proc is not None and app.proc.poll() is not None, "the app was killed mid-load"
    stored = resend_unacknowledged(app, db_url, batch, first_round)
    figure(
        f"events sent 500, acknowledged before SIGKILL {len(first_round)} (killed after {kill_after}), "
        f"re-sent {500 - len(first_round)}, stored {len(stored)}, distinct {len(set(stored))}"
    )
    assert first_round <= set(stored)  # every acknowledged event is stored
    assert len(stored) == len(set(stored)) == 500  # exactly once


def test_a_client_gone_through_the_proxy_leaves_no_backend_behind() -> None:
    """The outage tests' proxy passes a client's going away on to the database at once: a process that exits
    mid-transaction leaves no backend idle in that transaction (it once did, and failed teardowns)."""
    if PG_URL is None:
        pytest.skip("PostgreSQL is not answering at 127.0.0.1:5432")
    from sqlalchemy import text

    proxy = TcpProxy(("127.0.0.1", 5432))
    name = f"proxy_{random.randrange(1 << 30)}"
    url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    url += ("&" if "?" in url else "?") + f"application_name={name}"
    code = (
        "import os, sys\nfrom sqlalchemy import create_engine, text\n"
        "c = create_engine(sys.argv[1]).connect()\nc.execute(text('SELECT 1'))\nos._exit(0)\n"
    )
    admin = db.make_engine(PG_URL)
    try:
        subprocess.run([sys.executable, "-c", code, url], check=True, timeout=30)
        deadline = time.monotonic() + 2
        query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n")
        while time.monotonic() < deadline:
            with admin.connect() as c:
                left = c.execute(query, {"n": name}).scalar()
            if not left:
                break
            time.sleep(0.1)
    finally:
        proxy.close()
        admin.dispose()
    assert left == 0, "a backend outlived its client that exited through the proxy"


def test_database_down_answers_500_and_503_then_recovers(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the outage is simulated on the PostgreSQL connection (a TCP proxy that is cut)")
    proxy = TcpProxy(("127.0.0.1", 5432))
    url = db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    app = AppProcess(url, slack, tmp_path)
    procs.append(app)
    try:
        app.start()
        app.driver.command("/loop", "customer add Acme")
        app.driver.command("/loop", "link Acme", channel="C1")
        eid, ev = events(1)[0]
        proxy.cut()
        assert app.health() == 503
        resp = app.driver.event(ev, event_id=eid)
        assert resp.status == 500  # not acknowledged: Slack will retry
        proxy.restore()
        deadline = time.monotonic() + 20
        while app.health() != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert app.health() == 200
        assert app.driver.event(ev, event_id=eid, retry=1).status == 200
        engine = db.make_engine(db_url)
        with db.make_session_factory(engine)() as s:
            assert s.scalar(select(Signal.event_id)) == eid
        engine.dispose()
        figure("database cut: /healthz 503, event answered 500; restored: /healthz 200, retried event stored once")
    finally:
        app.stop()  # while the proxy still carries the close of its connections to the database
        proxy.close()


def test_two_instances_on_postgresql_post_one_digest(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several instances share PostgreSQL in production; SQLite is single-instance")
    assert PG_URL is not None
    a = AppProcess(db_url, slack, tmp_path, "a")
    procs.append(a)
    a.start()
    a.driver.command("/loop", "customer add Acme")
    a.driver.command("/loop", "link Acme", channel="C1")
    a.driver.message("C1", "the export failed again")
    # a schedule whose minute has passed this week: each instance's start-up catch-up wants to post it
    import datetime as _dt

    now = _dt.datetime.now(_dt.UTC)
    day = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][now.weekday()]
    a.driver.command("/loop", f"digest schedule {day} 00:00 UTC", channel="C1")
    a.stop()
    slack.reset()
    b = AppProcess(db_url, slack, tmp_path, "b")
    c = AppProcess(db_url, slack, tmp_path, "c")
    procs += [b, c]
    threads = [threading.Thread(target=p.start) for p in (b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not [x for x in slack.calls("chat.postMessage") if x.args["channel"] == "C1"]:
        time.sleep(0.2)

    def caught_up(p: AppProcess) -> bool:
        # bot.scheduler logs each run of the catch-up job (every 15 minutes, the first at start-up) once it has ended
        return "job catch_up:" in p.log.read_text()

    while time.monotonic() < deadline and not (caught_up(b) and caught_up(c)):
        time.sleep(0.1)
    assert caught_up(b) and caught_up(c), "both instances have had their start-up catch-up"
    posts = [x for x in slack.calls("chat.postMessage") if x.args["channel"] == "C1" and not x.args.get("thread_ts")]
    figure(f"instances 2, digests posted {len(posts)}")
    assert len(posts) == 1
    assert "Posted late" in json.dumps(posts[0].args["blocks"]) or now.hour == 0


class ProxiedRunner:
    """A digest runner and scheduler whose database connection goes through a TCP proxy the test can cut."""

    def __init__(self, db_url: str, running, enrich=None) -> None:  # noqa: ANN001
        from bot.runner import DigestRunner
        from bot.scheduler import DigestJobs, make_scheduler

        self.proxy = TcpProxy(("127.0.0.1", 5432))
        self.engine = db.make_engine(db_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.proxy.port}"))
        self.runner = DigestRunner(
            running.deps.settings,
            db.make_session_factory(self.engine),
            running.clock,
            client_for=running.deps.digest_runner.client_for,
            enrich=enrich,
        )
        self.scheduler = make_scheduler()
        self.jobs = DigestJobs(self.scheduler, self.runner)
        self.running = running

    def digests(self) -> list:
        return [
            c
            for c in self.running.slack.calls("chat.postMessage")
            if c.args["channel"] == "C1" and not c.args.get("thread_ts")
        ]

    def runs(self) -> list:
        from storage.models import DigestRun

        with self.running.sf() as s:
            return [(r.status, r.message_ts) for r in s.scalars(select(DigestRun))]

    def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.runner.close()
        self.engine.dispose()
        self.proxy.close()


@pytest.fixture
def outage(db_url: str, request: pytest.FixtureRequest):  # noqa: ANN201
    """Tallwood's channel C1 with this week's digest scheduled for Friday 15:00 UTC; its minute not yet come."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the outage is simulated on the PostgreSQL connection (a TCP proxy that is cut)")
    from tests.scenario.test_digest import at, scenario

    running = request.getfixturevalue("running")
    scenario(running)
    running.clock.now = at(20, 14)
    running.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    made: list[ProxiedRunner] = []

    def make(enrich=None) -> ProxiedRunner:  # noqa: ANN001
        made.append(ProxiedRunner(db_url, running, enrich))
        return made[-1]

    yield make
    for p in made:
        p.close()
    # PostgreSQL ends the backends of the cut connections on its own, a moment later: wait for that rather
    # than count them as connections the test leaked
    from sqlalchemy import text

    app_name = db_url.rsplit("application_name=", 1)[-1]
    admin = db.make_engine(PG_URL or db_url)
    deadline = time.monotonic() + 10
    with admin.connect() as c:
        while (
            time.monotonic() < deadline
            and c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :a AND state = 'idle in transaction'"
                ),
                {"a": app_name},
            ).scalar()
        ):
            c.rollback()
            time.sleep(0.2)
    admin.dispose()


def test_scheduler_resumes_when_the_database_is_back(outage, caplog) -> None:  # noqa: ANN001
    """The digest's minute comes while PostgreSQL is unreachable: nothing is posted, the scheduler says why,
    and once the database answers again the digest goes out, once."""
    from datetime import UTC, datetime

    from tests.scenario.test_digest import at

    p = outage()
    p.jobs.resync()
    p.scheduler.start()
    assert p.runner.catch_up() == []  # the start-up catch-up: nothing due before 15:00
    p.running.slack.reset()
    p.running.clock.now = at(20, 15)
    p.proxy.cut()
    p.scheduler.modify_job(f"digest:{TEAM}:C1", next_run_time=datetime.now(UTC) + timedelta(seconds=1))
    # the job fires and cannot claim: the database is away
    wait_for(lambda: any("database unavailable at the digest's minute" in r.getMessage() for r in caplog.records))
    assert p.digests() == []
    p.proxy.restore()
    # the job tries again every 10 s until the claim can be written; the run recorded as posted ends it
    wait_for(lambda: [status for status, _ in p.runs()] == ["posted"], timeout=30)
    figure(f"database cut at the digest's minute; restored: digests posted {len(p.digests())}")
    assert len(p.digests()) == 1 and [status for status, _ in p.runs()] == ["posted"]


def test_digest_interrupted_by_the_database_is_retaken_once_it_is_back(outage) -> None:  # noqa: ANN001
    """The database goes away while the digest is being built: nothing is posted, the claim is not left to
    block the week, and the next catch-up posts it."""
    from tests.scenario.test_digest import WEEK47, at

    p = outage(enrich=lambda *_: p.proxy.cut())
    p.running.clock.now = at(20, 15)
    p.running.slack.reset()
    with pytest.raises(OperationalError):
        p.runner.post(TEAM, "C1", WEEK47, late=False, requested_by=None)
    assert p.digests() == [] and p.runs() == [("claimed", None)]
    p.proxy.restore()
    p.runner.enrich = None
    p.running.clock.now = at(20, 15) + timedelta(minutes=2)  # well within the 15-minute stale window
    results = p.runner.catch_up()
    assert [r.status for r in results] == ["posted"] and len(p.digests()) == 1
    assert p.runs() == [("posted", results[0].ts)]


def test_digest_posted_while_the_database_drops_is_recorded_not_reposted(outage) -> None:  # noqa: ANN001
    """Slack took the digest but the database went away before the run was marked posted: it is recorded when
    the database is back, and no later attempt posts it again — not even once the claim looks stale."""
    from tests.scenario.test_digest import WEEK47, at

    p = outage()
    p.running.clock.now = at(20, 15)
    p.running.slack.reset()
    p.running.slack.state.on_call = lambda m, a: p.proxy.cut() if m == "chat.postMessage" else None
    res = p.runner.post(TEAM, "C1", WEEK47, late=False, requested_by=None)
    p.running.slack.state.on_call = None
    assert res.status == "posted" and len(p.digests()) == 1
    p.proxy.restore()
    assert p.runs() == [("claimed", None)]
    p.running.clock.now = at(20, 16)  # an hour on: the claim looks stale
    assert p.runner.post(TEAM, "C1", WEEK47, late=False, requested_by=None).status == "already"
    assert p.runner.catch_up() == []
    assert p.runs() == [("posted", res.ts)] and len(p.digests()) == 1
