"""Every periodic job runs in the process people deploy: the outbox and the nudges reach people within minutes.

The unit part checks the one job list against what the scheduler gets; the process part starts `signalloop run`
with the real clock and waits for the messages to arrive, as a team would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select

from bot.scheduler import make_scheduler, periodic_jobs, register_jobs
from devtools.fakeslack import FakeSlackServer
from storage import db
from storage.models import DigestRun, Signal, SlackUser
from tests.conftest import TEAM, Running
from tests.processes import AppProcess

# every periodic job the app defines, by id; a job added to bot.scheduler.periodic_jobs belongs here too
EVERY_JOB = {
    "reminders",
    "catch_up",
    "outbox",
    "nudges_burst",
    "nudges_weekly",
    "unanswered",
    "channels",
    "retention",
    "llm_classify",
}


def test_the_entry_point_registers_every_job_the_app_defines(start_app) -> None:  # noqa: ANN001
    r: Running = start_app(
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        SIGNALLOOP_LLM_CLASSIFY="true",
        SIGNALLOOP_RETENTION_DAYS="90",
    )
    defined = {j.id for j in periodic_jobs(r.deps)}
    assert defined == EVERY_JOB
    scheduler = make_scheduler()
    register_jobs(scheduler, r.deps)
    scheduler.start(paused=True)
    try:
        registered = {j.id for j in scheduler.get_jobs()}
        assert defined | {"resync"} <= registered
        # every one runs on the clock (none added paused), the outbox and bursts within a minute
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert all(jobs[i].next_run_time is not None for i in defined)
        assert jobs["outbox"].trigger.interval.total_seconds() <= 60
        assert jobs["nudges_burst"].trigger.interval.total_seconds() <= 60
        # a wake-up brings a job forward to within seconds
        before = jobs["outbox"].next_run_time
        r.deps.wake("outbox")
        after = scheduler.get_job("outbox").next_run_time
        assert after < before and (after - datetime.now(UTC)).total_seconds() < 5
    finally:
        scheduler.shutdown(wait=False)


def test_without_a_key_or_retention_those_jobs_are_not_defined(running: Running) -> None:
    assert {j.id for j in periodic_jobs(running.deps)} == EVERY_JOB - {"retention", "llm_classify"}


def _daytime_zone() -> str:
    """A zone where it is the middle of the day now, so nothing is held back for the night."""
    now = datetime.now(UTC)
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "posix", "right")):
            continue
        if 11 <= now.astimezone(ZoneInfo(name)).hour <= 17:
            return name
    raise AssertionError("no zone in its daytime")


def _wait_for(what: str, check: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def test_a_running_app_sends_what_came_of_a_signal_and_burst_nudges_in_minutes(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    zone = _daytime_zone()
    for uid, name in (("U2", "ana"), ("U3", "lee"), ("UOWN", "priya")):
        slack.state.users[uid] = {"id": uid, "name": name, "tz": zone, "profile": {"display_name": name}}
    app = AppProcess(db_url, slack, tmp_path)
    procs.append(app)
    app.start()
    assert "scheduled jobs: catch_up, channels, nudges_burst, nudges_weekly, outbox, reminders" in app.log.read_text()
    d = app.driver
    d.command("/loop", "customer add Acme Logistics")
    d.command("/loop", "customer owner Acme Logistics <@UOWN|priya>")
    d.command("/loop", "link Acme Logistics", channel="C1")
    d.command("/milestone", 'add Acme Logistics "Every depot books from one calendar"')
    d.command("/signal", "Acme Logistics #1 the depots still keep their own spreadsheets", user="U2")
    engine = db.make_engine(db_url)
    try:

        def author_known() -> bool:
            with engine.connect() as c:
                return (
                    c.scalar(select(SlackUser.tz).where(SlackUser.team_id == TEAM, SlackUser.user_id == "U2")) == zone
                )

        _wait_for("the author's time zone learned", author_known, 30)
    finally:
        engine.dispose()

    def dms(user: str, words: str) -> list:
        return [
            c
            for c in slack.calls("chat.postMessage")
            if c.args.get("channel") == user and words in (c.args.get("text") or "") + str(c.args.get("blocks"))
        ]

    # what came of it: the milestone is achieved, and its author hears within 2 minutes (in their daytime)
    achieved = time.monotonic()
    d.command("/milestone", "done Acme Logistics 1", user="UOWN")
    _wait_for("the author's DM", lambda: dms("U2", "the depots still keep their own spreadsheets"), 120)
    assert time.monotonic() - achieved < 120
    assert len(dms("U2", "the depots still keep their own spreadsheets")) == 1
    # a burst: four problems in the customer's channel; the owner hears within 2 minutes of the fourth
    for i, text in enumerate(
        [
            "The export failed again this morning",
            "Reminder texts went out twice to every driver",
            "Login is broken for the whole night shift",
            "The calendar sync is down and nobody can book",
        ]
    ):
        assert d.message("C1", text, user="U3", ts=f"{int(time.time())}.{i:06d}").status == 200
    completed = time.monotonic()
    _wait_for("the owner's burst nudge", lambda: dms("UOWN", "problems or churn risks"), 120)
    assert time.monotonic() - completed < 120
    [nudge] = dms("UOWN", "problems or churn risks")
    assert "Acme Logistics" in nudge.args["text"]


def test_a_running_app_erases_text_past_retention_at_start_up(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    """SIGNALLOOP_RETENTION_DAYS is applied by the process people deploy, at start-up and every 6 hours."""
    first = AppProcess(db_url, slack, tmp_path, "before")
    procs.append(first)
    first.start()
    first.driver.command("/loop", "customer add Acme Logistics")
    first.driver.command("/loop", "link Acme Logistics", channel="C1")
    old_ts = f"{int(time.time()) - 90 * 86400}.000100"  # posted 90 days ago
    assert first.driver.message("C1", "The depot calendar was wrong all spring", ts=old_ts).status == 200
    assert first.driver.message("C1", "The new calendar works well", ts=f"{int(time.time())}.000200").status == 200
    first.stop()
    second = AppProcess(db_url, slack, tmp_path, "after", SIGNALLOOP_RETENTION_DAYS="30")
    procs.append(second)
    second.start()
    engine = db.make_engine(db_url)
    try:

        def texts() -> list[str | None]:
            with engine.connect() as c:
                return list(c.scalars(select(Signal.text).order_by(Signal.posted_at)))

        _wait_for("the old signal's text erased", lambda: texts()[0] in (None, ""), 30)
        assert texts()[1] == "The new calendar works well"  # within retention: kept
    finally:
        engine.dispose()


def test_a_running_app_reminds_a_quiet_digest_at_start_up(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    """A digest that collected no learning in two days gets its reminder from the process people deploy, as soon
    as it starts (the reminder fell due while it was down); a digest older than the next week's does not."""
    now = datetime.now(UTC)
    engine = db.make_engine(db_url)
    try:
        with db.make_session_factory(engine).begin() as s:
            for week, days_ago, ts in (("2026-W01", 3, "1700000000.000100"), ("2025-W50", 10, "1690000000.000100")):
                posted = now - timedelta(days=days_ago)
                s.add(
                    DigestRun(
                        team_id=TEAM,
                        channel_id="C1",
                        week=week,
                        status="posted",
                        claimed_at=posted,
                        posted_at=posted,
                        message_ts=ts,
                    )
                )
    finally:
        engine.dispose()
    app = AppProcess(db_url, slack, tmp_path)
    procs.append(app)
    app.start()

    def reminders() -> list:
        return [c for c in slack.calls("chat.postMessage") if "No learnings yet" in (c.args.get("text") or "")]

    [reminder] = _wait_for("the quiet digest's reminder", reminders, 30)  # type: ignore[misc]
    assert reminder.args["channel"] == "C1" and reminder.args["thread_ts"] == "1700000000.000100"
    assert "What are we learning" in reminder.args["text"]
    app.stop()  # a second start does not remind again: the reminder was claimed
    again = AppProcess(db_url, slack, tmp_path, "again")
    procs.append(again)
    again.start()
    _wait_for("the second start's reminders job", lambda: "job reminders: 0" in again.log.read_text(), 30)
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as c:
            sent = dict(c.execute(select(DigestRun.week, DigestRun.reminder_sent_at)).all())
    finally:
        engine.dispose()
    assert sent["2026-W01"] is not None and sent["2025-W50"] is None
    again.stop()
    assert len(reminders()) == 1
