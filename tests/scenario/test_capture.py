"""Every capture path, driven through signed HTTP requests against the fake Slack Web API."""

from __future__ import annotations

import json
import time

import pytest

from storage.models import Customer, Signal
from tests.conftest import Running
from tests.helpers import count, ephemeral_text, figure, signals, wait_for


def setup_acme(r: Running) -> None:
    assert r.driver.command("/loop", "customer add Acme Health segment smb").status == 200
    assert r.driver.command("/loop", "customer add Tallwood Dental Group segment multi-site").status == 200
    r.driver.command("/loop", "customer alias Tallwood Dental Group Tallwood")
    r.driver.command("/loop", "link Acme Health", channel="C1")
    r.driver.command("/loop", "watch", channel="C2")


def settled(r: Running) -> None:
    """The history read done, and what it posts (after the answer) posted."""
    wait_for(r.deps.history.idle)
    assert r.deps.after.wait_idle()


def test_linked_channel_message_is_a_signal_with_name_and_permalink(running: Running) -> None:
    setup_acme(running)
    resp = running.driver.message("C1", "Exports keep failing every Monday", ts="1763460001.000100")
    assert resp.status == 200
    # the name and the workspace's URL are asked of Slack after the acknowledgement, then filled in
    assert running.deps.directory.drain()
    [sig] = signals(running.sf)
    assert (sig.channel_id, sig.message_ts, sig.capture_path) == ("C1", "1763460001.000100", "channel")
    assert sig.kind == "problem" and sig.sentiment < 0
    assert sig.author_name == "Marco"
    assert sig.permalink == "https://demo.slack.com/archives/C1/p1763460001000100"
    # the app posts nothing in the channel for an ordinary captured message
    assert not running.slack.calls("chat.postMessage")


