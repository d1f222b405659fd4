"""The weekly digest: sections by content, Slack's limits, exactly-once posting, the learning loop."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select

from bot.digest import CustomerSection, Digest, GapTheme, Quote
from bot.render.digest import MAX_THREAD_MESSAGES, digest_messages
from bot.render.terminal import digest_text
from bot.runner import DigestRunner
from bot.safety import quote
from bot.scheduler import DigestJobs, make_scheduler, register_jobs
from bot.text import plural
from bot.weeks import Week, scheduled_at, week_at
from storage.models import Customer, DigestRun, DigestSchedule, Learning, Milestone
from tests.conftest import TEAM, Running, make_settings
from tests.helpers import count, figure, run_signalloop, wait_for

ROOT = Path(__file__).resolve().parents[2]
WEEK47 = Week(2026, 47)  # Mon Nov 16 – Sun Nov 22, 2026


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def ts(day: int, hour: int = 10, n: int = 0) -> str:
    return f"{at(day, hour).timestamp():.0f}.{n:06d}"


def all_text(messages: list[tuple[str, list[dict]]]) -> str:
    out = []
    for _, blocks in messages:
        for b in blocks:
            if isinstance(b.get("text"), dict):
                out.append(b["text"]["text"])
            for e in b.get("elements", []):
                if isinstance(e.get("text"), dict):
                    out.append(e["text"]["text"])
                elif isinstance(e.get("text"), str):
                    out.append(e["text"])
            if b.get("accessory"):
                out.append(b["accessory"]["text"]["text"])
    return "\n".join(out)


def scenario(r: Running) -> None:
    """Tallwood in #cs-tallwood (C1), a watch channel (C2), Riverside quiet, a private channel (G1)."""
    d = r.driver
    r.clock.now = at(2, 9)  # Monday two weeks before week 47
    d.command("/loop", "customer add Tallwood Dental Group segment multi-site")
    d.command("/loop", "customer alias Tallwood Dental Group Tallwood")
    d.command("/loop", "customer outcome Tallwood fill cancelled chair time the same day | without phoning")
    d.command("/loop", "customer add Riverside Physio segment multi-site")
    d.command("/loop", "link Tallwood", channel="C1")
    d.command("/loop", "watch", channel="C2")
    d.command("/loop", "link Tallwood", channel="G1", channel_name="privategroup")
    d.command("/milestone", "start Riverside Physio 1")
    # last week: two signals
    d.message("C1", "The reminders went out twice again", ts=ts(10))
    d.message("C1", "Hygienist preference would help", ts=ts(11))
    # week 47
    r.clock.now = at(16, 9)
    d.command("/milestone", "start Tallwood 1")
    r.clock.now = at(17, 9)
    d.command("/milestone", "done Tallwood 1")
    d.command("/milestone", "start Tallwood 2")
    r.clock.now = at(18, 9)
    d.command("/milestone", "risk Tallwood 2 reminder texts still go out twice")
    d.message("C1", "If the double texts continue our COO wants to re-tender the contract", ts=ts(16, 11), user="U2")
    d.message("C1", "Patients at Elm Street got two reminders again", ts=ts(17, 11), user="U3")
    d.message("C1", "Can the waiting list show which hygienist they prefer?", ts=ts(18, 11), user="U2")
    d.message("C1", "The new booking page cut our no-shows noticeably", ts=ts(19, 11), user="U4")
    d.message("C1", "Hygienist preference again from the Elm Street desk", ts=ts(19, 12), user="U4")
    d.message("C2", "Tallwood asked whether exports can include hygienist preference", ts=ts(19, 13), user="U3")
    d.message(
        "G1", "Confidential: Tallwood budget is frozen <!channel>", ts=ts(19, 14), user="U1", channel_type="group"
    )
    d.command("/signal", "Tallwood #2 the waiting list offers went out to the wrong patients", channel="C3")
    r.clock.now = at(20, 15)
    r.slack.reset()


