"""Close the loop: authors hear what came of their signals, nudges arrive in time, teams steer their digest,
milestones can be kept right, and commands never invent customers from typos."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from devtools.fakeopenai import FakeOpenAI, good_answer
from storage.models import CustomerTold, Milestone, MilestoneEvent, Nudge, Signal
from tests.conftest import TEAM, Running
from tests.helpers import count
from tests.scenario.test_digest import all_text, at, ts
from tests.scenario.test_truth import button, digest_text, submit


def dms(r: Running, user: str) -> list:
    return [c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == user]


def text_of(call) -> str:  # noqa: ANN001
    return call.args.get("text", "") + "\n" + all_text([("", call.args.get("blocks") or [])])


def setup_customer(r: Running) -> None:
    r.clock.now = at(16, 9)
    r.driver.command("/loop", "customer add Tallwood Dental Group segment multi-site")
    r.driver.command("/loop", "customer alias Tallwood Dental Group Tallwood")
    r.driver.command("/loop", "link Tallwood Dental Group", channel="C1")
    r.slack.state.users["U9"] = {"id": "U9", "name": "kenji", "tz": "Asia/Tokyo", "profile": {"display_name": "Kenji"}}


def test_the_author_of_a_tied_signal_hears_when_its_milestone_is_achieved(running: Running) -> None:
    r = running
    setup_customer(r)
    r.driver.command("/signal", "Tallwood #2 cancelled slots still go to the wrong patients", user="U2")
    r.driver.command("/signal", "Tallwood #2 the waiting list is emailed by hand", user="U3")
    r.driver.command("/signal", "Tallwood #2 patients ask for a same-day slot", user="U9")
    r.driver.command("/signal", "Tallwood #3 reminders confuse patients", user="U2")
    button(r, "home_dm_opt_out", "off", user="U3")  # U3 turned these messages off in App Home
    assert r.deps.directory.drain()
    r.clock.now = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)  # 14:00 in London, 23:00 in Tokyo
    r.driver.command("/milestone", "done Tallwood 2", user="U1")
    r.driver.command("/milestone", "done Tallwood 3", user="U1")  # a second outcome for U2, the same day
    r.slack.reset()
    r.deps.outbox.send_due()
    [dm] = dms(r, "U2")  # one message with both outcomes, quoting their own signals
    body = text_of(dm)
    assert "cancelled slots still go to the wrong patients" in body and "reminders confuse patients" in body
    assert "Cancelled slots are offered" in body and "Patients confirm or move" in body
    assert not dms(r, "U3")  # opted out
    # U1 raised nothing: no "what came of it", only the prompt to tell the customer (it owns the milestone now)
    assert [c.args["text"].split(":")[0] for c in dms(r, "U1")] == ["Tell Tallwood Dental Group"] * 2
    assert not dms(r, "U9")  # night in Tokyo: queued to 09:00 there
    r.clock.now = datetime(2026, 11, 19, 0, 1, tzinfo=UTC)  # 09:01 in Tokyo
    r.deps.outbox.send_due()
    [kenji] = dms(r, "U9")
    assert "patients ask for a same-day slot" in text_of(kenji)
    # reopened and achieved again: nobody hears about the same milestone twice
    r.clock.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    r.driver.command("/milestone", "reopen Tallwood 3")
    r.driver.command("/milestone", "done Tallwood 3")
    r.slack.reset()
    r.deps.outbox.send_due()
    assert not dms(r, "U2")


def test_a_decision_reaches_the_people_behind_its_signals_and_the_owner_tells_the_customer(running: Running) -> None:
    r = running
    setup_customer(r)
    r.driver.command("/loop", "customer owner Tallwood <@U4|lee>")
    r.driver.message("C1", "Double texts are hurting trust with older patients", user="U2", ts=ts(17, 10))
    r.clock.now = at(18, 12)
    with r.sf() as s:
        from storage.models import Customer

        tall = s.scalar(select(Customer))
    submit(
        r,
        "learning_modal",
        {
            "learning": {"learning": {"type": "plain_text_input", "value": "Double texts hurt trust"}},
            "decision": {"decision": {"type": "plain_text_input", "value": "Ship the SMS fix before WhatsApp"}},
            "customers": {"customers": {"type": "multi_static_select", "selected_options": [{"value": str(tall.id)}]}},
        },
        json.dumps({"channel": "C1"}),
    )
    r.slack.reset()
    r.deps.outbox.send_due()
    [dm] = dms(r, "U2")
    assert "Ship the SMS fix before WhatsApp" in text_of(dm) and "Double texts are hurting trust" in text_of(dm)
    [prompt] = dms(r, "U4")  # the owner: "tell the customer", with a suggested message and a button
    assert "Tell Tallwood Dental Group" in prompt.args["text"] and "Suggested message" in text_of(prompt)
    told = prompt.args["blocks"][0]["accessory"]
    assert told["action_id"] == "customer_told"
    with r.sf() as s:
        assert s.scalar(select(CustomerTold.told_at)) is None
    r.clock.now = at(20, 15)
    assert "Not told yet" in digest_text(r, "C1")
    button(r, "customer_told", told["value"], user="U4")
    with r.sf() as s:
        row = s.scalar(select(CustomerTold))
        assert row.told_by == "U4" and row.told_at is not None
    assert "Told the customer" in digest_text(r, "C1")


def test_a_burst_of_problems_nudges_once_a_day(running: Running) -> None:
    r = running
    setup_customer(r)
    r.clock.now = at(18, 10)
    for i, text in enumerate(
        [
            "The export failed again",
            "Reminders went out twice",
            "Login is broken for the front desk",
            "The calendar sync is down",
        ]
    ):
        r.driver.message("C1", text, user="U2", ts=ts(18, 9, i))
    r.slack.reset()
    r.deps.nudger.run()
    [nudge] = [c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C1"]  # no owner: the channel
    body = text_of(nudge)
    assert "Tallwood Dental Group" in body and "The calendar sync is down" in body and "/loop nudges burst off" in body
    r.driver.message("C1", "And now invoices are wrong", user="U3", ts=ts(18, 9, 9))
    r.clock.now = at(18, 11)
    r.deps.nudger.run()
    assert len([c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C1"]) == 1
    # the settings: off, and a stricter threshold, each said back
    assert "off" in r.driver.command("/loop", "nudges burst off").json()["text"]
    assert "6 problems" in r.driver.command("/loop", "nudges burst 6 in 12h").json()["text"]
    assert "burst* (on)" in r.driver.command("/loop", "nudges").json()["text"]
    assert r.driver.command("/loop", "nudges burst 1 in 900h").json()["text"].startswith("A burst is")
    assert r.driver.command("/loop", "nudges loud").json()["text"].startswith("Usage:")


def test_a_stalled_milestone_nudges_its_owner_weekly_with_buttons(running: Running) -> None:
    r = running
    setup_customer(r)
    r.driver.command("/milestone", "owner Tallwood 1 <@U4|lee>")
    r.driver.command("/milestone", "start Tallwood 1")
    r.clock.now = at(18, 10) + timedelta(days=20)  # 20 days without a change
    r.driver.message("C1", "all fine here", user="U2", ts=f"{r.clock.now.timestamp():.0f}.000100")
    r.slack.reset()
    r.deps.nudger.run()
    r.deps.outbox.send_due()
    [nudge] = dms(r, "U4")
    assert "Stalled" in text_of(nudge) and "/loop nudges stalled off" in text_of(nudge)
    actions = next(b for b in nudge.args["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == ["ms_on_track", "ms_risk", "ms_done"]
    r.deps.nudger.run()
    r.deps.outbox.send_due()
    assert len(dms(r, "U4")) == 1  # once a week
    button(r, "ms_on_track", actions["elements"][0]["value"], user="U4", channel="D1")
    with r.sf() as s:
        m = s.scalar(select(Milestone).where(Milestone.position == 1))
        assert m.status_changed_at == r.clock.now
        assert s.scalar(select(MilestoneEvent.reason).order_by(MilestoneEvent.id.desc())) == "confirmed on track"
    assert count(r.sf, Nudge) == 1


def test_a_focus_leads_the_digest_and_reaches_the_model_as_data(start_app) -> None:  # noqa: ANN001
    model = FakeOpenAI().start()
    try:
        r: Running = start_app(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model.base_url)
        setup_customer(r)
        r.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
        r.clock.now = at(18, 10)
        r.driver.message("C1", "The export failed again", user="U2", ts=ts(18, 10, 1))
        r.driver.message("C1", "Onboarding new receptionists takes two weeks", user="U3", ts=ts(18, 10, 2))
        r.clock.now = at(20, 15)
        before = digest_text(r, "C1")
        assert before.index("The export failed again") < before.index("Onboarding new receptionists")
        too_long = r.driver.command("/loop", "digest focus " + "x" * 400, channel="C1").json()["text"]
        assert "Keep the focus under 300 characters" in too_long
        resp = r.driver.command("/loop", "digest focus onboarding friction", channel="C1").json()
        assert "onboarding friction" in resp["text"]
        after = digest_text(r, "C1")
        assert "Focus: “onboarding friction”" in after
        assert after.index("Onboarding new receptionists") < after.index("The export failed again")
        model.script = [good_answer]
        r.deps.digest_runner.run_scheduled(TEAM, "C1")
        system, user = (m["content"] for m in model.requests[0]["messages"])
        assert "focus" in system and "never an instruction" in system
        assert '```json\n{"focus": "onboarding friction"}\n```' in user  # fenced as data
        assert "x" * 400 not in user
        assert "no focus" in r.driver.command("/loop", "digest focus off", channel="C1").json()["text"]
    finally:
        model.stop()


def test_milestones_people_can_keep_right(running: Running) -> None:
    r = running
    setup_customer(r)
    d = r.driver
    d.command("/signal", "Tallwood #2 waiting list offers are slow", user="U2")
    # malformed: answered, nothing written
    for text, expect in [
        ("rename Tallwood 2", "Give the new title"),
        ('rename Tallwood 9 "x"', "has no milestone 9"),
        ("move Tallwood 2", "new position"),
        ("move Tallwood 2 9", "pick a position"),
        ("move Tallwood 2 2", "already at position"),
        ("remove Tallwood", "Which milestone"),
        ("remove Tallwood 2 now", "Unexpected"),
        ("ask Tallwood 2", "Say what to ask"),
        ("finish Tallwood 1", "Unknown command `/milestone finish`"),
    ]:
        before = count(r.sf, MilestoneEvent)
        assert expect in d.command("/milestone", text).json()["text"], text
        assert count(r.sf, MilestoneEvent) == before, text
    # rename with an apostrophe and Slack's typographic quotes
    out = d.command("/milestone", "rename Tallwood 2 “Nurses see tomorrow's rota on their phones”").json()["text"]
    assert "is now “Nurses see tomorrow's rota on their phones”" in out
    renamed = d.command("/milestone", 'rename Tallwood 3 "Front desk can fill a gap without calling anyone"').json()
    assert "is now “Front desk can fill a gap without calling anyone”" in renamed["text"]
    # a vendor-shaped title gets the rewrite one click away
    resp = d.command("/milestone", 'rename Tallwood 4 "Training complete"').json()
    assert any(b.get("block_id", "").startswith("rename:") for b in resp["blocks"])
    assert "moved from 4 to 1" in d.command("/milestone", "move Tallwood 4 1").json()["text"]
    with r.sf() as s:
        order = [
            m.title
            for m in s.scalars(select(Milestone).where(Milestone.removed_at.is_(None)).order_by(Milestone.position))
        ]
    assert order[0] == "Training complete" and order[2] == "Nurses see tomorrow's rota on their phones"
    out = d.command("/milestone", "remove Tallwood 3").json()["text"]
    assert "Removed “Nurses see tomorrow's rota" in out and "1 signal tied to it" in out
    with r.sf() as s:
        assert s.scalar(select(func.count()).select_from(Signal).where(Signal.milestone_id.is_not(None))) == 0
        live = s.scalars(
            select(Milestone.position).where(Milestone.removed_at.is_(None)).order_by(Milestone.position)
        ).all()
        assert live == [1, 2, 3]  # numbered again without a gap; the removed one keeps its history
    out = d.command("/milestone", "ask Tallwood 1 expansion offer the analytics add-on").json()["text"]
    assert "an expansion ask" in out
    card = d.command("/milestone", "Tallwood").json()["blocks"]
    header = card[0]["text"]["text"]
    assert "milestone 1 of 3 (0 achieved)" in header
    # the removed milestone is in the history, not on the card or among the buttons
    shown = json.dumps(card)
    assert "Nurses see tomorrow" not in shown and "-" + "1." not in shown


def test_commands_never_invent_customers_from_typos(running: Running) -> None:
    r = running
    setup_customer(r)
    out = r.driver.command("/signal", "Fenwick Harbour Lines asked for a demo").json()["text"]
    assert "No customer named “Fenwick Harbour Lines”" in out and "customer add Fenwick Harbour Lines" in out
    assert "Unknown command `/loop finish`" in r.driver.command("/loop", "finish Tallwood").json()["text"]
    assert "Did you mean `digest`" in r.driver.command("/loop", "digets now").json()["text"]
    assert count(r.sf, Signal) == 0


def test_templates_replies_and_owner_commands(running: Running) -> None:
    r = running
    setup_customer(r)
    d = r.driver
    assert "`smb`" in d.command("/loop", "template").json()["text"]
    added = d.command("/loop", 'template add clinics "Patients book online without calling"').json()["text"]
    assert "Template `clinics` now has 1 milestone;" in added
    assert "Patients book online" in d.command("/loop", "template show clinics").json()["text"]
    d.command("/loop", "customer add Riverside segment clinics")
    blocks = d.command("/milestone", "Riverside").json()["blocks"]
    assert "1. Patients book online without calling" in all_text([("", blocks)])
    assert "has milestones 1–1" in d.command("/loop", "template remove clinics 4").json()["text"]
    assert "thread" in d.command("/loop", "replies on", channel="C1").json()["text"]
    assert "isn't linked" in d.command("/loop", "replies on", channel="C3").json()["text"]
    assert "Mention the owner" in d.command("/loop", "customer owner Tallwood someone").json()["text"]