def test_a_name_older_than_a_week_is_read_once_and_asked_of_slack_again(running: Running) -> None:
    """A process started after a person's name was stored more than FRESH ago: the name is read from the database
    for their first message only, not for every message, and Slack is asked for it again after the answer."""
    from datetime import timedelta

    from sqlalchemy import event

    from bot.directory import FRESH
    from storage import repo
    from tests.conftest import TEAM

    setup_acme(running)
    long_ago = running.clock() - FRESH - timedelta(days=1)
    with running.sf.begin() as s:
        repo.save_slack_user(s, team_id=TEAM, user_id="U2", name="Marco (old)", is_bot=False, tz=None, now=long_ago)
        repo.ensure_workspace(s, team_id=TEAM, now=long_ago).url = "https://demo.slack.com/"  # permalinks known
    reads: list[str] = []

    def read(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith("SELECT") and "slack_users" in statement and "U2" in str(parameters):
            reads.append(statement)

    engine = running.sf.kw["bind"]
    event.listen(engine, "before_cursor_execute", read)
    try:
        for i in range(5):
            sent = running.driver.message("C1", f"Exports failed again, {i} times", ts=f"176346010{i}.000100")
            assert sent.status == 200
        assert running.deps.directory.drain()
    finally:
        event.remove(engine, "before_cursor_execute", read)
    assert len(reads) == 1
    assert [c.args.get("user") for c in running.slack.calls("users.info")].count("U2") == 1
    running.driver.message("C1", "Exports failed on Friday too", ts="1763460200.000100")
    assert {sig.message_ts: sig.author_name for sig in signals(running.sf)}["1763460200.000100"] == "Marco"


def test_a_person_slack_gives_no_name_for_is_asked_about_once(running: Running) -> None:
    """users.info answers user_not_found (or a person without a name): their later messages neither ask Slack
    again nor read the database for a name before the answer (an hour passes first)."""
    from sqlalchemy import event

    setup_acme(running)
    running.slack.state.users["UNONAME"] = {"id": "UNONAME", "name": "", "profile": {}}
    reads: list[str] = []

    def read(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith("SELECT") and "slack_users" in statement:
            reads.append(str(parameters))

    engine = running.sf.kw["bind"]
    event.listen(engine, "before_cursor_execute", read)
    try:
        for i in range(6):
            for j, user in enumerate(("UGHOST", "UNONAME")):
                sent = running.driver.message(
                    "C1", f"Exports failed again, {i} times", user=user, ts=f"17634601{i}.00010{j}"
                )
                assert sent.status == 200
            assert running.deps.directory.drain()
    finally:
        event.remove(engine, "before_cursor_execute", read)
    asked = [c.args.get("user") for c in running.slack.calls("users.info")]
    assert asked.count("UGHOST") == 1 and asked.count("UNONAME") == 1
    assert sum("UGHOST" in r for r in reads) <= 1 and sum("UNONAME" in r for r in reads) <= 1
    assert len(signals(running.sf)) == 12


def test_thread_reply_kept_with_its_thread_and_bots_joins_ignored(running: Running) -> None:
    setup_acme(running)
    running.driver.message("C1", "Reply in thread: still broken", ts="1763460002.000200", thread_ts="1763460001.000100")
    assert running.deps.directory.drain()
    running.driver.message("C1", "I am a bot", bot_id="B9", subtype="bot_message")
    running.driver.message("C1", "<@U3> has joined the channel", subtype="channel_join")
    running.driver.message("C1", "posted by the app itself", user="UBOT", bot_id="BBOT")
    [sig] = signals(running.sf)
    assert sig.thread_ts == "1763460001.000100"
    assert "thread_ts=1763460001.000100" in (sig.permalink or "")


def test_watch_channel_records_one_signal_per_named_customer(running: Running) -> None:
    setup_acme(running)
    running.driver.message("C2", "Both acme health and TALLWOOD asked for SSO", ts="1763460003.000100")
    running.driver.message("C2", "Lunch is at noon", ts="1763460004.000100")
    running.driver.message("C2", "Acmeish is not a customer name", ts="1763460005.000100")
    sigs = signals(running.sf)
    assert len(sigs) == 2
    with running.sf() as s:
        names = sorted(s.get(Customer, x.customer_id).name for x in sigs)
    assert names == ["Acme Health", "Tallwood Dental Group"]
    assert {x.capture_path for x in sigs} == {"watch"}


def test_ampersands_as_slack_sends_them_are_stored_as_typed(running: Running) -> None:
    """Slack sends &, < and > as &amp;, &lt; and &gt; in commands and messages: names and quotes keep the real text."""
    d = running.driver
    d.command("/loop", "customer add Smith & Sons segment smb")  # as typed: the driver sends &amp;
    d.command("/loop", "watch", channel="C2")
    assert d.message("C2", "Smith &amp; Sons: exports &lt;still&gt; fail").status == 200
    reply = d.command("/signal", "smith & sons R&D team wants SSO").json()["text"]
    assert "*Smith &amp; Sons*" in reply  # shown escaped once, so Slack displays “Smith & Sons”
    with running.sf() as s:
        assert [c.name for c in s.query(Customer)] == ["Smith & Sons"]
    texts = sorted(x.text for x in signals(running.sf))
    assert texts == ["R&D team wants SSO", "Smith & Sons: exports <still> fail"]


def test_capture_reaction_records_message_anywhere(running: Running) -> None:
    setup_acme(running)
    running.slack.state.messages["C3"] = [
        {
            "type": "message",
            "ts": "1763460006.000100",
            "user": "U2",
            "text": "Tallwood says the reminders went out twice",
        }
    ]
    resp = running.driver.event(
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "memo",
            "item": {"type": "message", "channel": "C3", "ts": "1763460006.000100"},
        }
    )
    assert resp.status == 200
    # a message the app never received is read from Slack's history after the answer (bot.history)
    settled(running)
    [sig] = signals(running.sf)
    assert sig.capture_path == "reaction" and sig.recorded_by == "U1" and sig.channel_id == "C3"
    [eph] = running.slack.calls("chat.postEphemeral")
    assert eph.args["user"] == "U1" and "Tallwood Dental Group" in eph.args["text"]


def test_capture_reaction_without_customer_asks_with_a_select(running: Running) -> None:
    setup_acme(running)
    running.slack.state.messages["C3"] = [
        {"type": "message", "ts": "1763460007.000100", "user": "U2", "text": "They want a Gantt view"}
    ]
    running.driver.event(
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "memo",
            "item": {"type": "message", "channel": "C3", "ts": "1763460007.000100"},
        }
    )
    settled(running)
    assert count(running.sf, Signal) == 0
    [eph] = running.slack.calls("chat.postEphemeral")
    assert eph.args["user"] == "U1"
    picker = eph.args["blocks"][1]
    assert picker["elements"][0]["action_id"] == "capture_pick_customer"
    # the select searches: Slack asks the options listener with what the person typed
    found = running.driver.interact(
        {
            "type": "block_suggestion",
            "user": {"id": "U1"},
            "action_id": "capture_pick_customer",
            "block_id": picker["block_id"],
            "value": "acme",
            "container": {"type": "message", "is_ephemeral": True},
            "channel": {"id": "C3"},
        }
    ).json()
    acme = next(o for o in found["options"] if o["text"]["text"] == "Acme Health")
    resp = running.driver.interact(
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "trigger_id": "t1",
            "response_url": running.driver.response_base + "response/picker",
            "container": {"type": "message", "is_ephemeral": True},
            "channel": {"id": "C3"},
            "actions": [
                {
                    "type": "external_select",
                    "action_id": "capture_pick_customer",
                    "block_id": picker["block_id"],
                    "selected_option": acme,
                    "action_ts": str(time.time()),
                }
            ],
        }
    )
    assert resp.status == 200
    [sig] = signals(running.sf)
    assert sig.capture_path == "reaction" and sig.text == "They want a Gantt view"
    settled(running)  # the answer replaces the question after the request was answered
    assert "Recorded" in running.slack.calls("response_url")[-1].args["text"]