def test_digest_sections_by_content(running: Running) -> None:
    scenario(running)
    runner = running.deps.digest_runner
    with running.sf() as s:
        dg = runner.build(s, TEAM, "C1", WEEK47)
    assert dg.scope == "customer" and [c.name for c in dg.customers] == ["Tallwood Dental Group"]
    sec = dg.customers[0]
    assert dg.signal_count == 8 and dg.last_week_count == 2 and dg.people == 4
    assert [a.title for a in sec.achieved] == ["Every site books from one shared calendar"]
    assert [(f.kind, f.position) for f in sec.flags] == [("at_risk", 2)]
    assert sec.flags[0].evidence is not None and "wrong patients" in sec.flags[0].evidence.text
    # the re-tender ultimatum, and the private note that the budget is frozen (cost scrutiny: eval/README.md)
    assert sec.kinds["churn-risk"] == 2 and sec.kinds["problem"] >= 2
    assert sec.quotes[0].kind == "churn-risk"  # ordered by what needs action
    assert sec.private_count == 1  # the private channel's signal is counted here, not quoted
    assert any(g.theme.startswith("hygienist") and g.weeks == 2 for g in sec.gap)
    text = all_text(digest_messages(dg, 1))
    assert "*Weekly customer loop — week 47 (Nov 16–22)*" in text
    assert "8 signals from 4 people (last week 7)" not in text and "(last week 2)" in text
    assert ":white_check_mark: *Achieved:* 1. Every site books from one shared calendar (Nov 17)" in text
    assert ":warning: *At risk:* 2. Cancelled slots are offered to the waiting list automatically" in text
    assert "re-tender the contract" in text and "Marco, Nov 16" in text
    assert "*Success gap*" in text and "hygienist" in text
    assert "What are we learning, and what decision does it affect?" in text
    assert "<!channel>" not in text and "budget is frozen" not in text


def test_private_text_only_counted_in_other_channels(running: Running) -> None:
    scenario(running)
    runner = running.deps.digest_runner
    with running.sf() as s:
        dg = runner.build(s, TEAM, "C4", WEEK47)  # an unlinked channel: the portfolio
        own = runner.build(s, TEAM, "G1", WEEK47)
    tall = next(c for c in dg.customers if c.name == "Tallwood Dental Group")
    assert tall.private_count == 1
    text = all_text(digest_messages(dg, 1))
    assert "budget is frozen" not in text and "1 from private channels, counted but not quoted here" in text
    assert "budget is frozen" in all_text(digest_messages(own, 1))
    assert "&lt;!channel&gt;" in all_text(digest_messages(own, 1))  # escaped, never a ping


def test_quiet_and_collecting_without_acting(running: Running) -> None:
    scenario(running)
    r = running
    r.clock.now = at(27, 9)  # week 48: Tallwood heard three weeks running, no decision recorded
    r.driver.message("C1", "Still two reminders at Elm Street", ts=ts(23, 10) if False else ts(24, 10))
    with r.sf() as s:
        dg = r.deps.digest_runner.build(s, TEAM, "C4", Week(2026, 48))
    assert [q[0] for q in dg.quiet] == ["Riverside Physio"]
    assert dg.collecting and dg.collecting[0][0] == "Tallwood Dental Group"
    text = all_text(digest_messages(dg, 1))
    assert "*Quiet:* Riverside Physio — no signals for" in text
    assert "*Collecting without acting:* Tallwood Dental Group" in text


quote_st = st.builds(
    Quote,
    signal_id=st.integers(1, 10**6),
    kind=st.sampled_from(["churn-risk", "problem", "request", "praise"]),
    text=st.text(min_size=1, max_size=600),
    author=st.one_of(st.none(), st.text(max_size=40)),
    at=st.just(at(18)),
    permalink=st.just("https://x.slack.com/archives/C1/p1"),
    milestone=st.none(),
    sentiment=st.just(0.0),
)


@st.composite
def big_digest(draw: st.DrawFn) -> Digest:
    dg = Digest(TEAM, "C1", WEEK47, "UTC", at(16), at(23), "portfolio")
    n = draw(st.integers(0, 60))
    for i in range(n):
        quotes = draw(st.lists(quote_st, max_size=30))
        sec = CustomerSection(
            i, draw(st.text(min_size=1, max_size=80)), "smb", draw(st.text(max_size=900)), None, 1, 4, 2
        )
        sec.quotes = quotes
        sec.kinds = {"problem": len(quotes)}
        sec.gap = [GapTheme(draw(st.text(min_size=1, max_size=60)), 2, 3, 5)]
        dg.customers.append(sec)
    dg.quiet = [(f"Customer {i}", 3, "x" * draw(st.integers(0, 300))) for i in range(draw(st.integers(0, 80)))]
    return dg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(big_digest())
