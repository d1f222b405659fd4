"""Where the app and the real Slack disagreed (issue 25, part B), each driven through signed HTTP against devtools'
Slack server: the shortcut's own message, the reaction path without history reads, other bots' edits, the
events cap, more than 100 customers, domain-like names and a channel whose id changes."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from sqlalchemy import select

from storage import repo
from storage.models import Customer, EventGap, Learning, Signal
from tests.conftest import TEAM, Response, Running
from tests.helpers import count, ephemeral_text, signals, wait_for


def setup_acme(r: Running) -> None:
    assert r.driver.command("/loop", "customer add Acme Health segment smb").status == 200
    assert r.driver.command("/loop", "customer add Tallwood Dental Group segment multi-site").status == 200
    r.driver.command("/loop", "customer alias Tallwood Dental Group Tallwood")
    r.driver.command("/loop", "link Acme Health", channel="C1")
    r.driver.command("/loop", "watch", channel="C2")


def edit_event(channel: str, message: dict) -> dict:
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "message": {**message, "edited": {"user": message.get("user") or "B9", "ts": "1763460100.000000"}},
        "previous_message": {"ts": message["ts"]},
        "ts": "1763460100.000001",
        "channel_type": "channel",
    }


def test_another_integrations_edit_is_not_a_customer_signal(running: Running) -> None:
    """message_changed of a bot's message (another integration's, or the app's own) records nothing."""
    setup_acme(running)
    d = running.driver
    bot = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B9",
        "text": "Acme Health: build failed",
        "ts": "1763460011.000100",
    }
    assert d.event(edit_event("C1", bot)).status == 200
    own = {
        "type": "message",
        "user": "UBOT",
        "bot_id": "BBOT",
        "app_id": "A1",
        "text": "Acme digest",
        "ts": "1763460012.000100",
    }
    assert d.event(edit_event("C1", own)).status == 200
    watch = {
        "type": "message",
        "bot_id": "B7",
        "user": "U9BOT",
        "text": "Tallwood ticket #4 updated",
        "ts": "1763460013.000100",
    }
    assert d.event(edit_event("C2", watch)).status == 200
    assert count(running.sf, Signal) == 0
    # a person's edit still counts: the same shape with a person's message records it
    person = {"type": "message", "user": "U2", "text": "Acme Health: exports fail", "ts": "1763460014.000100"}
    assert d.event(edit_event("C1", person)).status == 200
    [sig] = signals(running.sf)
    assert (sig.message_ts, sig.user_id) == ("1763460014.000100", "U2")


def test_a_customer_named_like_a_domain_resolves_when_slack_sends_a_link(running: Running) -> None:
    """With escaping on, Slack sends `acme.io` as `<http://acme.io|acme.io>`: the name is its label."""
    d = running.driver
    reply = ephemeral_text(d.command("/loop", "customer add <http://acme.io|acme.io>"))
    assert "Added *acme.io*" in reply
    r = d.command("/milestone", "<http://acme.io|acme.io>")
    assert r.status == 200 and "No customer" not in r.body and "acme.io" in r.body
    r = d.command("/milestone", 'add <http://acme.io|acme.io> "SSO works for every depot"')
    assert "No customer" not in r.body, r.body
    r = d.command("/signal", "<http://acme.io|acme.io> wants SSO, see <https://x.example/t/1|the ticket>")
    assert "Recorded for *acme.io*" in ephemeral_text(r)
    [sig] = signals(running.sf)
    # only the name is read as a label: the rest of the text keeps its link
    assert "https://x.example/t/1" in sig.text
    # a plain-typed name (escaping off) still resolves too
    assert "No customer" not in d.command("/milestone", "acme.io").body


# --- 1. the message shortcut uses the message in its payload ------------------------------------------------


def shortcut(r: Running, channel: str, msg: dict) -> dict:
    """The shortcut on `msg` as Slack sends it (the message is in the payload); the modal the app opened."""
    before = len(r.slack.calls("views.open"))
    resp = r.driver.interact(
        {
            "type": "message_action",
            "callback_id": "record_signal",
            "trigger_id": f"trig-{msg['ts']}",
            "user": {"id": "U1"},
            "channel": {"id": channel, "name": "somewhere"},
            "message": msg,
            "message_ts": msg["ts"],
            "response_url": r.driver.response_base + "response/sc",
        }
    )
    assert resp.status == 200, resp.body
    opened = wait_for(lambda: r.slack.calls("views.open")[before:])
    return opened[0].args["view"]


