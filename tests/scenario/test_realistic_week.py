"""A realistic week through the Slack simulator: Slack's latency and some 429s, 40 App Home viewers, three
channels shared with customers. Every answer within Slack's 3 seconds (the driver fails one that is not), not a
word of the team's internal notes posted into a shared channel, and every acknowledged signal in the next digest.
Requests come as Slack sends them, one after another, without waiting for the app's work after each answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.weeks import week_at
from devtools.fakeslack import DEADLINE_SECONDS, REALISTIC
from tests.conftest import TEAM, Running
from tests.helpers import figure

ORGS = {
    "C9": ("ext-acme", ("T0ACME", "Acme Health Inc", "acmehealth.com"), "Acme Health"),
    "C8": ("tallwood-shared", ("T0TALL", "Tallwood Dental", "tallwood.com"), "Tallwood Dental Group"),
    "C7": ("shared-birch", ("T0BRCH", "Birch Logistics", "birch.io"), "Birch Logistics"),
}
EXTERNAL = {"C9": ("UA1", "Dana"), "C8": ("UT1", "Tom"), "C7": ("UB1", "Bea")}
MORE_EXTERNAL = {"UA2": ("Eve", "T0ACME")}
VIEWERS = [f"UV{i:02d}" for i in range(40)]
INTERNAL_MARK = "INTERNAL-NOTE"  # in every message the team writes in its own channels

# (day, channel, user, text): the customers' own words in their shared channels, the team's notes elsewhere
WEEK = [
    (0, "C9", "UA1", "The export to our billing system failed again this morning"),
    (0, "C1", "U2", f"{INTERNAL_MARK} Acme's renewal is at risk, the CFO asked about cost"),
    (0, "C8", "UT1", "Could you add a waiting list view for the front desk?"),
    (1, "C7", "UB1", "Route planning saved our dispatchers two hours today, thank you"),
    (1, "C2", "U3", f"{INTERNAL_MARK} Birch Logistics wants a second depot before March"),
    (1, "C9", "UA1", "Is there a way to schedule the export for Sundays?"),
    (2, "C8", "UT1", "Reminder texts went out twice at the Elm Street clinic"),
    (2, "C9", "UA2", "The billing export is broken for the third day in a row"),
    (2, "C9", "UA1", "Invoices from the export are missing the cost centre"),
    (2, "C9", "UA2", "The export job timed out twice this afternoon and nobody was told"),
    (2, "C1", "U3", f"{INTERNAL_MARK} Acme's export failures are the renewal risk, per their CFO"),
    (2, "C1", "U4", f"{INTERNAL_MARK} Acme is trialling a competitor in one region"),
    (3, "C7", "UB1", "Drivers cannot log in on the new tablets since the update"),
    (3, "C2", "U2", f"{INTERNAL_MARK} Tallwood Dental Group asked for a discount at renewal"),
    (4, "C9", "UA1", "Our nurses love the new shift swap screen"),
    (4, "C8", "UT1", "When will the SMS fix reach the Oak Road clinic?"),
]


# a minute of Slack's real latency: on the production database only (the storage paths it takes are tested on
# both databases elsewhere)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_realistic_week_answers_in_time_keeps_shared_channels_clean_and_digests_every_signal(
    running: Running,
) -> None:
    r, d, st = running, running.driver, running.slack.state
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    r.clock.now = monday - timedelta(days=1)
    for cid, (name, org, _) in ORGS.items():
        r.slack.share_channel(cid, name, [org])
        user, person = EXTERNAL[cid]
        r.slack.add_external_user(user, person, org[0])
    for user, (person, org_id) in MORE_EXTERNAL.items():
        r.slack.add_external_user(user, person, org_id)
    answers = []
    for _, _, customer in ORGS.values():
        answers.append(d.command("/loop", f"customer add {customer}"))
    answers.append(d.command("/loop", "link Acme Health", channel="C1"))  # the team's own channel about Acme
    answers.append(d.command("/loop", "watch", channel="C2"))
    for cid, (name, _, customer) in ORGS.items():
        answers.append(d.command("/loop", f"link {customer}", channel=cid, channel_name=name))
    answers.append(d.command("/loop", "digest schedule friday 15:00 UTC portfolio", channel="C4"))
    # thread replies when something comes of a signal: asked for in every customer channel, shared ones too
    for cid, (name, _, _) in ORGS.items():
        answers.append(d.command("/loop", "replies on", channel=cid, channel_name=name))
    answers.append(d.command("/loop", "replies on", channel="C1"))
    for u in VIEWERS:
        answers.append(d.event({"type": "app_home_opened", "user": u, "tab": "home", "channel": "D" + u[1:]}))
    # from here on Slack answers as it does: 50-300 ms a call, and now and then a 429 with Retry-After
    st.latency = REALISTIC
    st.script["chat.postMessage"] = [{"status": 429, "retry_after": 1}]
    st.script["views.publish"] = [{"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}]
    acknowledged: list[str] = []
    # Slack sends each event as it happens and never waits for what the app does after an answer (here mostly
    # App Home re-published for 40 viewers within views.publish's rate limit, its 429s waited out): the driver
    # does not wait for it either until the week is over, so every answer below is timed while that work runs
    settle, d.settle = d.settle, None
    for day in range(5):
        r.clock.now = monday + timedelta(days=day)
        for n, (when, cid, user, text) in enumerate(WEEK):
            if when != day:
                continue
            ts = f"{int((monday + timedelta(days=day, minutes=n)).timestamp())}.{n:06d}"
            extra = {}
            if cid in ORGS:
                org = ORGS[cid][1][0]
                extra = {"user_team": org, "source_team": org}
            resp = d.message(cid, text, user=user, ts=ts, **extra)
            answers.append(resp)
            if resp.status == 200:
                acknowledged.append(text)
        # the team runs the loop while Slack is slow: milestones, a signal by hand, a button from App Home
        if day == 1:
            answers.append(d.command("/milestone", 'add Acme Health "Exports reach billing without a person"'))
            answers.append(d.command("/milestone", "start Acme Health 1"))
        if day == 3:
            answers.append(d.command("/signal", "Birch Logistics the tablets issue blocks two depots", user="U2"))
            acknowledged.append("the tablets issue blocks two depots")
            answers.append(d.command("/milestone", "done Acme Health 1", user="U1"))
        r.clock.now = monday + timedelta(days=day, hours=8)  # the end of the day's work
        # the scans a running app makes (tests/process/test_jobs.py starts `signalloop run` for them): bursts,
        # the outbox, customers' questions left unanswered
        r.deps.nudger.run()
        r.deps.outbox.send_due()
        if r.deps.connect is not None:
            r.deps.connect.run_unanswered()
    settle()  # the app's work after the week's answers has finished: all it posted is in the calls
    assert all(a.status == 200 for a in answers)
    # Acme's burst (problems in its shared channel and the team's notes) reached the team, not the customer
    nudges = [c for c in r.slack.calls("chat.postMessage") if "problems or churn risks" in str(c.args.get("text"))]
    assert nudges and all(c.args["channel"] not in ORGS for c in nudges)
    slowest = max(a.elapsed for a in answers)
    assert slowest < DEADLINE_SECONDS  # the driver already failed any answer later than Slack waits

    # Friday's digest in the team's portfolio channel
    r.clock.now = datetime(2026, 11, 20, 15, 1, tzinfo=UTC)
    res = r.deps.digest_runner.post(TEAM, "C4", week_at(r.clock(), "UTC"), late=False, requested_by=None)
    assert res.status == "posted", res
    digest = " ".join(
        (c.args.get("text") or "") + json.dumps(c.args.get("blocks") or [], ensure_ascii=False)
        for c in r.slack.calls("chat.postMessage")
        if c.args.get("channel") == "C4"
    )
    missing = [t for t in acknowledged if t.replace("'", "’")[:40] not in digest and t[:40] not in digest]
    assert missing == [], f"acknowledged but not in the digest: {missing}"

    # nothing the team wrote elsewhere reached a channel the customer reads
    into_shared = [
        c
        for c in r.slack.state.calls
        if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "files.upload", "files.uploadV2")
        and c.args.get("channel") in ORGS
    ]
    leaked = [c for c in into_shared if INTERNAL_MARK in json.dumps(c.args, ensure_ascii=False)]
    assert leaked == []
    assert not [c for c in into_shared if c.method == "chat.postMessage" and "Weekly" in str(c.args.get("text"))]
    figure(
        f"a realistic week: {len(answers)} requests answered, slowest {slowest * 1000:.0f} ms; {len(acknowledged)} "
        f"signals acknowledged, all in Friday's digest; {len(into_shared)} posts to 3 shared channels, none internal"
    )