def test_digest_never_exceeds_slack_limits_and_loses_nothing(dg: Digest) -> None:
    messages = digest_messages(dg, 7)
    for _, blocks in messages:
        assert len(blocks) <= 50
        for b in blocks:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= 3000
    text = all_text(messages)
    assert "What are we learning, and what decision does it affect?" in all_text(messages[:1])
    for sec in dg.customers:
        assert quote(sec.name) in text
        for q in sec.quotes:
            assert quote(q.text, 200)[:40] in text
    for name, _, _ in dg.quiet:
        assert name in text


def test_digest_now_posts_once_per_week_and_thread_overflow(running: Running) -> None:
    scenario(running)
    running.slack.reset()
    r = running.driver.command("/loop", "digest now", channel="C1")
    assert r.status == 200 and not r.body  # answered once, below: "building…" then the digest

    def c1_posts() -> list:
        return [c for c in running.slack.calls("chat.postMessage") if c.args["channel"] == "C1"]

    def told() -> list[str]:
        return [c.args["text"] for c in running.slack.calls("chat.postEphemeral")]

    posts = wait_for(lambda: len(c1_posts()) >= 2 and c1_posts())
    assert ["Building" in t for t in told()] == [True]
    assert len(posts) == 2  # the digest and its thread (more quotes than fit)
    assert posts[1].args["thread_ts"] and "more of what they said" in all_text([("", posts[1].args["blocks"])])
    running.slack.reset()
    running.driver.command("/loop", "digest now", channel="C1")
    running.deps.digest_runner.pool.shutdown(wait=True)  # what the command handed to the digest threads is done
    # one answer, not "building…" and then "already posted"
    assert len(told()) == 1 and "already posted" in told()[0] and "see it here" in told()[0]
    assert not running.slack.calls("chat.postMessage")
    with running.sf() as s:
        run = s.scalar(select(DigestRun))
        assert (run.week, run.status, run.message_ts) == ("2026-W47", "posted", posts[1].args["thread_ts"])


def test_digest_now_that_fails_tells_the_requester_and_can_be_retried(running: Running, db_url: str) -> None:
    """`/loop digest now` is answered before the digest is built: a build that fails is told to the person who
    asked, nothing is posted, and asking again posts it."""
    scenario(running)

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the narrative step")

    settings = make_settings(db_url, running.slack)
    client_for = running.deps.digest_runner.client_for
    faulty = DigestRunner(settings, running.sf, running.clock, client_for=client_for, enrich=broken)
    running.slack.reset()
    res = faulty.run_now(None, TEAM, "C1", "U1")
    [building, eph] = running.slack.calls("chat.postEphemeral")
    assert "Building" in building.args["text"]
    assert res.status == "failed" and eph.args["user"] == "U1" and "could not be built" in eph.args["text"]
    assert "/loop digest now" in eph.args["text"] and not running.slack.calls("chat.postMessage")
    res = DigestRunner(settings, running.sf, running.clock, client_for=client_for).run_now(None, TEAM, "C1", "U1")
    assert res.status == "posted"
    with running.sf() as s:
        assert [r.status for r in s.scalars(select(DigestRun))] == ["posted"]


def test_two_runners_racing_post_one_digest(running: Running, db_url: str) -> None:
    scenario(running)
    running.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    other = DigestRunner(
        make_settings(db_url, running.slack),
        running.sf,
        running.clock,
        client_for=lambda t: running.deps.digest_runner.client_for(t),
    )
    results = []
    barrier = threading.Barrier(2)

    def go(runner: DigestRunner) -> None:
        barrier.wait()
        results.append(runner.run_scheduled(TEAM, "C1"))

    ts_ = [threading.Thread(target=go, args=(x,)) for x in (running.deps.digest_runner, other)]
    for t in ts_:
        t.start()
    for t in ts_:
        t.join()
    statuses = sorted(r.status for r in results)
    firsts = [
        c for c in running.slack.calls("chat.postMessage") if c.args["channel"] == "C1" and not c.args.get("thread_ts")
    ]
    figure(f"runners 2, digests claimed {statuses.count('posted')}, posted {len(firsts)}")
    assert statuses == ["already", "posted"] and len(firsts) == 1


