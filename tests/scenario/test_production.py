"""Production-grade behaviour: isolation, Slack faults, OAuth install, fuzzing, secrets, deletion, retention."""

from __future__ import annotations

import json
import logging
import re
import time
from urllib.parse import parse_qs, urlparse
from urllib.request import Request, urlopen

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import learning, llm
from bot.commands.parsing import Ctx
from bot.render.digest import digest_messages
from bot.weeks import week_at
from storage.models import Signal
from tests.conftest import TEAM, Running
from tests.helpers import count, figure, signals
from tests.scenario.test_digest import all_text

OTHER = "T0OTHER"


def two_workspaces(r: Running) -> None:
    """The same channel ids and customer names in two workspaces."""
    for team, text in ((TEAM, "exports fail for team one"), (OTHER, "SECRET-OF-OTHER payroll broke")):
        d = r.driver
        d.command("/loop", "customer add Acme segment smb", team=team)
        d.command("/loop", "link Acme", channel="C1", team=team)
        d.message("C1", text, team=team)
        d.command("/signal", f"Acme {text} (typed)", team=team)


def test_workspaces_see_nothing_of_each_other(running: Running) -> None:
    r = running
    two_workspaces(r)
    assert len(signals(r.sf, TEAM)) == 2 and len(signals(r.sf, OTHER)) == 2
    # commands
    r.driver.command("/loop", "customer add Zeta Only Here Holdings", team=OTHER)
    text = r.driver.command("/signal", "Zeta Only Here hello", team=TEAM).json()["text"]
    # what the person typed is echoed back; nothing of the other workspace's is suggested
    assert "No customer named" in text and "did you mean" not in text and "Holdings" not in text
    listing = json.dumps(r.driver.command("/milestone", "", team=TEAM).json())
    assert "Zeta" not in listing and "Acme" in listing
    # digests
    with r.sf() as s:
        dg = r.deps.digest_runner.build(s, TEAM, "C1", week_at(r.clock.now))
    text = all_text(digest_messages(dg, 1))
    assert "exports fail" in text and "SECRET-OF-OTHER" not in text
    # App Home
    r.driver.event({"type": "app_home_opened", "user": "U1", "tab": "home"}, team=TEAM)
    home = json.dumps(r.slack.calls("views.publish")[-1].args["view"])
    assert "Zeta" not in home and "Acme" in home
    # LLM input
    ev = llm.build_evidence(dg, 12_000, include_private=True, prompt=llm.load_prompt())
    assert "SECRET-OF-OTHER" not in json.dumps(ev.payload) and "exports fail" in json.dumps(ev.payload)
    figure("workspaces 2: commands, digest, App Home and LLM input each saw only their own")


def test_429_retry_after_is_honoured(running: Running) -> None:
    r = running
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "link Acme", channel="C1")
    r.slack.state.script["chat.postMessage"] = [{"status": 429, "retry_after": 1}]
    r.slack.reset()
    t0 = time.monotonic()
    res = r.deps.digest_runner.post(TEAM, "C1", week_at(r.clock.now), late=False, requested_by=None)
    elapsed = time.monotonic() - t0
    calls = r.slack.calls("chat.postMessage")
    figure(f"429 then retry after {calls[1].at - calls[0].at:.2f}s; digest {res.status}")
    assert res.status == "posted" and len(calls) == 2
    assert calls[1].at - calls[0].at >= 0.95 and elapsed >= 0.95


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived"])
def test_channel_errors_are_logged_and_schedule_kept(
    running: Running, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    r = running
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "digest schedule friday 15:00 UTC portfolio", channel="C4", user="U2")
    r.slack.state.script["chat.postMessage"] = [{"error": error}]
    with caplog.at_level(logging.WARNING):
        res = r.deps.digest_runner.post(TEAM, "C4", week_at(r.clock.now), late=False, requested_by=None)
    assert res.status == "failed" and any(error in rec.getMessage() for rec in caplog.records)
    told = r.slack.calls("chat.postMessage")[-1].args
    assert told["channel"] == "U2" and "schedule is kept" in told["text"]
    with r.sf() as s:
        from storage import repo

        assert repo.schedule_for(s, team_id=TEAM, channel_id="C4").enabled


