"""Corrections teach the workspace: kinds people corrected in Slack decide that workspace's later messages
that read alike (bot.memory), and no other workspace's."""

from __future__ import annotations

from bot.classify import classify
from tests.conftest import TEAM, Running
from tests.helpers import signals
from tests.scenario.test_digest import at, ts
from tests.scenario.test_truth import button, submit

OTHER = "T0OTHERWS"
SITES = [
    "Harbour Road",
    "Elm Street",
    "Northgate",
    "Riverside",
    "Kings Cross",
    "Old Mill",
    "Station Yard",
    "Westfield",
    "Hilltop",
    "Bridge End",
    "Canal Side",
    "Market Square",
    "Parkway",
    "Lakeside",
    "Orchard Lane",
    "Quayside",
    "Abbey Road",
    "Victoria Park",
    "Castle Hill",
    "Mill Lane",
]


def report(site: str, n: int) -> str:
    # a routine nightly report this team files as "other"; the words alone read like a problem
    return f"Nightly sync report for {site}: {n} failed records skipped as expected"


def test_twenty_corrections_of_one_phrasing_change_that_workspace_only(running: Running) -> None:
    r, d = running, running.driver
    assert classify(report("Anywhere", 2)).kind == "problem"  # what the cues and the model say alone
    r.clock.now = at(16, 9)
    for team in (TEAM, OTHER):
        d.command("/loop", "customer add Acme Foods", team=team)
        d.command("/loop", "link Acme Foods", channel="C1", team=team)
    for i, site in enumerate(SITES):
        d.message("C1", report(site, i + 2), ts=ts(16 + i % 4, 10, i))
    assert {s.kind for s in signals(r.sf, TEAM)} == {"problem"}
    # someone corrects all twenty from the digest's "Correct kinds" button
    d.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    r.clock.now = at(20, 15)
    r.deps.digest_runner.run_scheduled(TEAM, "C1")
    post = next(c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C1")
    fix = next(
        b["accessory"] for b in post.args["blocks"] if (b.get("accessory") or {}).get("action_id") == "correct_kinds"
    )
    button(r, "correct_kinds", fix["value"])
    view = r.slack.calls("views.open")[-1].args["view"]
    inputs = [b for b in view["blocks"] if b["type"] == "input" and "Nightly sync report" in b["label"]["text"]]
    assert len(inputs) == 20
    values = {b["block_id"]: {"kind": {"type": "static_select", "selected_option": {"value": "other"}}} for b in inputs}
    submit(r, "kinds_modal", values, view["private_metadata"], user="U3", blocks=view["blocks"])
    assert [s.kind for s in signals(r.sf, TEAM)] == ["other"] * 20
    # from then on, this workspace's reports like these are "other" — sites and numbers it never corrected
    r.clock.now = at(23, 9)
    d.message("C1", report("Seaview Terrace", 41), ts=ts(23, 9, 1))
    d.message("C1", "Nightly sync report for Dockside: 7 failed records skipped, as expected", ts=ts(23, 9, 2))
    # a message that only shares words with them is still read on its own
    d.message("C1", "The nightly sync failed and every record from Dockside is missing", ts=ts(23, 9, 3))
    # the other workspace corrected nothing: the same report is still a problem there
    d.message("C1", report("Seaview Terrace", 41), ts=ts(23, 9, 4), team=OTHER)
    mine = [s.kind for s in signals(r.sf, TEAM)][20:]
    assert mine == ["other", "other", "problem"]
    assert [s.kind for s in signals(r.sf, OTHER)] == ["problem"]