def test_missed_minute_posts_once_on_start_up_and_says_late(running: Running) -> None:
    scenario(running)
    running.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    running.clock.now = at(21, 9)  # Saturday: the app was down at Friday 15:00
    runner = running.deps.digest_runner
    [res] = runner.catch_up()
    assert res.status == "posted"
    assert runner.catch_up() == []  # a second start-up in the same week posts nothing
    main = next(c for c in running.slack.calls("chat.postMessage") if c.args["channel"] == "C1")
    assert "Posted late" in all_text([("", main.args["blocks"])])
    running.clock.now = at(23, 9)  # Monday of the next week, before Friday: last week's is gone, nothing posts
    assert runner.catch_up() == []
    assert runner.run_scheduled(TEAM, "C1") is None


def test_dst_week_fires_at_local_wall_clock() -> None:
    from apscheduler.triggers.cron import CronTrigger

    trig = CronTrigger(day_of_week="mon", hour=9, minute=0, timezone="Europe/London")
    before = trig.get_next_fire_time(None, datetime(2026, 10, 19, 0, 0, tzinfo=UTC))
    after = trig.get_next_fire_time(None, datetime(2026, 10, 26, 0, 0, tzinfo=UTC))
    assert before.astimezone(UTC).hour == 8 and after.astimezone(UTC).hour == 9  # BST, then GMT
    assert scheduled_at(Week(2026, 43), 0, 9, 0, "Europe/London") == before.astimezone(UTC)
    assert scheduled_at(Week(2026, 44), 0, 9, 0, "Europe/London") == after.astimezone(UTC)
    # a week's bounds in the zone: Monday 00:00 local
    start, end = Week(2026, 44).bounds("Europe/London")
    assert start == datetime(2026, 10, 26, 0, 0, tzinfo=UTC) and end - start == timedelta(days=7)
    assert week_at(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), "Europe/Berlin") == Week(2026, 48)


def test_jobs_are_rebuilt_from_the_schedule_table_after_a_restart(running: Running) -> None:
    """Jobs live in memory; a new scheduler (a restart, another instance) rebuilds them from digest_schedules."""
    running.driver.command("/loop", "customer add Acme")
    sched = make_scheduler()
    running.deps.digest_jobs = jobs = register_jobs(sched, running.deps)
    sched.start(paused=True)
    r = running.driver.command("/loop", "digest schedule tue 09:30 Europe/Berlin portfolio", channel="C4")
    assert "every Tuesday at 09:30 Europe/Berlin" in r.json()["text"]
    assert sched.get_job(f"digest:{TEAM}:C4") is not None  # the change applied at once in this process
    sched.shutdown(wait=False)
    again = make_scheduler()
    running.deps.digest_jobs = register_jobs(again, running.deps)
    again.start(paused=True)
    job = again.get_job(f"digest:{TEAM}:C4")
    assert job is not None and str(job.trigger.timezone) == "Europe/Berlin"
    assert job.next_run_time.astimezone(UTC).weekday() == 1
    running.driver.command("/loop", "digest off", channel="C4")
    assert again.get_job(f"digest:{TEAM}:C4") is None  # a change made here applies at once
    # a change made on another instance reaches this one at its next resync
    with running.sf.begin() as s:
        row = s.scalar(select(DigestSchedule).where(DigestSchedule.channel_id == "C4"))
        row.enabled, row.hour = True, 11
    assert jobs.scheduler is sched and again.get_job(f"digest:{TEAM}:C4") is None
    running.deps.digest_jobs.resync()
    assert again.get_job(f"digest:{TEAM}:C4").trigger.fields[5].expressions[0].first == 11
    again.shutdown(wait=False)
    with running.sf() as s:
        tables = set(inspect(s.get_bind()).get_table_names())
    assert "apscheduler_jobs" not in tables  # no table outside the migrations


