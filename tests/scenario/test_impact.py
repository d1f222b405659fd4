"""Progress versus impact: verdicts on a controlled clock, the digest section, framing rules, gap -> milestone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import framing, impact
from bot.render.digest import digest_messages
from bot.weeks import week_at
from storage.models import Milestone, MilestoneEvent
from tests.conftest import TEAM, Running
from tests.helpers import count
from tests.scenario.test_digest import all_text

ACHIEVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def setup(r: Running, before: list[str], after: list[str]) -> None:
    """Acme's milestone 1 "Payroll corrections drop to zero" achieved on Nov 2; signals around it."""
    d = r.driver
    r.clock.now = ACHIEVED - timedelta(days=30)
    d.command("/loop", "customer add Acme")
    d.command(
        "/milestone",
        'add Acme "Owner runs payroll without manual corrections" impact "Payroll corrections drop to zero"',
    )
    d.command("/milestone", "start Acme 1")
    for i, text in enumerate(before):
        r.clock.now = ACHIEVED - timedelta(days=12 - i)
        d.command("/signal", f"Acme {text}", channel="C3")
    r.clock.now = ACHIEVED
    d.command("/milestone", "done Acme 1")
    for i, text in enumerate(after):
        r.clock.now = ACHIEVED + timedelta(days=2 + i)
        d.command("/signal", f"Acme {text}", channel="C3")
    r.clock.now = ACHIEVED + timedelta(days=15)


CASES = {
    "felt": (
        [
            "payroll corrections again this run, manual fixes",
            "payroll broke, manual corrections needed",
            "still fixing payroll manually",
        ],
        ["payroll ran clean, no corrections, great"],
    ),
    "not yet felt": (
        ["payroll corrections needed again", "manual payroll fixes again"],
        ["payroll corrections needed again", "manual payroll fixes again"],
    ),
    "regressed": (
        ["payroll run fine"],
        [
            "payroll corrections broke everything",
            "manual payroll fixes failing again",
            "payroll wrong again, corrections by hand",
        ],
    ),
    "no evidence": ([], []),
}


@pytest.mark.parametrize("verdict", list(CASES))
def test_each_verdict_on_a_controlled_clock(running: Running, verdict: str) -> None:
    before, after = CASES[verdict]
    setup(running, before, after)
    with running.sf() as s:
        dg = running.deps.digest_runner.build(s, TEAM, "C3", week_at(running.clock.now))
    [sec] = [c for c in dg.customers if c.name == "Acme"]
    [rv] = sec.impact
    assert rv.verdict == verdict
    assert (rv.signals_before, rv.signals_after) == (len(before), len(after))
    line = rv.line()
    assert f"*{verdict}*" in line
    if verdict == "no evidence":
        assert "no evidence either way" in line
    else:
        assert f": {rv.problems_before} in the 2 weeks before → {rv.problems_after} after" in line
        # the wording follows the figures: problems up or down agree with the verdict (issue 29)
        moved = (
            "up"
            if rv.problems_after > rv.problems_before
            else "down"
            if rv.problems_after < rv.problems_before
            else "unchanged"
        )
        assert f"problem signals {moved}" in line
    text = all_text(digest_messages(dg, 1))
    assert "*Progress vs impact:* “Owner runs payroll without manual corrections”" in text
    question = (
        "What are we learning from “Owner runs payroll without manual corrections” not changing "
        "Acme's experience, and what decision does it affect?"
    )
    assert (question in text) == (verdict == "not yet felt")


def test_review_leaves_the_digest_after_three_weeks(running: Running) -> None:
    setup(running, *CASES["felt"])
    running.clock.now = ACHIEVED + timedelta(days=14 + 21 + 1)
    with running.sf() as s:
        dg = running.deps.digest_runner.build(s, TEAM, "C3", week_at(running.clock.now))
    assert all(not c.impact for c in dg.customers)


def test_unrelated_signals_do_not_count() -> None:
    from storage.models import Customer, Signal

    c = Customer(id=1, team_id="T", name="Acme", name_key="acme", created_at=ACHIEVED)
    m = Milestone(
        id=5,
        team_id="T",
        customer_id=1,
        position=1,
        title="Owner runs payroll without manual corrections",
        status="achieved",
        achieved_at=ACHIEVED,
        expected_impact="Payroll corrections drop to zero",
    )
    c.milestones = [m]
    sig = Signal(
        id=1,
        team_id="T",
        customer_id=1,
        text="The holiday rota export is broken",
        kind="problem",
        sentiment=-0.5,
        posted_at=ACHIEVED + timedelta(days=1),
        deleted_at=None,
        milestone_id=None,
        is_private=False,
        channel_id="C1",
    )
    tied = Signal(
        id=2,
        team_id="T",
        customer_id=1,
        text="Something unrelated",
        kind="problem",
        sentiment=-0.5,
        posted_at=ACHIEVED + timedelta(days=1),
        deleted_at=None,
        milestone_id=5,
        is_private=False,
        channel_id="C1",
    )
    assert impact.review(c, m, [sig], 14).verdict == "no evidence"
    assert impact.review(c, m, [sig, tied], 14).signals_after == 1