def submit(r: Running, view: dict, selected: dict, kind: str = "auto") -> Response:
    values = {
        "customer": {"customer": {"type": "external_select", "selected_option": selected}},
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": kind}}},
        "note": {"note": {"type": "plain_text_input", "value": None}},
    }
    return r.driver.submit_view("capture_modal", values, view["private_metadata"], blocks=view["blocks"])


def outside(r: Running, channel: str, private: bool = False) -> None:
    """A channel the app was not added to: the simulator answers not_in_channel (channel_not_found if private)."""
    r.slack.state.channels[channel] = {"id": channel, "name": "partners", "is_private": private, "is_member": False}


def no_history_reads(r: Running) -> bool:
    return not r.slack.calls("conversations.history") and not r.slack.calls("conversations.replies")


def test_the_shortcut_records_from_its_payload_where_the_app_cannot_read_history(running: Running) -> None:
    """The app is not in the channel (history answers not_in_channel): the shortcut's message still records, a
    long one too (kept server-side past the 3000 characters of private_metadata), without one history read."""
    setup_acme(running)
    outside(running, "C9")
    short = {"type": "message", "ts": "1763460020.000100", "user": "U2", "text": "Acme Health: SSO &amp; SCIM, please"}
    view = shortcut(running, "C9", short)
    assert len(view["private_metadata"]) <= 3000
    picked = next(b for b in view["blocks"] if b.get("block_id") == "customer")["element"]
    assert picked["type"] == "external_select" and picked["initial_option"]["text"]["text"] == "Acme Health"
    resp = submit(running, view, picked["initial_option"])
    assert resp.status == 200 and not resp.body, resp.body
    long_text = "Tallwood: " + " ".join(f"clinic {i} reports double reminders." for i in range(110))
    assert 3000 < len(long_text) < 4000
    long = {"type": "message", "ts": "1763460021.000100", "user": "U3", "text": long_text, "thread_ts": "1763460001.1"}
    view = shortcut(running, "C9", long)
    assert len(view["private_metadata"]) <= 3000
    picked = next(b for b in view["blocks"] if b.get("block_id") == "customer")["element"]
    assert submit(running, view, picked["initial_option"], kind="problem").status == 200
    sigs = signals(running.sf)
    assert [(s.channel_id, s.message_ts, s.capture_path) for s in sigs] == [
        ("C9", "1763460020.000100", "shortcut"),
        ("C9", "1763460021.000100", "shortcut"),
    ]
    assert sigs[0].text == "Acme Health: SSO & SCIM, please"  # as typed, not as Slack escapes it
    assert sigs[1].text == long_text and sigs[1].thread_ts == "1763460001.1" and sigs[1].user_id == "U3"
    assert sigs[1].kind == "problem"
    assert no_history_reads(running)
    # the channel's privacy is asked of Slack after the answer (taken as private until then): a public channel
    assert running.deps.after.wait_idle()
    assert [s.is_private for s in signals(running.sf)] == [False, False]


def test_a_capture_form_without_its_message_asks_for_the_shortcut_again(running: Running) -> None:
    """A modal opened before this change carries only channel and ts: it is refused inline, nothing written."""
    setup_acme(running)
    with running.sf() as s:
        acme = s.scalar(select(Customer).where(Customer.name == "Acme Health"))
        option = {"text": {"type": "plain_text", "text": acme.name}, "value": str(acme.id)}
    resp = submit(running, {"private_metadata": json.dumps({"c": "C3", "ts": "1.1"}), "blocks": []}, option)
    assert resp.json()["response_action"] == "errors"
    assert "use the shortcut again" in resp.json()["errors"]["customer"]
    assert count(running.sf, Signal) == 0 and no_history_reads(running)


# --- 2. the reaction path: stored signal, else seen, else one paced history read ------------------------------


def react(r: Running, channel: str, ts: str, user: str = "U1") -> Response:
    return r.driver.event(
        {
            "type": "reaction_added",
            "user": user,
            "reaction": "memo",
            "item": {"type": "message", "channel": channel, "ts": ts},
        }
    )