@pytest.mark.parametrize(
    "text,expected",
    [
        ("digest schedule", "Say which day and time"),
        ("digest schedule someday 15:00", "is not a weekday"),
        ("digest schedule friday 25:00", "is not a time"),
        ("digest schedule friday 3pm", "is not a time"),
        ("digest schedule friday 15:00 Mars/Olympus", "is not an IANA time zone"),
        ("digest off", "No weekly digest is scheduled"),
        ("digest sometimes", "Usage: `/loop digest schedule"),
        ("digest llm maybe", "Usage: `/loop digest llm on|off`"),
        ("learnings Nobody", "No customer named"),
    ],
)
def test_bad_digest_commands(running: Running, text: str, expected: str) -> None:
    r = running.driver.command("/loop", text, channel="C4")
    assert expected in r.json()["text"]
    assert count(running.sf, DigestRun) == 0


def post_digest(running: Running) -> str:
    running.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    res = running.deps.digest_runner.run_scheduled(TEAM, "C1")
    assert res is not None and res.status == "posted"
    return res.ts


def test_thread_replies_and_modal_become_learnings_and_decisions_are_reviewed(running: Running) -> None:
    scenario(running)
    digest_ts = post_digest(running)
    d = running.driver
    d.message(
        "C1", "Double texts hurt trust more than a missing WhatsApp", user="U1", ts=ts(20, 16), thread_ts=digest_ts
    )
    d.message(
        "C1", "Double texts hurt trust more than a missing WhatsApp", user="U1", ts=ts(20, 16), thread_ts=digest_ts
    )  # a duplicate delivery
    with running.sf() as s:
        [row] = s.scalars(select(Learning)).all()
        assert row.text.startswith("Double texts") and row.author_id == "U1" and row.decision is None
    offer = running.slack.calls("chat.postEphemeral")[-1]
    assert offer.args["user"] == "U1" and offer.args["blocks"][0]["accessory"]["action_id"] == "name_decision"
    # the offer opens the modal prefilled; the submission names the decision
    d.interact(
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "trigger_id": "t2",
            "channel": {"id": "C1"},
            "container": {"type": "message", "channel_id": "C1"},
            "actions": [
                {
                    "type": "button",
                    "action_id": "name_decision",
                    "value": str(row.id),
                    "block_id": "b",
                    "action_ts": "1",
                }
            ],
        }
    )
    modal = running.slack.calls("views.open")[-1].args["view"]
    assert modal["callback_id"] == "learning_modal"
    learning_block = next(b for b in modal["blocks"] if b["block_id"] == "learning")
    assert learning_block["element"]["initial_value"].startswith("Double texts")
    with running.sf() as s:
        tall = s.scalar(
            select(Milestone).join(Customer).where(Milestone.position == 2, Customer.name == "Tallwood Dental Group")
        )
    state = {
        "values": {
            "learning": {"learning": {"type": "plain_text_input", "value": "Double texts hurt trust"}},
            "decision": {"decision": {"type": "plain_text_input", "value": "Ship the SMS fix before WhatsApp"}},
            "milestones": {
                "milestones": {"type": "multi_static_select", "selected_options": [{"value": str(tall.id)}]}
            },
            "owner": {"owner": {"type": "users_select", "selected_user": "U1"}},
            "review": {"review": {"type": "datepicker", "selected_date": "2026-11-27"}},
        }
    }
    resp = d.submit_view("learning_modal", state["values"], modal["private_metadata"], view_id="V9")
    assert resp.status == 200
    # a modal from the "Add a learning" button with an empty learning is refused inline
    bad = dict(state, values=dict(state["values"], learning={"learning": {"type": "plain_text_input", "value": " "}}))
    metadata = json.dumps({"run": 1, "channel": "C1"})
    resp = d.submit_view("learning_modal", bad["values"], metadata, user="U2", view_id="V10")
    assert resp.json()["response_action"] == "errors" and "learning" in resp.json()["errors"]
    assert count(running.sf, Learning) == 1
    assert "Ship the SMS fix" in d.command("/loop", "decisions").json()["text"]
    assert "Double texts hurt trust" in d.command("/loop", "learnings Tallwood").json()["text"]
    # next week: the digest opens with the decision, and its buttons record the outcome
    running.clock.now = at(27, 15)
    res = running.deps.digest_runner.run_scheduled(TEAM, "C1")
    week48 = [
        c
        for c in running.slack.calls("chat.postMessage")
        if c.args.get("channel") == "C1" and not c.args.get("thread_ts")
    ][-1]
    review = next(b for b in week48.args["blocks"] if b.get("block_id", "").startswith("review:"))
    assert "Last week's decisions" in all_text([("", week48.args["blocks"])])
    d.interact(
        {
            "type": "block_actions",
            "user": {"id": "U2"},
            "trigger_id": "t3",
            "channel": {"id": "C1"},
            "container": {"type": "message", "channel_id": "C1", "message_ts": res.ts},
            "message": {"ts": res.ts, "text": "digest", "blocks": week48.args["blocks"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": "decision_held",
                    "value": review["elements"][0]["value"],
                    "block_id": review["block_id"],
                    "action_ts": "2",
                }
            ],
        }
    )
    with running.sf() as s:
        row = s.scalar(select(Learning))
        assert (row.outcome, row.outcome_by) == ("held", "U2") and row.outcome_at == running.clock.now
    upd = running.slack.calls("chat.update")[-1].args
    assert upd["ts"] == res.ts and any(
        b.get("block_id") == review["block_id"].replace("review", "reviewed") for b in upd["blocks"]
    )


