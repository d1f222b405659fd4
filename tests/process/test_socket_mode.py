"""Socket Mode and the first run: `signalloop run` over a real WebSocket, its health, refused tokens."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.fakeslack import FakeSlackServer
from storage import db
from storage.models import Customer, Signal
from tests.conftest import TEAM
from tests.fakesocket import FakeSocketMode
from tests.helpers import Ran, figure, run_signalloop, wait_for
from tests.processes import ROOT, AppProcess


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def wait_health(port: int, status: int, timeout: float = 20.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if health(port) == status:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status}")


def command(text: str, channel: str = "C1") -> dict:
    return {
        "token": "x",
        "team_id": TEAM,
        "team_domain": "demo",
        "channel_id": channel,
        "channel_name": "cs-acme",
        "user_id": "U1",
        "user_name": "priya",
        "command": "/loop",
        "text": text,
        "api_app_id": "A1",
        "response_url": "http://127.0.0.1:9/response",
        "trigger_id": f"t.{time.monotonic_ns()}",
    }


def test_socket_mode_serves_commands_events_and_buttons_and_reports_its_health(
    db_url: str, slack: FakeSlackServer, tmp_path: Path, procs: list[AppProcess]
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the transport is the same on both databases; run once")
    sock = FakeSocketMode()
    slack.state.socket_url = sock.url
    app = AppProcess(db_url, slack, tmp_path, "socket", SLACK_APP_TOKEN="xapp-1-test")
    procs.append(app)
    try:
        app.start()  # returns once /healthz answers 200: the database is up and Slack said hello
        ack = sock.send("slash_commands", command("customer add Acme"))
        assert "Added *Acme*" in json.dumps(ack["payload"])
        sock.send("slash_commands", command("link Acme"))
        event = {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event_id": "EvSock1",
            "event_time": 1763460001,
            "event": {
                "type": "message",
                "channel": "C1",
                "channel_type": "channel",
                "user": "U2",
                "text": "The export failed again",
                "ts": "1763460001.000100",
            },
        }
        sock.send("events_api", event)
        engine = db.make_engine(db_url)
        with db.make_session_factory(engine)() as s:
            assert s.scalar(select(Customer.name)) == "Acme"
            assert s.scalar(select(Signal.text)) == "The export failed again"
        engine.dispose()
        sock.send(
            "interactive",
            {
                "type": "block_actions",
                "team": {"id": TEAM},
                "user": {"id": "U1"},
                "api_app_id": "A1",
                "trigger_id": "t1",
                "container": {"type": "view"},
                "actions": [
                    {
                        "type": "button",
                        "action_id": "home_dm_opt_out",
                        "value": "off",
                        "block_id": "b",
                        "action_ts": "1",
                    }
                ],
            },
        )
        wait_for(lambda: slack.calls("views.publish"))  # App Home is re-published after the answer
        # Slack drops the connection: unhealthy until the client has reconnected and been greeted again
        sock.drop()
        down = wait_health(app.port, 503)
        up = wait_health(app.port, 200)
        assert sock.connections == 2
        log = app.log.read_text()
        assert log.count("signalloop connected in Socket Mode") == 1 and "signalloop reconnected" in log
        assert "Socket Mode connection closed" in log and "Traceback" not in log
        figure(
            f"Socket Mode: command, event and button served; socket dropped: /healthz 503 after {down:.1f}s, "
            f"200 again {up:.1f}s later (connections {sock.connections})"
        )
    finally:
        sock.stop()


def run(env: dict[str, str]) -> Ran:
    """`signalloop run` in this process (tests.helpers.run_signalloop): a refused token ends it before anything
    starts. The console program's exit code for a configuration error: tests/scenario/test_cli.py."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIGNALLOOP_", "OPENAI_"))}
    return run_signalloop(["run"], {**base, **env}, cwd=ROOT, timeout=60)


@pytest.mark.parametrize(
    "case", ["app token of the wrong type", "app token revoked", "bot token refused", "socket mode not enabled"]
)
def test_a_refused_token_is_one_line_and_exit_2(case: str, slack: FakeSlackServer, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SLACK_API_URL": slack.url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-1-test",
    }
    slack.state.socket_url = "ws://127.0.0.1:9/unused"
    expect = "SLACK_APP_TOKEN"
    if case == "app token of the wrong type":
        env["SLACK_APP_TOKEN"] = "xoxb-not-an-app-token"
    elif case == "app token revoked":
        slack.state.always["apps.connections.open"] = {"error": "token_revoked"}
    elif case == "bot token refused":
        slack.state.always["auth.test"] = {"error": "invalid_auth"}
        expect = "SLACK_BOT_TOKEN"
    else:
        slack.state.socket_url = None
    res = run(env)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("signalloop: ") and expect in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_the_manifest_carries_the_oauth_redirect_url() -> None:
    from entry.manifest import manifest

    m = manifest(url="https://signalloop.example.com/")
    assert m["oauth_config"]["redirect_urls"] == ["https://signalloop.example.com/slack/oauth_redirect"]
    assert "redirect_urls" not in manifest(socket_mode=True)["oauth_config"]