def test_oauth_install_through_fake_oauth_v2_access(start_app) -> None:  # noqa: ANN001
    r = start_app(SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="shh", SLACK_BOT_TOKEN="")
    base = r.driver.base
    with urlopen(base + "/slack/install") as resp:
        page = resp.read().decode()
        cookie = resp.headers.get("Set-Cookie", "").split(";", 1)[0]
    assert resp.status == 200 and cookie.startswith("slack-app-oauth-state=")
    link = re.search(r'href="(https://slack.com/oauth/v2/authorize[^"]+)"', page).group(1).replace("&amp;", "&")
    state = parse_qs(urlparse(link).query)["state"][0]
    req = Request(f"{base}/slack/oauth_redirect?code=abc&state={state}", headers={"Cookie": cookie})
    with urlopen(req) as resp:
        assert resp.status == 200
    assert r.slack.calls("oauth.v2.access")
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    store = SQLAlchemyInstallationStore(client_id="111.222", engine=r.sf.kw["bind"])
    bot = store.find_bot(enterprise_id=None, team_id="T0INSTALL")
    assert bot is not None and bot.bot_token == "xoxb-installed-token"
    # the installed workspace's requests are authorised from the store
    r.driver.command("/loop", "customer add Acme", team="T0INSTALL")
    resp = r.driver.command("/signal", "Acme hello from an installed workspace", team="T0INSTALL")
    assert "Recorded for *Acme*" in resp.json()["text"]
    assert r.deps.digest_runner.client_for("T0INSTALL").token == "xoxb-installed-token"
    # a workspace that never installed is refused
    assert r.driver.command("/signal", "Acme hi", team="T0NOBODY").status == 200
    assert count(r.sf, Signal) == 1
    # uninstalling deletes the workspace's tokens (Bolt's revocation listeners on the same store)
    assert r.driver.event({"type": "app_uninstalled"}, team="T0INSTALL").status == 200
    assert store.find_bot(enterprise_id=None, team_id="T0INSTALL") is None


def test_events_the_app_does_not_use_are_acknowledged(running) -> None:  # noqa: ANN001
    """Bolt answers 404 to an event no listener takes, and Slack would retry it: every event gets its 200."""
    for ev in (
        {"type": "member_joined_channel", "user": "U2", "channel": "C1"},
        {"type": "reaction_removed", "user": "U2", "reaction": "memo"},
        {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}},
        {"type": "channel_rename", "channel": {"id": "C1", "name": "renamed"}},
    ):
        assert running.driver.event(ev).status == 200, ev["type"]


text_st = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
command_text = st.one_of(
    text_st,
    st.builds(
        lambda a, b: f"{a} {b}",
        st.sampled_from(
            [
                "customer add",
                "customer alias",
                "customer outcome",
                "link",
                "watch",
                "unlink",
                "digest",
                "digest schedule",
                "digest now",
                "digest off",
                "digest llm",
                "learnings",
                "decisions",
                "forget",
                "privacy llm private",
                "add",
                "start",
                "done",
                "reopen",
                "risk",
                "impact",
                "owner",
                "due",
                "help",
                "Acme",
                '"Acme Health"',
                "Acme #2",
            ]
        ),
        text_st,
    ),
)


@settings(max_examples=300, deadline=None)
@given(which=st.sampled_from(["signal", "milestone", "loop"]), text=command_text)
def test_fuzz_commands_never_raise(fuzz_commands, which: str, text: str) -> None:  # noqa: ANN001
    commands, ctx, counter = fuzz_commands
    reply = getattr(commands, which)(ctx, text)
    counter["n"] += 1
    # every answer says something, except `/loop digest now`, which answers once it knows (bot.runner)
    assert reply.text or [type(e).__name__ for e in reply.effects] == ["RunDigest"]
    assert "something went wrong on our side" not in reply.text
    assert reply.ok or any(
        w in reply.text
        for w in (
            "Usage",
            "No customer",
            "did you mean",
            "Name a",
            "not a",
            "Give",
            "has no",
            "needs",
            "keep it",
            "Keep",
            "Unexpected",
            "Unknown",
            "only",
            "can't",
            "already",
            "takes nothing",
            "Say",
            "Describe",
            "empty",
            "Mention",
            "Which",
            "What did",
            "Nothing",
            "isn't",
            "cannot be undone",
            "Schedule",
            "is ",
            "Add its",
            "No weekly",
            "Pick",
            "A name",
            "command word",
        )
    )