def test_other_reactions_do_nothing(running: Running) -> None:
    setup_acme(running)
    running.driver.event(
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "thumbsup",
            "item": {"type": "message", "channel": "C1", "ts": "1763460001.000100"},
        }
    )
    assert count(running.sf, Signal) == 0


def test_message_shortcut_opens_modal_and_records(running: Running) -> None:
    setup_acme(running)
    msg = {
        "type": "message",
        "ts": "1763460008.000100",
        "user": "U2",
        "text": "Acme Health: the dashboard is great but slow",
    }
    running.slack.state.messages["C3"] = [msg]
    resp = running.driver.interact(
        {
            "type": "message_action",
            "callback_id": "record_signal",
            "trigger_id": "trig-sc",
            "user": {"id": "U1"},
            "channel": {"id": "C3"},
            "message": msg,
            "response_url": running.driver.response_base + "response/sc",
        }
    )
    assert resp.status == 200
    [opened] = running.slack.calls("views.open")
    view = opened.args["view"]
    cust_block = next(b for b in view["blocks"] if b.get("block_id") == "customer")
    assert cust_block["element"]["initial_option"]["text"]["text"] == "Acme Health"
    ms_block = next(b for b in view["blocks"] if b.get("block_id") == "milestone")
    first_ms = ms_block["element"]["options"][0]
    values = {
        "customer": {
            "customer": {"type": "external_select", "selected_option": cust_block["element"]["initial_option"]}
        },
        "milestone": {"milestone": {"type": "static_select", "selected_option": first_ms}},
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "problem"}}},
        "note": {"note": {"type": "plain_text_input", "value": "Said on the QBR call"}},
    }
    resp = running.driver.submit_view("capture_modal", values, view["private_metadata"], blocks=view["blocks"])
    assert resp.status == 200
    [sig] = signals(running.sf)
    assert (sig.capture_path, sig.kind, sig.note) == ("shortcut", "problem", "Said on the QBR call")
    assert sig.milestone_id is not None


def test_shortcut_modal_without_customer_is_rejected_inline(running: Running) -> None:
    setup_acme(running)
    resp = running.driver.submit_view("capture_modal", {}, json.dumps({"c": "C3", "ts": "1.1"}))
    assert resp.status == 200
    assert resp.json()["response_action"] == "errors" and "customer" in resp.json()["errors"]
    assert count(running.sf, Signal) == 0