def test_exactly_one_reminder_when_no_learning_in_two_days(running: Running) -> None:
    scenario(running)
    digest_ts = post_digest(running)
    reminders = running.deps.reminders
    running.clock.advance(days=1)
    assert reminders.send() == 0
    running.clock.advance(days=1, minutes=1)
    assert reminders.send() == 1
    assert reminders.send() == 0
    running.clock.advance(days=3)
    assert reminders.send() == 0
    posted = [
        c
        for c in running.slack.calls("chat.postMessage")
        if c.args.get("thread_ts") == digest_ts and "No learnings yet" in c.args["text"]
    ]
    assert len(posted) == 1


def test_channel_errors_keep_schedule_and_tell_the_team(running: Running) -> None:
    scenario(running)
    running.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1", user="U3")
    running.slack.state.script["chat.postMessage"] = [{"error": "not_in_channel"}]
    res = running.deps.digest_runner.run_scheduled(TEAM, "C1")
    assert res.status == "failed" and res.error == "not_in_channel"
    dm = running.slack.calls("chat.postMessage")[-1]
    assert dm.args["channel"] == "U3" and "/invite @signalloop" in dm.args["text"]
    with running.sf() as s:
        from storage import repo

        assert repo.schedule_for(s, team_id=TEAM, channel_id="C1").enabled
    # once fixed, /loop digest now retakes the failed claim and posts
    running.driver.command("/loop", "digest now", channel="C1", user="U3")

    def status() -> str:
        with running.sf() as s:
            return s.scalar(select(DigestRun.status))

    wait_for(lambda: status() == "posted")


def test_demo_runs_as_a_subprocess_and_prints_the_question(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "entry.cli", "demo", "--db", str(tmp_path / "d.db"), "--chart", str(tmp_path / "c.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert res.returncode == 0, res.stderr
    assert "What are we learning, and what decision does it affect?" in res.stdout
    assert "Last week's decisions" in res.stdout and "Ship the SMS reminder fix" in res.stdout
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # run again over its own database (in this process: the process was the point above)
    again = run_signalloop(
        ["demo", "--db", str(tmp_path / "d.db"), "--chart", str(tmp_path / "c.png")],
        {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=ROOT,
    )
    assert again.returncode == 0 and again.stdout.count("Tallwood Dental Group") == res.stdout.count(
        "Tallwood Dental Group"
    )


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 23, 1, 13, tzinfo=UTC),
        datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 29, 23, 59, tzinfo=UTC),
    ],
)
def test_demo_week_is_whole_whatever_day_it_runs(tmp_path: Path, now: datetime) -> None:
    """Run on a Monday just after midnight, the demo still shows a full sample week, not an empty one."""
    from entry import demo
    from entry.demo_data import TEAM as DEMO_TEAM

    sf, deps, slack, clock = demo.build(str(tmp_path / "d.db"), now=now)
    try:
        assert clock.now <= now and clock.now.weekday() == 4
        with sf() as s:
            dg = deps.digest_runner.build(s, DEMO_TEAM, "C06LEADS", week_at(clock.now))
        assert dg.signal_count > 10 and any(c.signal_count for c in dg.customers)
        assert [x.decision for x in dg.decisions]
    finally:
        slack.stop()