@pytest.fixture(scope="module")
def fuzz_commands(tmp_path_factory):  # noqa: ANN001, ANN201
    from bot.commands import Commands
    from bot.services import utcnow
    from storage import db

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}"
    db.upgrade(url)
    sf = db.make_session_factory(db.make_engine(url))
    cmds = Commands(sf, utcnow, "memo")
    ctx = Ctx(team_id=TEAM, user_id="U1", channel_id="C1", trigger_id="t")
    cmds.loop(ctx, "customer add Acme Health segment smb")
    cmds.loop(ctx, "customer add Acme")
    counter = {"n": 0}
    yield cmds, ctx, counter
    figure(
        f"/signal, /milestone and /loop inputs fuzzed: {counter['n']}, none raised",
        test="test_fuzz_commands_never_raise",
    )


@settings(max_examples=200, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {
            "learning": st.one_of(st.none(), text_st),
            "decision": st.one_of(st.none(), text_st),
            "customers": st.lists(st.one_of(st.text(max_size=5), st.integers(0, 9).map(str)), max_size=3),
            "milestones": st.lists(st.integers(0, 9).map(str), max_size=3),
            "owner": st.one_of(st.none(), st.text(max_size=12)),
            "review": st.one_of(st.none(), st.text(max_size=12), st.dates().map(str)),
        }
    ),
    meta=st.fixed_dictionaries(
        {"run": st.one_of(st.integers(0, 5), st.none()), "channel": st.sampled_from(["C1", None])}
    ),
)
def test_fuzz_learning_modal_never_raises(fuzz_commands, values: dict, meta: dict) -> None:  # noqa: ANN001
    from bot.services import utcnow

    cmds, _, counter = fuzz_commands
    result = learning.submit_learning(cmds.sf, TEAM, "U1", meta, values, utcnow())
    counter["n"] += 1
    assert result.errors or result.learning_id is not None


def test_secrets_never_logged(start_app, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    with caplog.at_level(logging.DEBUG):
        r = start_app(SLACK_BOT_TOKEN="xoxb-super-secret-token-123", SLACK_SIGNING_SECRET="test-signing-secret")
        r.driver.command("/loop", "customer add Acme")
        r.driver.command("/loop", "link Acme", channel="C1")
        r.driver.message("C1", "the export broke")
        r.deps.digest_runner.post(TEAM, "C1", week_at(r.clock.now), late=False, requested_by=None)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "xoxb-super-secret-token-123" not in logged and "test-signing-secret" not in logged


def test_retention_erases_old_signal_text(start_app) -> None:  # noqa: ANN001
    r = start_app(SIGNALLOOP_RETENTION_DAYS="30")
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/signal", "Acme old complaint about exports")
    r.clock.advance(days=31)
    r.driver.command("/signal", "Acme fresh praise")
    assert r.deps.retention.apply() == 1
    old, new = signals(r.sf)
    assert old.text == "" and new.text == "fresh praise" and old.kind  # counts and kinds stay, words go
    r.clock.advance(days=1)
    assert r.deps.retention.apply() == 0


def test_purge_cli_deletes_a_customers_signals(running: Running, db_url: str) -> None:
    from tests.scenario.test_cli import cli

    r = running
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "customer add Beta")
    r.driver.command("/signal", "Acme one")
    r.driver.command("/signal", "Beta two")
    res = cli("purge", "--customer", "acme", env={"DATABASE_URL": db_url})
    assert res.returncode == 0 and "1 signal" in res.stdout and "Nothing was deleted" in res.stdout
    assert len(signals(r.sf)) == 2
    res = cli("purge", "--customer", "Acne", env={"DATABASE_URL": db_url})
    assert res.returncode == 2 and "did you mean" in res.stderr
    res = cli("purge", "--customer", "acme", "--yes", env={"DATABASE_URL": db_url})
    assert res.returncode == 0 and "Deleted Acme: 1 signal" in res.stdout
    assert [s.text for s in signals(r.sf)] == ["two"]


def test_signal_text_is_bounded(running: Running) -> None:
    r = running
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "link Acme", channel="C1")
    r.driver.message("C1", "x" * 20_000)
    [sig] = signals(r.sf)
    assert len(sig.text) == 4000
    with r.sf() as s:
        assert s.scalar(select(Signal.text)).endswith("…")