def test_signal_command_records_and_unknown_customer_suggests(running: Running) -> None:
    setup_acme(running)
    r = running.driver.command("/signal", "Tallwood Dental Group Double texts again at Elm Street")
    assert "Recorded for *Tallwood Dental Group*" in ephemeral_text(r)
    r = running.driver.command("/signal", '"Tallwood Dental Group" "Cancelled slots are filled faster"')
    r = running.driver.command("/signal", "tallwood #2 waiting list offers are slow")
    assert "milestone 2" in ephemeral_text(r)
    sigs = signals(running.sf)
    assert [s.capture_path for s in sigs] == ["command"] * 3
    assert sigs[1].text == "Cancelled slots are filled faster"
    r = running.driver.command("/signal", "Talwood Dental said hi")
    assert "did you mean *Tallwood Dental Group*" in ephemeral_text(r)
    assert count(running.sf, Signal) == 3


def test_edit_updates_text_and_delete_erases(running: Running) -> None:
    setup_acme(running)
    running.driver.message("C1", "Exports are slow", ts="1763460010.000100")
    running.driver.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "message": {
                "type": "message",
                "user": "U2",
                "text": "Exports are slow and failing",
                "ts": "1763460010.000100",
                "edited": {"user": "U2", "ts": "1763460100.000000"},
            },
            "previous_message": {"ts": "1763460010.000100"},
            "ts": "1763460100.000001",
        }
    )
    [sig] = signals(running.sf)
    assert sig.text == "Exports are slow and failing" and sig.edited_at is not None
    assert sig.edited_at.timestamp() == 1763460100
    running.driver.event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C1",
            "deleted_ts": "1763460010.000100",
            "previous_message": {"ts": "1763460010.000100"},
            "ts": "1763460200.000001",
        }
    )
    [sig] = signals(running.sf)
    assert sig.deleted_at is not None and sig.text == ""


def test_forged_or_stale_signature_is_401_and_writes_nothing(running: Running) -> None:
    setup_acme(running)
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0TEAM",
            "event_id": "Evx",
            "event": {"type": "message", "channel": "C1", "user": "U2", "text": "hi", "ts": "1.2"},
        }
    )
    assert running.driver.post(body, "application/json", signature="v0=deadbeef").status == 401
    stale = int(time.time()) - 6 * 60
    assert running.driver.post(body, "application/json", timestamp=stale).status == 401
    assert count(running.sf, Signal) == 0


def test_retries_and_duplicates_never_create_a_second_signal(running: Running) -> None:
    import random

    setup_acme(running)
    rnd = random.Random(7)
    sent = []
    for i in range(200):
        ts = f"{1763470000 + i}.000100"
        ev = {
            "type": "message",
            "channel": "C1",
            "user": "U2",
            "text": f"Customer note {i}: export failing",
            "ts": ts,
            "channel_type": "channel",
        }
        eid = f"EvDup{i:05d}"
        assert running.driver.event(ev, event_id=eid).status == 200
        sent.append((ev, eid))
    redelivered = rnd.sample(sent, 60)  # 30% retried or duplicated
    for n, (ev, eid) in enumerate(redelivered):
        retry = 1 + n % 3 if n % 2 == 0 else None  # half Slack retries, half plain duplicates
        assert running.driver.event(ev, event_id=eid if retry else eid + "dup", retry=retry).status == 200
    figure(f"events sent {200 + len(redelivered)}, distinct messages 200, stored {count(running.sf, Signal)}")
    assert count(running.sf, Signal) == 200


def test_a_change_of_links_applies_to_the_very_next_message(running: Running) -> None:
    """Messages are routed from a cache without a database read; a link changed since is never missed."""
    setup_acme(running)
    running.driver.message("C1", "Exports keep failing every Monday", ts="1763460101.000100")
    # C1 now belongs to Tallwood: the next message there is Tallwood's (the cache still says Acme)
    assert running.driver.command("/loop", "link Tallwood Dental Group", channel="C1").status == 200
    running.driver.message("C1", "The new rota screen is lovely", ts="1763460102.000100")
    assert running.driver.command("/loop", "unlink", channel="C1").status == 200
    running.driver.message("C1", "Lunch order is in", ts="1763460103.000100")
    with running.sf() as s:
        got = [(x.message_ts, s.get(Customer, x.customer_id).name) for x in signals(running.sf)]
    assert sorted(got) == [("1763460101.000100", "Acme Health"), ("1763460102.000100", "Tallwood Dental Group")]