def test_a_reaction_uses_the_stored_signal_or_the_message_already_seen(running: Running) -> None:
    setup_acme(running)
    d = running.driver
    d.message("C1", "Acme Health exports fail on Mondays", ts="1763460030.000100")  # a signal already
    d.message("C3", "Tallwood asked for a waiting list", ts="1763460031.000100")  # seen, not a signal (C3 unlinked)
    assert count(running.sf, Signal) == 1
    assert react(running, "C1", "1763460030.000100").status == 200
    assert react(running, "C3", "1763460031.000100").status == 200
    texts = [
        c.args["text"]
        for c in wait_for(
            lambda: running.slack.calls("chat.postEphemeral")[1:] and running.slack.calls("chat.postEphemeral")
        )
    ]
    assert "Already a signal for *Acme Health*" in texts[0]
    assert "Recorded as a signal for *Tallwood Dental Group*" in texts[1]
    sigs = signals(running.sf)
    assert [(s.channel_id, s.capture_path, s.recorded_by) for s in sigs] == [
        ("C1", "channel", None),
        ("C3", "reaction", "U1"),
    ]
    assert sigs[1].text == "Tallwood asked for a waiting list" and sigs[1].user_id == "U2"
    assert no_history_reads(running)


def test_a_reaction_on_an_unseen_message_is_read_once_paced_after_the_answer(start_app) -> None:  # noqa: ANN001
    """A distributed app may read history once a minute: the first read goes after the answer, the second waits
    for the next minute (the person is told), a 429 is waited out; each read is one request of one message."""
    r = start_app(SIGNALLOOP_SLACK_DISTRIBUTION="distributed")
    # the simulator holds the app to the same limit, on the test's clock
    r.slack.state.app_distribution = "distributed"
    r.slack.state.monotonic = lambda: r.clock().timestamp()
    setup_acme(r)
    r.slack.state.messages["C3"] = [
        {"type": "message", "ts": f"176346004{i}.000100", "user": "U2", "text": f"Tallwood note {i}: reminders twice"}
        for i in range(3)
    ]
    answered = threading.Event()
    read_after_answer: list[bool] = []

    def on_call(method: str, args: dict) -> None:
        if method == "conversations.history":
            read_after_answer.append(answered.wait(timeout=5))

    r.slack.state.on_call = on_call
    assert react(r, "C3", "1763460040.000100").status == 200
    answered.set()
    wait_for(lambda: count(r.sf, Signal) == 1)
    assert read_after_answer == [True]
    # a minute has not passed: the second read waits, and the person is told
    assert react(r, "C3", "1763460041.000100").status == 200
    told = wait_for(lambda: [c for c in r.slack.calls("chat.postEphemeral") if "in a moment" in c.args["text"]])
    assert told[0].args["user"] == "U1"
    assert len(r.slack.calls("conversations.history")) == 1 and count(r.sf, Signal) == 1
    # someone else reacts to the same message meanwhile: it rides on the read already queued
    assert react(r, "C3", "1763460041.000100", user="U4").status == 200
    r.slack.state.script["conversations.history"] = [{"status": 429, "retry_after": 30}]
    r.clock.advance(seconds=61)
    r.deps.history.wake()
    wait_for(lambda: len(r.slack.calls("conversations.history")) == 2)  # answered 429: again in 30 s
    assert count(r.sf, Signal) == 1
    r.clock.advance(seconds=31)
    r.deps.history.wake()
    wait_for(lambda: count(r.sf, Signal) == 2)
    reads = r.slack.calls("conversations.history")
    assert len(reads) == 3 and all(int(c.args.get("limit", 0)) <= 15 for c in reads)
    assert all(read_after_answer)
    wait_for(r.deps.history.idle)
    assert r.deps.after.wait_idle()
    to_u4 = [c.args["text"] for c in r.slack.calls("chat.postEphemeral") if c.args["user"] == "U4"]
    assert "in a moment" in to_u4[0] and "Already a signal" in to_u4[1], to_u4
    assert count(r.sf, Signal) == 2


def test_a_reaction_where_the_app_cannot_read_says_invite_me(running: Running) -> None:
    setup_acme(running)
    outside(running, "C9")
    outside(running, "G9", private=True)
    assert react(running, "C9", "1763460050.000100").status == 200
    assert react(running, "G9", "1763460051.000100").status == 200
    wait_for(running.deps.history.idle)
    # not a member: no ephemeral can reach the channel, so the person hears it by DM
    dms = wait_for(lambda: [c for c in running.slack.calls("chat.postMessage") if c.args["channel"] == "U1"][1:])
    assert all("/invite @signalloop" in c.args["text"] for c in dms)
    assert count(running.sf, Signal) == 0


# --- 3. (above) other integrations' edits; 4. app_rate_limited -------------------------------------------------


