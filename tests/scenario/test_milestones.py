"""Milestones: the status machine and its history, detection on a controlled clock, /milestone and buttons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import milestones as ms
from storage.models import Customer, Milestone, MilestoneEvent
from tests.conftest import Running
from tests.helpers import count, ephemeral_text

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def bare(status: str = ms.PLANNED, changed: datetime = T0, due: date | None = None) -> Milestone:
    c = Customer(id=1, team_id="T", name="Acme", name_key="acme", created_at=T0)
    m = ms.new_milestone(c, 1, "Acme closes the month without spreadsheets", T0, "U1", due=due)
    m.status, m.status_changed_at = status, changed
    return m


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["start", "done", "reopen", "risk"]), max_size=25))
def test_any_command_sequence_leaves_a_consistent_history(actions: list[str]) -> None:
    m = bare()
    now = T0
    for a in actions:
        now += timedelta(hours=1)
        before = m.status
        try:
            ms.apply_transition(m, a, "U2", now, "why" if a == "risk" else None)
        except ms.TransitionError as e:
            assert m.status == before and str(e)
            continue
        assert m.status == ms._TRANSITIONS[a][1]
    # history is a chain: each row starts where the previous ended and ends at the current status
    hist = m.history
    assert hist[0].from_status is None and hist[0].to_status == ms.PLANNED
    for prev, nxt in zip(hist, hist[1:], strict=False):
        assert nxt.from_status == prev.to_status and nxt.at >= prev.at
    assert hist[-1].to_status == m.status
    assert (m.achieved_at is not None) == (m.status == ms.ACHIEVED)
    assert (m.risk_reason is not None) == (m.status == ms.AT_RISK)


@pytest.mark.parametrize(
    "status,action,ok",
    [
        (ms.PLANNED, "start", True),
        (ms.IN_PROGRESS, "start", False),
        (ms.ACHIEVED, "start", False),
        (ms.AT_RISK, "start", True),
        (ms.ACHIEVED, "done", False),
        (ms.PLANNED, "reopen", False),
        (ms.ACHIEVED, "reopen", True),
        (ms.AT_RISK, "risk", False),
        (ms.ACHIEVED, "risk", False),
    ],
)
def test_transitions_that_make_no_sense_are_refused(status: str, action: str, ok: bool) -> None:
    m = bare(status)
    if ok:
        ms.apply_transition(m, action, "U1", T0 + timedelta(days=1))
    else:
        with pytest.raises(ms.TransitionError):
            ms.apply_transition(m, action, "U1", T0 + timedelta(days=1))


def test_overdue_edge_days() -> None:
    m = bare(ms.IN_PROGRESS, due=date(2026, 10, 10))
    assert not ms.is_overdue(m, date(2026, 10, 10))  # due today: not yet
    assert ms.is_overdue(m, date(2026, 10, 11))
    m.status = ms.ACHIEVED
    assert not ms.is_overdue(m, date(2026, 12, 1))


def test_stalled_edge_days() -> None:
    m = bare(ms.IN_PROGRESS, changed=T0)
    assert not ms.is_stalled(m, T0 + timedelta(days=14), 14)  # exactly the threshold: not longer
    assert ms.is_stalled(m, T0 + timedelta(days=14, seconds=1), 14)
    assert not ms.is_stalled(bare(ms.PLANNED), T0 + timedelta(days=90), 14)
    assert ms.segment_rules("smb").stall_days == 10 and ms.segment_rules("unknown").stall_days == 14


def test_velocity_median_and_slowdown() -> None:
    now = T0 + timedelta(days=120)
    achieved = [T0 + timedelta(days=d) for d in (10, 25, 40, 55)]
    assert ms.velocity(achieved, now) == 0
    assert ms.velocity(achieved, T0 + timedelta(days=55)) == 2  # (25, 55] holds 40 and 55
    assert ms.velocity(achieved, T0 + timedelta(days=40)) == 2  # day 10 is exactly 30 days back: out
    assert ms.velocity(achieved, T0 + timedelta(days=39)) == 2  # day 10 is inside (9, 39]
    assert ms.segment_median_gap([achieved, [T0, T0 + timedelta(days=5)]]) == 15
    slow = ms.slowdown(achieved, T0, now, segment_median_days=None)
    assert slow is not None and slow.recent == 0 and slow.basis == "its earlier pace"
    steady = [T0 + timedelta(days=d) for d in (20, 45, 70, 95, 110)]
    assert ms.slowdown(steady, T0, now, segment_median_days=None) is None
    young = ms.slowdown([], T0, T0 + timedelta(days=29), segment_median_days=10)
    assert young is None  # under one period old: too early to call
    assert ms.slowdown([], T0, T0 + timedelta(days=31), segment_median_days=10).basis == "the segment median"


def test_quiet_edges() -> None:
    last = T0
    assert not ms.is_quiet(last, T0, T0 + timedelta(weeks=3) - timedelta(seconds=1), True, 3)
    assert ms.is_quiet(last, T0, T0 + timedelta(weeks=3), True, 3)
    assert not ms.is_quiet(last, T0, T0 + timedelta(weeks=8), False, 3)  # nothing in progress
    assert ms.is_quiet(None, T0, T0 + timedelta(weeks=3), True, 3)  # never heard since the start


def test_templates_instantiate_per_segment(running: Running) -> None:
    running.driver.command("/loop", "customer add Northwind segment smb")
    running.driver.command("/loop", "customer add Tallwood segment multi-site")
    running.driver.command("/loop", "customer add Plain Co")
    with running.sf() as s:
        by = {c.name: c for c in s.scalars(select(Customer))}
        titles = [m.title for m in by["Northwind"].milestones]
        assert titles == [t.title for t in ms.load_templates()["smb"].milestones]
        assert len(by["Tallwood"].milestones) == 4 and by["Plain Co"].milestones == []
        first = by["Northwind"].milestones[0]
        assert first.due_date == (running.clock.now + timedelta(days=14)).date()
        assert first.history[0].reason == "template smb"


def blocks_text(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"] if isinstance(b["text"], dict) else str(b["text"]))
        for e in b.get("elements", []):
            if isinstance(e.get("text"), dict):
                out.append(e["text"]["text"])
            elif isinstance(e.get("text"), str):
                out.append(e["text"])
    return "\n".join(out)


def test_milestone_command_forms_and_block_kit(running: Running) -> None:
    d = running.driver
    d.command("/loop", "customer add Tallwood Dental Group segment multi-site")
    d.command("/loop", "customer outcome Tallwood Dental Group fill cancelled chair time | without phoning")
    d.command("/loop", "link Tallwood Dental Group", channel="C1")
    r = d.command(
        "/milestone",
        'add Tallwood Dental Group "Hygienists see their own patients on mobile" '
        'due 2026-12-04 impact "Fewer calls to the front desk"',
    )
    text = blocks_text(r.json()["blocks"])
    assert "Added milestone 5" in text and "due Dec 4" in text and "Fewer calls" in text
    r = d.command("/milestone", "start tallwood dental group 1")
    blocks = r.json()["blocks"]
    assert blocks[1]["type"] == "header" and "milestone 1 of 5 (0 achieved)" in blocks[1]["text"]["text"]
    assert "Desired outcome: fill cancelled chair time" in blocks_text(blocks)
    assert ":large_blue_circle: *1. Every site books from one shared calendar* — in progress" in blocks_text(blocks)
    acts = next(b for b in blocks if b.get("block_id", "").startswith("ms:"))
    assert {e["action_id"] for e in acts["elements"]} == {"ms_done", "ms_risk", "ms_impact"}
    r = d.command("/milestone", "risk Tallwood Dental Group 1 texts still go out twice")
    assert "at risk" in r.json()["text"] and "texts still go out twice" in blocks_text(r.json()["blocks"])
    r = d.command("/milestone", "done Tallwood Dental Group 1")
    assert "achieved" in r.json()["text"]
    r = d.command("/milestone", "reopen Tallwood Dental Group 1")
    assert "in progress" in r.json()["text"]
    r = d.command("/milestone", "owner Tallwood Dental Group 2 <@U3|sam>")
    assert "<@U3> now owns milestone 2" in r.json()["text"]
    r = d.command("/milestone", "owner Tallwood Dental Group 2 @sam")
    assert "plain text, not a mention" in r.json()["text"]
    r = d.command("/milestone", "due Tallwood Dental Group 2 2027-01-15")
    assert "is now due Fri Jan 15, 2027" in r.json()["text"]
    r = d.command("/milestone", "due Tallwood Dental Group 2 none")
    assert "no longer has a due date" in r.json()["text"]
    with running.sf() as s:
        m1 = s.scalar(select(Milestone).where(Milestone.position == 1))
        assert [(e.from_status, e.to_status) for e in m1.history] == [
            (None, "planned"),
            ("planned", "in_progress"),
            ("in_progress", "at_risk"),
            ("at_risk", "achieved"),
            ("achieved", "in_progress"),
        ]
        assert all(e.actor_id == "U1" for e in m1.history)
        m2 = s.scalar(select(Milestone).where(Milestone.position == 2))
        assert m2.owner_id == "U3" and m2.due_date is None
    # the portfolio: one line per customer
    d.command("/loop", "customer add Northwind segment smb")
    r = d.command("/milestone", "")
    text = blocks_text(r.json()["blocks"])
    assert "*Tallwood Dental Group* (multi-site) — milestone 1 of 5 (0 achieved) · next: Every site" in text
    assert "*Northwind* (smb) — milestone 1 of 3 (0 achieved)" in text


MS_BAD = [
    ("add Acme", "needs a title"),
    ('add Acme "Closes books" due 2026-13-01', "is not a real date"),
    ('add Acme "Closes books" due tomorrow', "is not a due date"),
    ('add Acme "Closes books" colour blue', "Unexpected “colour”"),
    ('add Nobody "x"', "No customer named"),
    ("start Acme 9", "has no milestone 9"),
    ("start Acme", "Add its number"),
    ("start Acme one", "is not a milestone number"),
    ("done Acme 1 extra words", "Unexpected “extra words”"),
    ("reopen Acme 1", "only an achieved milestone can be reopened"),
    ("owner Acme 1 sam", "Mention the owner"),
    ("due Acme 1 31/12/2026", "is not a due date"),
    ("Nobody Inc", "No customer named"),
]


@pytest.mark.parametrize("text,expected", MS_BAD)
def test_bad_milestone_input_is_answered_and_writes_nothing(running: Running, text: str, expected: str) -> None:
    running.driver.command("/loop", "customer add Acme segment smb")
    before = (count(running.sf, Milestone), count(running.sf, MilestoneEvent))
    r = running.driver.command("/milestone", text)
    assert expected in ephemeral_text(r)
    assert (count(running.sf, Milestone), count(running.sf, MilestoneEvent)) == before


def test_buttons_update_in_place_and_achievement_notifies_and_asks(running: Running) -> None:
    d = running.driver
    d.command("/loop", "customer add Acme segment smb")
    d.command("/loop", "link Acme", channel="C1")
    with running.sf() as s:
        m2 = s.scalar(select(Milestone).where(Milestone.position == 2))
    running.slack.reset()

    def press(action: str, m_id: int):  # noqa: ANN202
        return d.interact(
            {
                "type": "block_actions",
                "user": {"id": "U3"},
                "trigger_id": "t",
                "response_url": d.response_base + "response/btn",
                "container": {"type": "message", "is_ephemeral": True},
                "channel": {"id": "C3"},
                "actions": [
                    {
                        "type": "button",
                        "action_id": action,
                        "block_id": f"ms:{m_id}",
                        "value": str(m_id),
                        "action_ts": "1",
                    }
                ],
            }
        )

    assert press("ms_start", m2.id).status == 200
    replaced = running.slack.calls("response_url")[-1].args
    assert replaced["replace_original"] is True
    assert "is now in progress" in replaced["text"]
    assert "— in progress" in blocks_text(replaced["blocks"])
    press("ms_done", m2.id)
    posts = running.slack.calls("chat.postMessage")
    note = next(p for p in posts if p.args["channel"] == "C1")
    assert "Milestone reached for *Acme*" in note.args["text"]
    dm = next(p for p in posts if p.args["channel"] == "U3")  # the owner (who started it) gets the ask
    assert "Ask for a review on the marketplace" in dm.args["text"]
    # a button that makes no sense now: a clear ephemeral answer, nothing changes
    press("ms_done", m2.id)
    assert "already achieved" in running.slack.calls("response_url")[-1].args["text"]
    with running.sf() as s:
        assert len(s.get(Milestone, m2.id).history) == 3


def test_app_home_published_on_open_and_refreshed_after_change(running: Running) -> None:
    d = running.driver
    d.command("/loop", "customer add Acme segment smb")
    d.command("/loop", "customer add Tallwood segment multi-site")
    d.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    [pub] = running.slack.calls("views.publish")
    assert pub.args["user_id"] == "U1" and pub.args["view"]["type"] == "home"
    text = blocks_text(pub.args["view"]["blocks"])
    assert (
        "*multi-site*" in text
        and "*smb*" in text
        and "*Acme* (smb) — milestone 1 of 3 (0 achieved) · next: The owner gets the first result" in text
    )
    assert "no signals yet" in text
    d.event({"type": "app_home_opened", "user": "U2", "channel": "D2", "tab": "home"})
    running.clock.advance(days=20)
    # a change re-publishes the tab of whoever opened it in the last day; U2 looked 20 days ago and gets a fresh
    # one when opening it again
    d.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    d.command("/milestone", "start Acme 1")
    pubs = running.slack.calls("views.publish")
    assert [p.args["user_id"] for p in pubs] == ["U1", "U2", "U1", "U1"]
    assert "in progress" in blocks_text(pubs[-1].args["view"]["blocks"])
    running.clock.advance(days=15)
    d.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    text = blocks_text(running.slack.calls("views.publish")[-1].args["view"]["blocks"])
    assert "stalled 15d" in text and "overdue" in text and "quiet" in text
