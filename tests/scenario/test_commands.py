"""/loop and /signal through signed requests: answers, and nothing written on bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import ChannelLink, Customer, CustomerAlias, Milestone, MilestoneEvent, Signal
from tests.conftest import Running
from tests.helpers import count, ephemeral_text

MODELS = (Customer, CustomerAlias, ChannelLink, Signal, Milestone, MilestoneEvent)


def snapshot(sf) -> tuple[int, ...]:  # noqa: ANN001
    return tuple(count(sf, m) for m in MODELS)


MALFORMED = [
    ("/signal", "", "Nothing to record"),
    ("/signal", "Nobody Inc said hello", "No customer named"),
    ("/signal", "Acme", "What did Acme say?"),
    ("/signal", "Acme #9 the export broke", "has no milestone 9"),
    ("/signal", "Acme #x the export broke", "is not a milestone number"),
    ("/signal", "Acm it broke again", "did you mean *Acme*"),
    ("/loop", "frobnicate", "Unknown command `/loop frobnicate`"),
    ("/loop", "customer", "Usage: `/loop customer add"),
    ("/loop", "customer add", "Give the customer's name"),
    ("/loop", "customer add Acme", "already exists"),
    ("/loop", "customer add <!channel> Corp", "can't be a name"),
    ("/loop", "customer add " + "x" * 120, "keep it under 80"),
    ("/loop", "customer add Beta segment", "only `segment <segment>` may follow"),
    ("/loop", "customer alias Acme", "Give the alias"),
    ("/loop", "customer alias Nobody Thing", "No customer named"),
    ("/loop", "customer outcome Acme", "Describe the outcome"),
    ("/loop", "customer outcome Acme | only experience", "The outcome before `|` is empty"),
    ("/loop", "link", "Name a customer"),
    ("/loop", "link Nobody", "No customer named"),
    ("/loop", "watch everything", "takes nothing after it"),
    ("/loop", "unlink", "nothing to unlink"),
    ("/loop", "forget Acme", "cannot be undone"),
    ("/loop", "privacy llm maybe", "Usage: `/loop privacy` shows the settings"),
    ("/loop", "customer alias Acme Acme", "already names *Acme*"),
]


@pytest.mark.parametrize("command,text,expected", MALFORMED)
def test_malformed_commands_get_usage_and_write_nothing(
    running: Running, command: str, text: str, expected: str
) -> None:
    running.driver.command("/loop", "customer add Acme segment smb", channel="C3")
    before = snapshot(running.sf)
    resp = running.driver.command(command, text, channel="C3")
    assert resp.status == 200
    body = resp.json()
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert expected in body["text"], body["text"]
    assert snapshot(running.sf) == before
    assert "Traceback" not in body["text"]


def test_customer_add_with_spaces_alias_outcome_and_link(running: Running) -> None:
    r = running.driver.command("/loop", '"Tallwood Dental Group" segment multi-site')
    assert "Unknown command" in ephemeral_text(r)
    r = running.driver.command("/loop", 'customer add "Tallwood Dental Group" segment multi-site')
    assert "4 milestones" in ephemeral_text(r)
    r = running.driver.command("/loop", "customer alias tallwood dental group TDG")
    assert "TDG" in ephemeral_text(r)
    r = running.driver.command(
        "/loop",
        "customer outcome TDG fill cancelled chair time the same day | "
        "without front-desk staff phoning the waiting list",
    )
    assert "Desired outcome" in ephemeral_text(r)
    r = running.driver.command("/loop", "link tdg", channel="C1")
    assert r.json()["response_type"] == "in_channel"
    with running.sf() as s:
        c = s.scalar(select(Customer))
        assert c.outcome_required == "fill cancelled chair time the same day"
        assert c.outcome_experience == "without front-desk staff phoning the waiting list"
        link = s.scalar(select(ChannelLink))
        assert (link.channel_id, link.kind, link.customer_id) == ("C1", "customer", c.id)
    r = running.driver.command("/loop", "watch", channel="C1")
    assert "shared feedback channel" in ephemeral_text(r)
    r = running.driver.command("/loop", "unlink", channel="C1")
    assert "no longer recorded" in ephemeral_text(r)
    assert count(running.sf, ChannelLink) == 0


def test_help_lists_every_command(running: Running) -> None:
    text = ephemeral_text(running.driver.command("/loop", "help"))
    for part in (
        "/loop customer add",
        "/loop customer alias",
        "/loop customer outcome",
        "/loop link",
        "/loop watch",
        "/loop unlink",
        "/loop digest schedule",
        "/loop digest now",
        "/loop digest off",
        "/loop learnings",
        "/loop decisions",
        "/signal",
        ":memo:",
    ):
        assert part in text, part


def test_forget_deletes_signals_after_confirmation(running: Running) -> None:
    running.driver.command("/loop", "customer add Acme")
    running.driver.command("/signal", "Acme the export broke")
    r = running.driver.command("/loop", "forget acme confirm")
    assert "1 signal" in ephemeral_text(r) and count(running.sf, Signal) == 1  # a preview: the button deletes
    from tests.scenario.test_truth import button

    [btn] = [e for b in r.json()["blocks"] if b["type"] == "actions" for e in b["elements"]]
    button(running, "forget_confirm", btn["value"])
    assert count(running.sf, Signal) == 0 and count(running.sf, Customer) == 0
