"""Where the app and the real Slack disagreed (issue 25, part B), each driven through signed HTTP against devtools'
Slack server: the shortcut's own message, the reaction path without history reads, other bots' edits, the
events cap, more than 100 customers, domain-like names and a channel whose id changes."""

from __future__ import annotations

from storage.models import Signal
from tests.conftest import Running
from tests.helpers import count, ephemeral_text, signals


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
