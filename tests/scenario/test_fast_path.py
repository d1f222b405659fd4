"""The fast path for a person's message (entry.app.MessageFastPath) answers every request as Bolt's dispatch does.

The same signed requests go to the app through the fast path and through Bolt's WSGI adapter alone (the same app,
the same database): statuses, stored rows and what was ignored must match.
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from entry.app import MessageFastPath, build_app, http_handler
from entry.server import slack_wsgi
from tests.conftest import SECRET, TEAM, make_settings
from tests.helpers import signals

Wsgi = Callable[..., Iterable[bytes]]
VERIFIER = SignatureVerifier(SECRET)


def call(
    handler: Wsgi, body: str, content_type: str = "application/json", age: int = 0, signature: str | None = None
) -> tuple[int, bytes]:
    """One POST /slack/events, signed as Slack signs it (or with `signature`), `age` seconds old."""
    ts = str(int(time.time()) - age)
    raw = body.encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(raw)),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": signature or VERIFIER.generate_signature(timestamp=ts, body=body),
        "wsgi.input": io.BytesIO(raw),
    }
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(s)

    out = b"".join(slack_wsgi(handler)(environ, start_response))  # as entry.server serves it
    return int(status[0].split()[0]), out


def message(channel: str, text: str, ts: str, **extra: Any) -> str:
    event = {"type": "message", "channel": channel, "user": "U2", "text": text, "ts": ts, "channel_type": "channel"}
    event.update(extra)
    return json.dumps(
        {
            "token": "x",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10]}",
            "event_time": int(float(ts)),
            "event": event,
        }
    )


def command(text: str, channel: str = "C1") -> str:
    return urllib.parse.urlencode(
        {"team_id": TEAM, "channel_id": channel, "user_id": "U1", "command": "/loop", "text": text, "trigger_id": "t"}
    )


def test_the_fast_path_answers_as_bolt_does(db_url, slack, clock, sf) -> None:  # noqa: ANN001
    app, deps = build_app(make_settings(db_url, slack), sf, clock=clock)
    try:
        fast = http_handler(app)
        assert isinstance(fast, MessageFastPath)
        bolt = SlackRequestHandler(app)
        form = "application/x-www-form-urlencoded"
        assert call(bolt, command("customer add Acme"), form)[0] == 200
        assert call(bolt, command("link Acme"), form)[0] == 200
        cases: list[tuple[str, Callable[[str], tuple[str, dict[str, Any]]]]] = [
            ("stored", lambda ts: (message("C1", "Exports keep failing every Monday", ts), {})),
            ("reply stored", lambda ts: (message("C1", "still broken", ts, thread_ts="1763000000.000100"), {})),
            ("forged", lambda ts: (message("C1", "forged", ts), {"signature": "v0=" + "0" * 64})),
            ("stale", lambda ts: (message("C1", "ten minutes late", ts), {"age": 600})),
            ("the bot's own", lambda ts: (message("C1", "said by the bot user", ts, user="UBOT"), {})),
            ("a bot's", lambda ts: (message("C1", "a bot", ts, bot_id="B9", subtype="bot_message"), {})),
            ("a join", lambda ts: (message("C1", "<@U3> has joined", ts, subtype="channel_join"), {})),
            ("not linked", lambda ts: (message("C9", "Exports keep failing", ts), {})),
            ("not JSON", lambda ts: ("{not json", {})),
        ]
        seen: dict[str, list[int]] = {}
        for n, (name, make) in enumerate(cases):
            for k, handler in enumerate((fast, bolt)):
                body, kw = make(f"17634{n:02d}{k}00.000100")
                seen.setdefault(name, []).append(call(handler, body, **kw)[0])
        assert seen == {
            "stored": [200, 200],
            "reply stored": [200, 200],
            "forged": [401, 401],
            "stale": [401, 401],
            "the bot's own": [200, 200],
            "a bot's": [200, 200],
            "a join": [200, 200],
            "not linked": [200, 200],
            "not JSON": [500, 500],  # Bolt's request parser raises; the server answers 500
        }
        stored = sorted((s.message_ts[-9:-7], s.text, s.kind, s.capture_path, s.thread_ts) for s in signals(sf))
        # message n, through the fast path (0) and through Bolt (1): the same rows
        assert [row[1:] for row in stored] == [
            ("Exports keep failing every Monday", "problem", "channel", None),
            ("Exports keep failing every Monday", "problem", "channel", None),
            ("still broken", "problem", "channel", "1763000000.000100"),
            ("still broken", "problem", "channel", "1763000000.000100"),
        ]
    finally:
        deps.close()


def test_the_fast_path_steps_aside_for_what_it_does_not_repeat(db_url, slack, clock, sf) -> None:  # noqa: ANN001
    app, deps = build_app(make_settings(db_url, slack), sf, clock=clock)
    try:
        assert isinstance(http_handler(app), MessageFastPath)

        @app.middleware
        def audit(next: Callable[[], None]) -> None:  # noqa: A002 - Bolt's name
            next()

        # a global middleware added later would be skipped: the fast path turns off instead
        assert isinstance(http_handler(app), SlackRequestHandler)
    finally:
        deps.close()
    app, deps = build_app(
        make_settings(db_url, slack, SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="shh", SLACK_BOT_TOKEN=""),
        sf,
        clock=clock,
    )
    try:
        # installed by OAuth: Bolt looks each workspace's installation up per request, the fast path does not
        assert isinstance(http_handler(app), SlackRequestHandler)
    finally:
        deps.close()
