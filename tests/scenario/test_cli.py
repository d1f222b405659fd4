"""The command line: configuration errors, manifest, import, demo — in this process, as subprocesses where it
matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.importer import import_export
from bot.services import utcnow
from entry.app import build_app
from storage.models import Signal
from tests.conftest import TEAM, make_settings
from tests.helpers import Ran, count, run_signalloop, signals

ROOT = Path(__file__).resolve().parents[2]


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    """This environment without any of the app's settings, and `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIGNALLOOP_", "OPENAI_"))}
    base.pop("DATABASE_URL", None)
    base.update(env or {})
    return base


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    """`signalloop ARGS` as a process: for what only a process shows (its exit code, what reaches its stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "entry.cli", *args],
        capture_output=True,
        text=True,
        env=_environment(env),
        cwd=cwd or ROOT,
        timeout=timeout,
    )


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Ran:
    """The same command in this process (tests.helpers.run_signalloop): what it prints and returns."""
    return run_signalloop(args, _environment(env), cwd=cwd or ROOT)


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"SIGNALLOOP_PORT": "abc"}, "SIGNALLOOP_PORT must be a whole number"),
        ({"SIGNALLOOP_PORT": "70000"}, "SIGNALLOOP_PORT must be a TCP port"),
        ({"SLACK_BOT_TOKEN": "not-a-token"}, "SLACK_BOT_TOKEN must be a bot token starting with xoxb-"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN must be an app-level token"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL must be a SQLAlchemy URL"),
        ({"SLACK_API_URL": "ftp://x"}, "SLACK_API_URL must be an http(s) URL"),
        ({"SIGNALLOOP_CAPTURE_EMOJI": "two words"}, "SIGNALLOOP_CAPTURE_EMOJI must be a Slack emoji"),
        ({}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(env: dict[str, str], needle: str, tmp_path: Path) -> None:
    res = cli("run", env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    # the console program itself: its exit code and all it wrote to stderr (the cases above run in this process)
    res = run_cli("run", env={"SLACK_BOT_TOKEN": "sekrit-value-123"}, cwd=tmp_path)
    assert res.returncode == 2 and "sekrit-value-123" not in res.stderr
    assert (
        len(res.stderr.strip().splitlines()) == 1 and "SLACK_BOT_TOKEN" in res.stderr and "Traceback" not in res.stderr
    )


def test_manifest_lists_what_the_app_uses() -> None:
    res = cli("manifest", "--url", "https://signalloop.example.com")
    assert res.returncode == 0
    m = json.loads(res.stdout)
    cmds = {c["command"]: c for c in m["features"]["slash_commands"]}
    assert set(cmds) == {"/signal", "/milestone", "/loop"}
    assert cmds["/loop"]["url"] == "https://signalloop.example.com/slack/events"
    assert m["features"]["shortcuts"][0]["callback_id"] == "record_signal"
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.channels",
        "message.groups",
        "reaction_added",
        "app_home_opened",
        "app_uninstalled",
        "tokens_revoked",
        "member_joined_channel",  # Slack Connect: the app added to a channel (a link proposal)
        "channel_shared",
        "channel_id_changed",  # a private channel shared through Slack Connect keeps its links under its new id
    }
    # customer selects are searched: their options come from the events endpoint too
    assert m["settings"]["interactivity"]["message_menu_options_url"] == "https://signalloop.example.com/slack/events"
    assert "reactions:read" in m["oauth_config"]["scopes"]["bot"]
    assert "team:read" in m["oauth_config"]["scopes"]["bot"]  # a connected organisation's name (team.info)
    assert m["settings"]["socket_mode_enabled"] is False
    sock = json.loads(cli("manifest", "--socket-mode").stdout)
    assert sock["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in sock["settings"]["event_subscriptions"]


def make_export(path: Path) -> Path:
    z = path / "export.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr(
            "channels.json",
            json.dumps(
                [{"id": "C1", "name": "cs-acme"}, {"id": "C2", "name": "feedback"}, {"id": "C3", "name": "general"}]
            ),
        )
        f.writestr("users.json", json.dumps([{"id": "U2", "name": "marco", "profile": {"display_name": "Marco"}}]))
        f.writestr(
            "cs-acme/2026-11-16.json",
            json.dumps(
                [
                    {"type": "message", "user": "U2", "text": "Exports fail on Mondays", "ts": "1763290000.000100"},
                    {
                        "type": "message",
                        "subtype": "channel_join",
                        "user": "U2",
                        "text": "joined",
                        "ts": "1763290001.0",
                    },
                    {"type": "message", "bot_id": "B1", "text": "bot says hi", "ts": "1763290002.000100"},
                ]
            ),
        )
        f.writestr(
            "cs-acme/2026-11-17.json",
            json.dumps([{"type": "message", "user": "U2", "text": "Love the new report", "ts": "1763380000.000100"}]),
        )
        f.writestr(
            "feedback/2026-11-17.json",
            json.dumps(
                [
                    {"type": "message", "user": "U2", "text": "Acme asked for SSO", "ts": "1763380001.000100"},
                    {"type": "message", "user": "U2", "text": "nobody named here", "ts": "1763380002.000100"},
                ]
            ),
        )
        f.writestr(
            "general/2026-11-17.json",
            json.dumps([{"type": "message", "user": "U2", "text": "Acme is great", "ts": "1763380003.000100"}]),
        )
    return z


def test_import_twice_gives_the_same_counts(running, tmp_path: Path) -> None:  # noqa: ANN001
    running.driver.command("/loop", "customer add Acme")
    running.driver.command("/loop", "link Acme", channel="C1")
    running.driver.command("/loop", "watch", channel="C2")
    z = make_export(tmp_path)
    first = import_export(str(z), TEAM, running.sf, running.clock)
    assert (first.channels, first.channels_captured, first.messages, first.signals_added) == (3, 2, 4, 3)
    second = import_export(str(z), TEAM, running.sf, running.clock)
    assert (second.signals_added, second.already_present) == (0, 3)
    assert count(running.sf, Signal) == 3
    assert {s.author_name for s in signals(running.sf)} == {"Marco"}


def test_import_cli_reports_counts_and_bad_files(tmp_path: Path, db_url: str, slack) -> None:  # noqa: ANN001
    if not db_url.startswith("sqlite"):
        pytest.skip("the CLI path is the same on both databases; run once")
    from storage import db

    sf = db.make_session_factory(db.make_engine(db_url))
    _, deps = build_app(make_settings(db_url, slack), sf, clock=utcnow)
    from bot.commands.parsing import Ctx

    ctx = Ctx(team_id=TEAM, user_id="U1", channel_id="C1")
    deps.commands.loop(ctx, "customer add Acme")
    deps.commands.loop(ctx, "link Acme")
    z = make_export(tmp_path)
    res = cli("import", str(z), env={"DATABASE_URL": db_url})
    assert res.returncode == 0, res.stderr
    assert "2 signals added" in res.stdout and "0 already recorded" in res.stdout
    res = cli("import", str(z), env={"DATABASE_URL": db_url})
    assert "0 signals added" in res.stdout and "2 already recorded" in res.stdout
    res = cli("import", str(tmp_path / "missing.zip"), env={"DATABASE_URL": db_url})
    assert res.returncode == 2 and "No file at" in res.stderr
    (tmp_path / "bad.zip").write_text("not a zip")
    res = cli("import", str(tmp_path / "bad.zip"), env={"DATABASE_URL": db_url})
    assert res.returncode == 2 and "is not a zip file" in res.stderr