def test_app_rate_limited_is_answered_logged_and_the_lost_minutes_read_back(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """Past 30,000 events an hour Slack sends app_rate_limited instead of the events: 200 (not Bolt's 404), a log
    line with the minute it began, and once events flow again the linked and watch channels are read back from
    that minute, after the answer, each message stored once."""
    setup_acme(running)
    running.driver.message("C1", "Acme Health: exports fail", ts="1763460059.000100")  # arrived as an event
    minute = 1763460060
    held_back = {
        "C1": [
            {"type": "message", "ts": "1763460059.000100", "user": "U2", "text": "Acme Health: exports fail"},
            {"type": "message", "ts": "1763460061.000100", "user": "U2", "text": "Exports still fail after the fix"},
        ],
        "C2": [
            {"type": "message", "ts": "1763460062.000100", "user": "U3", "text": "Tallwood wants a waiting list"},
            {"type": "message", "ts": "1763460063.000100", "user": "U3", "text": "Lunch at noon?"},
            {
                "type": "message",
                "subtype": "bot_message",
                "bot_id": "B9",
                "ts": "1763460064.000100",
                "text": "Tallwood CI",
            },
        ],
    }
    running.slack.state.messages.update(held_back)
    notice = {
        "token": "x",
        "type": "app_rate_limited",
        "team_id": TEAM,
        "minute_rate_limited": minute,
        "api_app_id": "A1",
    }
    with caplog.at_level(logging.WARNING, logger="bot.backfill"):
        resp = running.driver.post(json.dumps(notice), "application/json")
        assert resp.status == 200
        assert running.driver.post(json.dumps(notice), "application/json").status == 200  # noted once
    [line] = [r.getMessage() for r in caplog.records if "app_rate_limited" in r.getMessage()]
    assert "2025-11-18T10:01:00+00:00" in line and TEAM in line
    # still held back: nothing is read while Slack sends nothing
    assert no_history_reads(running) and count(running.sf, Signal) == 1
    # the first event after the notice: events flow again
    assert running.driver.message("C3", "hello again", ts="1763460070.000100").status == 200
    wait_for(lambda: count(running.sf, Signal) == 3)
    wait_for(running.deps.history.idle)
    sigs = signals(running.sf)
    assert sorted(s.message_ts for s in sigs) == ["1763460059.000100", "1763460061.000100", "1763460062.000100"]
    reads = running.slack.calls("conversations.history")
    assert sorted(c.args["channel"] for c in reads) == ["C1", "C2"]
    assert all(float(c.args["oldest"]) == minute for c in reads)
    with running.sf() as s:
        [gap] = s.scalars(select(EventGap)).all()
        assert gap.done_at is not None
    # later events do not read again
    running.driver.message("C3", "and again", ts="1763460071.000100")
    assert len(running.slack.calls("conversations.history")) == 2


# --- 5. more than 100 customers --------------------------------------------------------------------------------


def suggest(r: Running, action_id: str, value: str, block_id: str = "customer") -> list[dict]:
    resp = r.driver.interact(
        {"type": "block_suggestion", "user": {"id": "U1"}, "action_id": action_id, "block_id": block_id, "value": value}
    )
    assert resp.status == 200, resp.body
    return resp.json()["options"]


def test_more_than_100_customers_are_searched_wherever_a_customer_is_picked(running: Running) -> None:
    d = running.driver
    d.command("/loop", "customer add Zephyr Logistics")
    d.command("/loop", "customer alias Zephyr Logistics ZL")
    with running.sf.begin() as s:
        for i in range(130):
            repo.add_customer(
                s, team_id=TEAM, name=f"Customer {i:03d}", key=f"customer {i:03d}", segment=None, now=running.clock()
            )
        repo.bump_routing(s, team_id=TEAM)
    # the shortcut on a message about the 121st customer by name: a modal, with that customer chosen
    view = shortcut(
        running,
        "C3",
        {"type": "message", "ts": "1763460080.000100", "user": "U2", "text": "Customer 120 says exports are slow"},
    )
    el = next(b for b in view["blocks"] if b.get("block_id") == "customer")["element"]
    assert el["type"] == "external_select" and "options" not in el
    assert el["initial_option"]["text"]["text"] == "Customer 120"
    # the search: names and aliases, at most 100 options
    assert len(suggest(running, "customer", "")) == 100
    names = [o["text"]["text"] for o in suggest(running, "customer", "customer 12")]
    assert names == [f"Customer {i}" for i in range(120, 130)]
    assert [o["text"]["text"] for o in suggest(running, "customer", "zl")] == ["Zephyr Logistics"]
    assert [o["text"]["text"] for o in suggest(running, "customer", "logist")] == ["Zephyr Logistics"]
    assert [o["text"]["text"] for o in suggest(running, "customer", "zephir")] == ["Zephyr Logistics"]  # near miss
    chosen = suggest(running, "customer", "customer 129")[0]
    assert submit(running, view, chosen).status == 200
    [sig] = signals(running.sf)
    with running.sf() as s:
        assert s.get(Customer, sig.customer_id).name == "Customer 129"
    # the reaction's picker and the learning modal search the same way
    react(running, "C3", "1763460081.000100")
    running.slack.state.messages["C3"] = [
        {"type": "message", "ts": "1763460081.000100", "user": "U2", "text": "no name"}
    ]
    react(running, "C3", "1763460081.000100")
    picker = wait_for(lambda: [c for c in running.slack.calls("chat.postEphemeral") if c.args.get("blocks")])
    assert picker[0].args["blocks"][1]["elements"][0]["type"] == "external_select"
    assert len(suggest(running, "capture_pick_customer", "customer", picker[0].args["blocks"][1]["block_id"])) == 100
    d.interact(
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "trigger_id": "trig-learning",
            "channel": {"id": "C1"},
            "actions": [{"type": "button", "action_id": "add_learning", "value": "0", "block_id": "b"}],
        }
    )
    learning = wait_for(
        lambda: [c for c in running.slack.calls("views.open") if c.args["view"]["callback_id"] == "learning_modal"]
    )
    el = next(b for b in learning[0].args["view"]["blocks"] if b.get("block_id") == "customers")["element"]
    assert el["type"] == "multi_external_select" and "options" not in el
    zephyr = suggest(running, "customers", "zep", "customers")
    assert [o["text"]["text"] for o in zephyr] == ["Zephyr Logistics"]
    last = suggest(running, "customers", "customer 129", "customers")
    state = {
        "values": {
            "learning": {"learning": {"type": "plain_text_input", "value": "Big customers want SSO first"}},
            "customers": {"customers": {"type": "multi_external_select", "selected_options": zephyr + last}},
            "owner": {"owner": {"type": "users_select", "selected_user": "U1"}},
        }
    }
    view = learning[0].args["view"]
    resp = d.submit_view("learning_modal", state["values"], view["private_metadata"], view_id="V7")
    assert resp.status == 200 and not resp.body, resp.body
    with running.sf() as s:
        [row] = s.scalars(select(Learning)).all()
        names = sorted(s.get(Customer, lc.customer_id).name for lc in row.customers)
        assert names == ["Customer 129", "Zephyr Logistics"]