def test_group_commit_writes_nothing_routed_by_a_routing_that_moved(engine, sf) -> None:  # noqa: ANN001
    """The writer checks the routing version in the insert's own transaction, per request in a batch."""
    from datetime import UTC, datetime

    from storage import repo
    from storage.writer import RoutingChanged, SignalWriter, _Batch

    now = datetime(2026, 11, 18, 10, tzinfo=UTC)
    with sf.begin() as s:
        repo.ensure_workspace(s, team_id="T1", now=now)
        cid = repo.add_customer(s, team_id="T1", name="Acme", key="acme", segment=None, now=now).id
        repo.bump_routing(s, team_id="T1")
        repo.bump_routing(s, team_id="T1")
    with engine.connect() as c:
        version = repo.routing_version(c, team_id="T1")
        assert version >= 2 and repo.routing_versions(c, team_ids=["T1", "T9"]) == {"T1": version}

    def row(ts: str) -> dict:
        return dict(
            team_id="T1", channel_id="C1", message_ts=ts, thread_ts=None, user_id="U1", author_name=None,
            text=f"message {ts}", note=None, permalink=None, customer_id=cid, milestone_id=None,
            capture_path="channel", kind="problem", sentiment=-0.5, is_private=False, event_id=None,
            recorded_by=None, posted_at=now, recorded_at=now,
        )  # fmt: skip

    writer = SignalWriter(engine)
    try:
        current, stale, unchecked = (
            _Batch([row("2.1")], ("T1", version)),
            _Batch([row("2.2")], ("T1", version - 1)),
            _Batch([row("2.3")]),
        )
        writer._write([current, stale, unchecked])
        assert current.error is None and unchecked.error is None and isinstance(stale.error, RoutingChanged)
        with pytest.raises(RoutingChanged):
            writer.insert([row("2.4")], routed=("T1", version + 1))
        # a message the cache says nothing about is checked the same way, with nothing to write
        writer.check(("T1", version))
        with pytest.raises(RoutingChanged):
            writer.check(("T1", version - 1))
    finally:
        writer.close()
    with sf() as s:
        assert sorted(x.message_ts for x in s.query(Signal)) == ["2.1", "2.3"]


def test_group_commit_isolates_a_bad_request_and_ignores_duplicates(engine, sf) -> None:  # noqa: ANN001
    """Requests written together: one that cannot be stored fails alone; the others are committed, once."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import IntegrityError

    from storage import repo
    from storage.writer import SignalWriter, _Batch

    now = datetime(2026, 11, 18, 10, tzinfo=UTC)
    with sf.begin() as s:
        repo.ensure_workspace(s, team_id="T1", now=now)
        cid = repo.add_customer(s, team_id="T1", name="Acme", key="acme", segment=None, now=now).id

    def row(ts: str, customer_id: int) -> dict:
        return dict(
            team_id="T1",
            channel_id="C1",
            message_ts=ts,
            thread_ts=None,
            user_id="U1",
            author_name="Priya",
            text=f"message {ts}",
            note=None,
            permalink=None,
            customer_id=customer_id,
            milestone_id=None,
            capture_path="channel",
            kind="problem",
            sentiment=-0.5,
            is_private=False,
            event_id=None,
            recorded_by=None,
            posted_at=now,
            recorded_at=now,
        )

    writer = SignalWriter(engine)
    try:
        good, bad, dup = _Batch([row("1.1", cid)]), _Batch([row("1.2", cid + 999)]), _Batch([row("1.1", cid)])
        writer._write([good, bad, dup])  # as if the three requests were waiting together
        assert all(b.done.is_set() for b in (good, bad, dup))
        assert good.error is None and dup.error is None and isinstance(bad.error, IntegrityError)
        writer.insert([row("1.3", cid)])  # and the thread-facing path
        with pytest.raises(IntegrityError):
            writer.insert([row("1.4", cid + 999)])
    finally:
        writer.close()
    with sf() as s:
        assert sorted(x.message_ts for x in s.query(Signal)) == ["1.1", "1.3"]
