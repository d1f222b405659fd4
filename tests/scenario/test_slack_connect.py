"""Slack Connect: channels shared with a customer's own organisation, driven through signed HTTP.

First-hand signals and third organisations, channels that link themselves (by organisation, by name, an ambiguous
match, `/loop link auto`), a customer's question nobody answered (business hours on the injected clock), and
nothing internal posted into a shared channel.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from bot.weeks import week_at
from storage.models import ChannelLink, ConnectedTeam, Outbox, Signal
from tests.conftest import TEAM, Running
from tests.helpers import ephemeral_text, signals

ACME_ORG = ("T0ACME", "Acme Health Inc", "acmehealth.com")
TALL_ORG = ("T0TALL", "Tallwood Dental", "tallwood.com")
OTHER_ORG = ("T0OTHR", "Northgate Consultants", "northgate.io")


def ts_at(at: datetime, n: int = 100) -> str:
    return f"{int(at.timestamp())}.{n:06d}"


def say(r: Running, channel: str, text: str, user: str, org: str, ts: str, **extra: object) -> None:
    """A message as Slack sends it in a shared channel: user_team / source_team name the author's organisation
    (https://docs.slack.dev/apis/slack-connect)."""
    resp = r.driver.message(channel, text, user=user, ts=ts, user_team=org, source_team=org, **extra)
    assert resp.status == 200


def app_joined(r: Running, channel: str, inviter: str = "U1") -> None:
    ev = {"type": "member_joined_channel", "user": "UBOT", "channel": channel, "channel_type": "C", "inviter": inviter}
    assert r.driver.event(ev).status == 200


def posts_to(r: Running, channel: str) -> list:
    return [c for c in r.slack.calls("chat.postMessage") if c.args.get("channel") == channel]


def setup_world(r: Running) -> None:
    s = r.slack
    s.share_channel("C9", "ext-acme", [ACME_ORG, TALL_ORG, OTHER_ORG])
    s.share_channel("C8", "tallwood-shared", [TALL_ORG])
    s.add_external_user("UA1", "Dana", "T0ACME")
    s.add_external_user("UA2", "Eve", "T0ACME")
    s.add_external_user("UT1", "Tom", "T0TALL")
    s.add_external_user("UX1", "Xavi", "T0OTHR")
    d = r.driver
    assert d.command("/loop", "customer add Acme Health").status == 200
    assert d.command("/loop", "customer add Tallwood Dental Group").status == 200
    d.command("/loop", "customer alias Tallwood Dental Group Tallwood")
    d.command("/loop", "link Acme Health", channel="C1")  # the team's internal channel about Acme
    # the app is added to Tallwood's shared channel: it learns what it is shared with, then the team links it
    app_joined(r, "C8")
    d.command("/loop", "link Tallwood", channel="C8", channel_name="tallwood-shared")
    app_joined(r, "C9")
    d.command("/loop", "link Acme Health", channel="C9", channel_name="ext-acme")


def test_first_hand_words_third_organisations_and_a_report(running: Running) -> None:
    r = running
    setup_world(r)
    with r.sf() as s:
        orgs = {t.org_team_id: t.customer_id for t in s.scalars(select(ConnectedTeam))}
        acme, tallwood = (
            s.scalar(select(ChannelLink.customer_id).where(ChannelLink.channel_id == c)) for c in "C9 C8".split()
        )
    # linking took the organisation that matches the customer; the third one stays no one's
    assert orgs == {"T0ACME": acme, "T0TALL": tallwood, "T0OTHR": None}
    now = r.clock()
    say(r, "C9", "Could you add SSO for our clinics?", "UA1", "T0ACME", ts_at(now, 1))
    say(r, "C9", "Exports keep failing every Monday, it really hurts us", "UA2", "T0ACME", ts_at(now, 2))
    say(r, "C9", "Acme mentioned exports are slow for them", "U2", TEAM, ts_at(now, 3))
    say(r, "C9", "Our reminder texts went out twice again", "UT1", "T0TALL", ts_at(now, 4))
    say(r, "C9", "We see slow exports at our end too", "UX1", "T0OTHR", ts_at(now, 5))
    assert r.deps.directory.drain()
    got = {(x.user_id, x.customer_id, x.first_hand, x.author_team_id) for x in signals(r.sf)}
    assert got == {
        ("UA1", acme, True, "T0ACME"),  # the customer's own people: first-hand
        ("UA2", acme, True, "T0ACME"),
        ("U2", acme, False, TEAM),  # a team member: a report
        ("UT1", tallwood, True, "T0TALL"),  # a second customer's organisation: theirs, not the channel's customer
    }  # the consultancy (a third organisation no customer owns) is stored for no one
    # the digest in Acme's internal channel leads with their own words, marked
    week = week_at(r.clock(), "UTC")
    res = r.deps.digest_runner.post(TEAM, "C1", week, late=False, requested_by=None)
    assert res.status == "posted"
    [post] = posts_to(r, "C1")
    text = json.dumps(post.args["blocks"], ensure_ascii=False)
    said = [line for line in text.split("\\n") if line.startswith("> ")]
    assert said[0].startswith("> 🗣") and said[1].startswith("> 🗣"), said
    assert any("Acme mentioned exports" in x and "🗣" not in x for x in said)
    assert "2 in their own words" in text
    # search results lead with the customer's own words, marked
    found = json.dumps(r.driver.command("/signal", "search exports", channel="C1").json()["blocks"], ensure_ascii=False)
    hits = [line for line in found.split("\\n") if line.startswith("> ")]
    assert len(hits) == 2 and hits[0].startswith("> 🗣") and "🗣" not in hits[1], hits
    # a decision naming Acme: "what came of your signal" reaches the team member behind the report, never the
    # customer's own people (the team's outcomes and links are internal)
    state = {
        "values": {
            "learning": {"learning": {"type": "plain_text_input", "value": "Exports break trust on Mondays"}},
            "decision": {"decision": {"type": "plain_text_input", "value": "Fix Monday exports before SSO"}},
            "customers": {"customers": {"type": "multi_static_select", "selected_options": [{"value": str(acme)}]}},
        }
    }
    view = {"id": "VL1", "type": "modal", "callback_id": "learning_modal", "state": state, "private_metadata": "{}"}
    assert r.driver.interact({"type": "view_submission", "user": {"id": "U1"}, "view": view}).status == 200
    with r.sf() as s:  # queued for each person's daytime (the customer's people are in New York)
        queued = {row.user_id for row in s.scalars(select(Outbox))}
    assert "U2" in queued and not queued & {"UA1", "UA2", "UT1", "UX1"}, queued
    # nothing was ever posted in the shared channels
    assert not posts_to(r, "C9") and not posts_to(r, "C8")


def test_nothing_internal_is_posted_into_a_shared_channel(running: Running) -> None:
    r = running
    setup_world(r)
    say(r, "C9", "Exports keep failing every Monday", "UA1", "T0ACME", ts_at(r.clock(), 1))
    d = r.driver
    refused = "shared with another organisation"
    for cmd, text in [
        ("/loop", "digest schedule friday 15:00 Europe/London portfolio"),
        ("/loop", "digest now"),
        ("/loop", "review Acme Health"),
        ("/loop", "ask what do they say about exports"),
        ("/signal", "search exports"),
    ]:
        resp = d.command(cmd, text, channel="C9", channel_name="ext-acme")
        assert refused in ephemeral_text(resp), (cmd, text)
    # a channel shared since the app last looked (nothing cached): asked of Slack after the answer, then refused
    r.slack.share_channel("C7", "acme-exec", [ACME_ORG])
    resp = d.command("/loop", "digest now", channel="C7", channel_name="acme-exec")
    assert resp.status == 200
    told = [c for c in r.slack.calls("chat.postEphemeral") if c.args.get("channel") == "C7"]
    assert told and refused in told[-1].args["text"]
    # a scheduled digest reaching a shared channel is not posted either
    res = r.deps.digest_runner.post(TEAM, "C9", week_at(r.clock(), "UTC"), late=False, requested_by=None)
    assert res.status == "failed"
    assert not posts_to(r, "C9") and not posts_to(r, "C7")
    # the same commands still work in the internal channel
    assert refused not in ephemeral_text(d.command("/signal", "search exports", channel="C1"))
    # asked explicitly, a shared channel gets its own messages only: nothing from the internal channel
    assert d.message("C1", "Internal: Acme's renewal is at risk, exports are the reason", user="U2").status == 200
    own = d.command("/loop", "digest own", channel="C9", channel_name="ext-acme").json()
    assert own["response_type"] == "in_channel"
    shown = json.dumps(own["blocks"], ensure_ascii=False)
    assert "🗣 “Exports keep failing every Monday”" in shown
    assert "renewal" not in shown and "risk" not in shown


def test_channels_link_themselves_by_organisation_by_name_and_ambiguity_asks(running: Running) -> None:
    r = running
    d = r.driver
    for name in ("Acme Health", "Birch Clinics", "Cedar Care", "Cedar Care Partners"):
        assert d.command("/loop", f"customer add {name}").status == 200
    r.slack.share_channel("C9", "acme-collab", [ACME_ORG])  # by organisation
    r.slack.share_channel("C8", "ext-birch-clinics", [("T0ZED", "Zed Holdings", "zed.io")])  # by name pattern
    r.slack.share_channel("C6", "cedar-collab", [("T0CED", "Cedar Care Group", "cedarcare.com")])  # ambiguous
    app_joined(r, "C9")
    [proposal] = posts_to(r, "U1")  # to the person who added the app: only the team sees it
    assert "Acme Health" in proposal.args["text"] and "organisation Acme Health Inc" in proposal.args["text"]
    buttons = {e["action_id"]: e for b in proposal.args["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {"connect_link_0", "connect_reject", "connect_ignore"}
    with r.sf() as s:  # nothing links silently
        assert s.scalar(select(ChannelLink).where(ChannelLink.channel_id == "C9")) is None
    click(r, buttons["connect_link_0"])
    with r.sf() as s:
        link = s.scalar(select(ChannelLink).where(ChannelLink.channel_id == "C9"))
        assert link is not None and link.customer.name == "Acme Health" and link.linked_by == "U1"
        assert s.get(ConnectedTeam, (TEAM, "T0ACME")).customer_id == link.customer_id
    assert "now *Acme Health*'s" in r.slack.calls("response_url")[-1].args["text"]
    # an ambiguous organisation: the message asks which customer, and "None of these" is remembered
    app_joined(r, "C6")
    asks = posts_to(r, "U1")[-1]
    assert "Cedar Care*" in asks.args["text"] and "Cedar Care Partners" in asks.args["text"]
    buttons = {e["action_id"]: e for b in asks.args["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert {"connect_link_0", "connect_link_1", "connect_reject"} <= set(buttons)
    click(r, buttons["connect_reject"])
    # `/loop link auto`: every unlinked channel the app is in, with its best match, linked in one go
    resp = d.command("/loop", "link auto", channel="C3")
    assert "Looking at the channels" in ephemeral_text(resp)
    [listing] = [c for c in r.slack.calls("chat.postEphemeral") if c.args.get("user") == "U1"][-1:]
    boxes = [
        e for b in listing.args["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "checkboxes"
    ]
    options = {o["value"]: o for box in boxes for o in box["options"]}
    ticked = {o["value"] for box in boxes for o in box.get("initial_options", [])}
    birch = customer_id(r, "Birch Clinics")
    assert f"C8:{birch}" in options and f"C8:{birch}" in ticked  # ext-birch-clinics fits `ext-{customer}`
    assert not any(v.startswith("C6:") for v in options)  # both Cedars were turned down for it
    assert not any(v.startswith("C9:") for v in options)  # linked already
    state = {
        "values": {
            "connect_auto_0": {
                boxes[0]["action_id"]: {"type": "checkboxes", "selected_options": [options[f"C8:{birch}"]]}
            }
        }
    }
    go = {
        "type": "button",
        "action_id": "connect_auto_link",
        "value": "go",
        "block_id": "connect_auto_go",
        "action_ts": "1",
    }
    interact(r, go, state=state)
    with r.sf() as s:
        assert s.scalar(select(ChannelLink.customer_id).where(ChannelLink.channel_id == "C8")) == birch
        assert s.scalar(select(ChannelLink).where(ChannelLink.channel_id == "C6")) is None
    # a shared channel the app only meets through a message from another organisation: proposed in the team's
    # internal channel (`/loop connect here`), by name this time, and not linked until someone says so
    assert "come to this channel" in ephemeral_text(d.command("/loop", "connect here", channel="C3"))
    r.slack.share_channel("C5", "shared-birch-clinics", [("T0BRC", "BC Holdings", "bc-holdings.com")])
    say(r, "C5", "Hello from the Birch team!", "UB1", "T0BRC", ts_at(r.clock(), 1))
    [proposed] = posts_to(r, "C3")
    assert "Birch Clinics" in proposed.args["text"] and "channel name #shared-birch-clinics" in proposed.args["text"]
    say(r, "C5", "Another message", "UB1", "T0BRC", ts_at(r.clock(), 2))
    assert len(posts_to(r, "C3")) == 1  # proposed once
    with r.sf() as s:
        assert s.scalar(select(ChannelLink).where(ChannelLink.channel_id == "C5")) is None
    # run where the app is not a member (Slack refuses an ephemeral there): the list comes by DM
    r.slack.state.channels["C2"]["is_member"] = False
    before = len(posts_to(r, "U1"))
    d.command("/loop", "link auto", channel="C2", channel_name="feedback")
    dm = posts_to(r, "U1")[before:]
    assert len(dm) == 1 and "not linked" in dm[0].args["text"]
    for ch in ("C9", "C8", "C6", "C5"):
        assert not posts_to(r, ch)


def test_a_customer_question_nobody_answered_is_nudged_after_business_hours(running: Running) -> None:
    r = running
    d = r.driver
    setup_world(r)
    assert "09:00–17:00 Europe/London" in ephemeral_text(
        d.command("/loop", "connect hours 09:00-17:00 Europe/London mon-fri")
    )
    d.command("/loop", "customer owner Acme Health <@U3|sam>")
    d.command("/loop", "connect here", channel="C3")  # Tallwood has no owner: its nudges come here
    start = r.clock()  # Wednesday 10:00 (London is on UTC in November)
    asked = ts_at(start, 1)
    say(r, "C9", "Could you send us the invoice export as a CSV?", "UA1", "T0ACME", asked)
    answered_in_thread = ts_at(start, 2)
    say(r, "C9", "How do we add a new clinic location?", "UA2", "T0ACME", answered_in_thread)
    reacted = ts_at(start, 3)
    say(r, "C9", "Can you turn on SSO for our staff?", "UA2", "T0ACME", reacted)
    say(r, "C8", "How do we invite our new front-desk staff?", "UT1", "T0TALL", ts_at(start, 4))
    say(r, "C9", "Acme asked about CSV exports", "U2", TEAM, ts_at(start, 5))  # a report is no question of theirs
    assert r.deps.directory.drain()
    with r.sf() as s:
        kinds = {x.message_ts: x.kind for x in s.scalars(select(Signal))}
    assert {kinds[asked], kinds[answered_in_thread], kinds[reacted]} <= {"question", "request"}
    # the team answers two of them: a reply in the thread, a reaction
    say(
        r,
        "C9",
        "Settings → Locations → Add; happy to walk you through it",
        "U1",
        TEAM,
        ts_at(start, 6),
        thread_ts=answered_in_thread,
    )
    # a reaction by another of the customer's own people answers nothing
    r.slack.add_external_user("UA3", "Kim", "T0ACME")
    theirs = {
        "type": "reaction_added",
        "user": "UA3",
        "reaction": "+1",
        "item": {"type": "message", "channel": "C9", "ts": asked},
    }
    assert d.event(theirs).status == 200
    react = {
        "type": "reaction_added",
        "user": "U3",
        "reaction": "eyes",
        "item": {"type": "message", "channel": "C9", "ts": reacted},
    }
    assert d.event(react).status == 200
    connect = r.deps.connect
    r.clock.advance(hours=3, minutes=30)  # 13:30: three and a half business hours
    assert connect.run_unanswered() == 0
    r.clock.advance(minutes=35)  # 14:05
    assert connect.run_unanswered() == 2  # Acme's CSV question (to its owner) and Tallwood's (to the team's channel)
    r.deps.outbox.send_due()
    [dm] = posts_to(r, "U3")
    body = json.dumps(dm.args["blocks"], ensure_ascii=False)
    assert "invoice export" in body and f"archives/C9/p{asked.replace('.', '')}" in body
    assert "SSO" not in body and "clinic location" not in body
    [team_channel] = posts_to(r, "C3")
    assert "invite our new front-desk staff" in json.dumps(team_channel.args["blocks"])
    assert connect.run_unanswered() == 0  # once per question
    # business hours: asked at 16:30, half an hour before closing; not nudged overnight, nudged Thursday 12:30
    r.clock.advance(hours=2, minutes=25)  # 16:30
    late = ts_at(r.clock(), 7)
    say(r, "C9", "Is there an API for the bookings?", "UA1", "T0ACME", late)
    r.clock.advance(hours=16, minutes=29)  # Thursday 08:59
    assert connect.run_unanswered() == 0
    r.clock.advance(hours=3, minutes=32)  # Thursday 12:31: four business hours
    assert connect.run_unanswered() == 1
    # the weekly digest lists what is still waiting, and for how long
    res = r.deps.digest_runner.post(TEAM, "C1", week_at(r.clock(), "UTC"), late=False, requested_by=None)
    assert res.status == "posted"
    digest = json.dumps(posts_to(r, "C1")[0].args["blocks"], ensure_ascii=False)
    assert "Still unanswered" in digest and "invoice export" in digest and "waiting 1 d 2 h" in digest
    assert "clinic location" not in digest.split("Still unanswered")[1]
    # the delay and the switch
    assert "2 business hours" in ephemeral_text(d.command("/loop", "nudges unanswered 2h"))
    assert "are off" in ephemeral_text(d.command("/loop", "nudges unanswered off"))
    say(r, "C9", "Could you also export the payments?", "UA1", "T0ACME", ts_at(r.clock(), 8))
    r.clock.advance(hours=4)
    assert connect.run_unanswered() == 0
    assert not posts_to(r, "C9") and not posts_to(r, "C8")


def customer_id(r: Running, name: str) -> int:
    from storage.models import Customer

    with r.sf() as s:
        return s.scalar(select(Customer.id).where(Customer.name == name))


def interact(r: Running, action: dict, state: dict | None = None) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "trigger_id": f"t.{action['action_id']}",
        "channel": {"id": "D0U1"},
        "container": {"type": "message", "channel_id": "D0U1", "message_ts": "1.0"},
        "response_url": f"{r.driver.response_base}response/connect",
        "actions": [action],
    }
    if state is not None:
        payload["state"] = state
    assert r.driver.interact(payload).status == 200


def click(r: Running, button: dict) -> None:
    interact(r, {**button, "type": "button", "block_id": "connect", "action_ts": "1"})


def test_the_demo_has_a_shared_channel_linked_by_its_proposal(tmp_path) -> None:  # noqa: ANN001
    from entry import demo
    from entry import demo_data as dd

    sf, _deps, slack, _clock = demo.build(str(tmp_path / "demo.db"))
    try:
        with sf() as s:
            link = s.scalar(select(ChannelLink).where(ChannelLink.channel_id == dd.SHARED_CHANNEL[0]))
            assert link is not None and link.customer.name == "Tallwood Dental Group" and link.linked_by == "U01PRIYA"
            mine = list(s.scalars(select(Signal).where(Signal.channel_id == dd.SHARED_CHANNEL[0])))
        assert {x.user_id for x in mine if x.first_hand} == set(dd.EXTERNAL_USERS)
        assert {x.user_id for x in mine if not x.first_hand} == {"U01PRIYA"}
        assert not [c for c in slack.calls("chat.postMessage") if c.args.get("channel") == dd.SHARED_CHANNEL[0]]
    finally:
        slack.stop()