FRAMING = [
    ("Kickoff call held", True),
    ("Onboarding training complete", True),
    ("Admin training delivered", True),
    ("SSO configured", True),
    ("Mobile app installed on all devices", True),
    ("Data migrated from Sage", True),
    ("Welcome pack sent", True),
    ("Implementation complete", True),
    ("Integration with Xero set up", True),
    ("Go-live", True),
    ("QBR held", True),
    ("Licences provisioned for all staff", True),
    ("Workshop with the finance team", True),
    ("Accounts created", True),
    ("Phase 1 delivered", True),
    ("First payroll run without manual fixes", False),
    ("Depot managers approve shifts without emailing HR", False),
    ("Payroll corrections drop to zero", False),
    ("Every clinic books from one shared waiting list", False),
    ("Cancelled slots are filled the same day without phone calls", False),
    ("Owner closes the month without the accountant chasing figures", False),
    ("Staff request leave in the app", False),
    ("Therapists see their own schedule on mobile", False),
    ("Finance team can close the books in two days", False),
    ("Migration done so managers can report without spreadsheets", False),
    ("Support tickets about exports stop", False),
    ("Front desk no longer phones the waiting list", False),
]


@pytest.mark.parametrize("title,vendor", FRAMING)
def test_framing_rules(title: str, vendor: bool) -> None:
    f = framing.check(title)
    assert f.vendor is vendor, (title, f)
    advice = framing.advice(title, "Acme")
    assert (advice is not None) is vendor
    if vendor:
        assert "Acme can <do what this enables> without <the pain it removes>" in advice.replace("&lt;", "<").replace(
            "&gt;", ">"
        )


def test_framing_table_has_both_kinds() -> None:
    assert len(FRAMING) >= 25 and {v for _, v in FRAMING} == {True, False}


def test_vendor_title_gets_advice_not_refusal(running: Running) -> None:
    running.driver.command("/loop", "customer add Acme")
    r = running.driver.command("/milestone", 'add Acme "Onboarding training complete"')
    body = r.json()
    assert "reads like our checklist" in all_text([("", body["blocks"])])
    assert count(running.sf, Milestone) == 1


def test_add_as_milestone_button_opens_prefilled_modal_that_creates_it(running: Running) -> None:
    d = running.driver
    d.command("/loop", "customer add Acme")
    with running.sf() as s:
        from storage.models import Customer

        acme = s.scalar(select(Customer))
    d.interact(
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "trigger_id": "tg",
            "channel": {"id": "C1"},
            "container": {"type": "message", "channel_id": "C1"},
            "actions": [
                {
                    "type": "button",
                    "action_id": "gap_add_milestone",
                    "block_id": "g",
                    "value": f"{acme.id}|hygienist preferences",
                    "action_ts": "1",
                }
            ],
        }
    )
    view = running.slack.calls("views.open")[-1].args["view"]
    assert view["callback_id"] == "milestone_add_modal"
    title_el = next(b for b in view["blocks"] if b.get("block_id") == "title")["element"]
    assert "hygienist preferences" in title_el["initial_value"]

    def submit(title: str):  # noqa: ANN202
        state = {
            "values": {
                "title": {"title": {"type": "plain_text_input", "value": title}},
                "due": {"due": {"type": "datepicker", "selected_date": "2026-12-18"}},
                "impact": {"impact": {"type": "plain_text_input", "value": "Fewer calls"}},
            }
        }
        return d.submit_view("milestone_add_modal", state["values"], view["private_metadata"])

    bad = submit(title_el["initial_value"])  # placeholders left in: refused inline, nothing written
    assert bad.json()["response_action"] == "errors" and count(running.sf, Milestone) == 0
    ok = submit("Patients book their preferred hygienist without calling")
    assert ok.status == 200 and not ok.body
    with running.sf() as s:
        m = s.scalar(select(Milestone))
        assert (m.title, str(m.due_date), m.expected_impact) == (
            "Patients book their preferred hygienist without calling",
            "2026-12-18",
            "Fewer calls",
        )
        ev = s.scalar(select(MilestoneEvent))
        assert ev.reason == "from the success gap: hygienist preferences"
    assert json.loads(view["private_metadata"])["channel"] == "C1"