# --- 6. (above) domain-like names; 7. channel_id_changed -------------------------------------------------------


def test_a_channel_whose_id_changes_keeps_its_links_schedule_and_signals(running: Running) -> None:
    """A private channel shared through Slack Connect gets a new id (channel_id_changed): everything follows."""
    setup_acme(running)
    d = running.driver
    assert "now belongs to" in ephemeral_text(d.command("/loop", "link Tallwood Dental Group", channel="G1"))
    d.command("/loop", "digest schedule friday 15:00 UTC", channel="G1")
    d.message("G1", "Double reminders again at Elm Street", ts="1763460090.000100", channel_type="group")
    assert running.deps.directory.drain()
    [before] = [s for s in signals(running.sf) if s.channel_id == "G1"]
    assert (
        d.event(
            {
                "type": "channel_id_changed",
                "old_channel_id": "G1",
                "new_channel_id": "C1NEW",
                "event_ts": "1763460095.000100",
            }
        ).status
        == 200
    )
    [after] = [s for s in signals(running.sf) if s.message_ts == "1763460090.000100"]
    assert (after.id, after.channel_id, after.is_private) == (before.id, "C1NEW", True)
    assert after.permalink and "/archives/C1NEW/" in after.permalink
    with running.sf() as s:
        assert repo.channel_link(s, team_id=TEAM, channel_id="G1") is None
        assert repo.channel_link(s, team_id=TEAM, channel_id="C1NEW").customer.name == "Tallwood Dental Group"
        assert (
            repo.schedule_for(s, team_id=TEAM, channel_id="G1") is None
            and repo.schedule_for(s, team_id=TEAM, channel_id="C1NEW") is not None
        )
    # the very next message under the new id is routed by the moved link (routing_version bumped)
    d.message("C1NEW", "Waiting list offers are slow", ts="1763460096.000100", channel_type="group")
    assert [s.channel_id for s in signals(running.sf) if s.message_ts == "1763460096.000100"] == ["C1NEW"]
    assert not [s for s in signals(running.sf) if s.channel_id == "G1"]