def test_two_schedulers_fire_and_only_the_claim_winner_builds(running: Running) -> None:
    """Two instances' schedulers both fire at the minute; the claim lets one digest through, and the instance
    that lost the claim starts no build at all."""
    from datetime import datetime as real_datetime

    scenario(running)
    running.clock.now = at(20, 15)
    running.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    a, b = make_scheduler(), make_scheduler()
    runner_b = DigestRunner(
        running.deps.settings, running.sf, running.clock, client_for=running.deps.digest_runner.client_for
    )
    jobs_a = DigestJobs(a, running.deps.digest_runner)
    jobs_b = DigestJobs(b, runner_b)
    jobs_a.resync()
    jobs_b.resync()
    a.start()
    b.start()
    try:
        job_id = f"digest:{TEAM}:C1"
        soon = real_datetime.now(UTC) + timedelta(milliseconds=400)
        a.modify_job(job_id, next_run_time=soon)
        b.modify_job(job_id, next_run_time=soon)

        def top_posts() -> list:
            return [
                c
                for c in running.slack.calls("chat.postMessage")
                if c.args["channel"] == "C1" and not c.args.get("thread_ts")
            ]

        wait_for(top_posts)
        # both schedulers have fired (each has moved its job to next week), their jobs and the digests they
        # queued have finished
        wait_for(lambda: all(sched.get_job(job_id).next_run_time > soon for sched in (a, b)))
        for sched, runner in ((a, running.deps.digest_runner), (b, runner_b)):
            sched.shutdown(wait=True)
            runner.pool.shutdown(wait=True)
        with running.sf() as s:
            runs = s.scalars(select(DigestRun)).all()
        builds = running.deps.digest_runner.builds + runner_b.builds
        figure(f"schedulers 2, builds {builds}, digest runs {len(runs)}, digests posted {len(top_posts())}")
        assert len(top_posts()) == 1 and len(runs) == 1 and runs[0].status == "posted"
        assert builds == 1
    finally:
        for sched in (a, b):
            if sched.running:
                sched.shutdown(wait=False)
        runner_b.close()


def test_huge_week_caps_the_thread_and_attaches_the_whole_digest(running: Running) -> None:
    r = running
    r.clock.now = at(16, 8)
    for i in range(90):
        r.driver.command("/loop", f"customer add Customer {i:02d}")
        for j in range(3):
            # three different problems (near-identical ones would be folded into one line, rightly)
            what = ["the export times out", "invoices are missing the VAT line", "the calendar sync drops bookings"][j]
            r.driver.command("/signal", f"Customer {i:02d} {what} at site {i}-{j}")
    r.clock.now = at(20, 15)
    r.slack.reset()
    res = r.deps.digest_runner.post(TEAM, "C4", WEEK47, late=False, requested_by=None)
    posts = [c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C4"]
    assert res.status == "posted" and len(posts) == 1 + MAX_THREAD_MESSAGES
    assert "the whole digest is in the attached file" in all_text([("", posts[-1].args["blocks"])])
    uploads = r.slack.calls("files.getUploadURLExternal")
    assert len(uploads) == 1 and uploads[0].args["filename"] == "signalloop-2026-W47-digest.txt"
    with r.sf() as s:
        full = digest_text(r.deps.digest_runner.build(s, TEAM, "C4", WEEK47))
    for i in range(90):
        for j in range(3):
            assert f"site {i}-{j}" in full


def test_gc_paused_restores_the_collector_whatever_happens() -> None:
    import gc

    from bot.digest import gc_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
        raise RuntimeError("a failing build")
    assert gc.isenabled()
    gc.disable()  # an operator who turned it off keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_counts_read_as_english() -> None:
    start, end = WEEK47.bounds()
    dg = Digest(TEAM, "C1", WEEK47, "UTC", start, end, "customer", signal_count=1, people=1, achieved_count=1)
    [(fallback, blocks), *_] = digest_messages(dg, 1)
    assert fallback.endswith("1 signal")
    assert "1 signal from 1 person (last week 0) · 1 milestone achieved" in all_text([("", blocks)])
    assert plural(2, "person", "people") == "2 people" and plural(0, "week") == "0 weeks"
