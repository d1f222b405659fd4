"""Socket Mode: Slack's requests over a WebSocket the app opens (no public URL), with its health known.

The connection is "up" from Slack's `hello` until the socket closes; /healthz reports it. Connects,
disconnects and reconnects are logged once each with the reason; a refused token is checked at
start-up (one line, exit 2), and while running the client's retries are logged at most once an hour.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient

from bot.config import ConfigError

log = logging.getLogger(__name__)

REPEAT_EVERY = 3600.0  # seconds between two log lines about the same failure


class OncePerHour(logging.Filter):
    """Lets a failure's log line through once per REPEAT_EVERY; the client retries every few seconds."""

    def __init__(self, every: float = REPEAT_EVERY) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        msg = record.getMessage()
        # the same failure on another session id is the same failure
        key = msg.split("(session id", 1)[0] + msg.rsplit("error:", 1)[-1][:120]
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self.every) < self.every:
                return False
            self._last[key] = now
        return True


def check_bot_token(client: WebClient) -> None:
    """auth.test once for SLACK_BOT_TOKEN: a refusal stops start-up with one clear line."""
    try:
        client.auth_test()
    except SlackApiError as e:
        err = e.response.get("error") if e.response is not None else str(e)
        fix = {
            "invalid_auth": "the token is not valid",
            "token_revoked": "the token was revoked",
            "account_inactive": "the app was uninstalled or its workspace is no longer active",
            "not_authed": "no token reached Slack",
        }.get(err, "Slack refused it")
        raise ConfigError(
            f"SLACK_BOT_TOKEN was refused by Slack ({err}): {fix}; copy the Bot User OAuth Token "
            "(xoxb-…) from your app's OAuth & Permissions page"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot reach the Slack Web API at SLACK_API_URL: {e}") from None


def check_app_token(client: WebClient, app_token: str) -> None:
    """apps.connections.open once: a refused app-level token stops start-up with one clear line."""
    try:
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as e:
        err = e.response.get("error") if e.response is not None else str(e)
        fix = {
            "not_allowed_token_type": "an app-level token with connections:write starts with xapp- "
            "(Basic Information → App-Level Tokens)",
            "invalid_auth": "the token is not valid: create a new app-level token with connections:write",
            "token_revoked": "the token was revoked: create a new app-level token with connections:write",
            "account_inactive": "the app or its workspace is no longer active",
        }.get(err, "check that Socket Mode is on for the app and that the token has connections:write")
        raise ConfigError(f"SLACK_APP_TOKEN was refused by Slack ({err}): {fix}") from None
    except OSError as e:
        raise ConfigError(f"cannot reach the Slack Web API at SLACK_API_URL to open Socket Mode: {e}") from None


class Handler(Protocol):
    """What this module needs of Bolt's Socket Mode adapter (built by entry.app.socket_mode_handler)."""

    client: SocketModeClient  # Bolt's builtin adapter's client: it has the listener lists used here

    def connect(self) -> None: ...

    def close(self) -> None: ...


class SocketMode:
    """The Socket Mode connection, and whether it is up."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._up = threading.Event()
        self._ever = False
        client = self.handler.client
        client.on_message_listeners.append(self._on_message)
        client.on_close_listeners.append(self._on_close)
        quiet = OncePerHour()
        for name in ("slack_sdk.socket_mode.builtin.client", "slack_bolt.App", client.logger.name):
            logging.getLogger(name).addFilter(quiet)
        client.logger.addFilter(quiet)

    def connected(self) -> bool:
        return self._up.is_set() and self.handler.client.is_connected()

    def _on_message(self, raw: str) -> None:
        if '"type"' not in raw[:80] or ('"hello"' not in raw[:200] and '"disconnect"' not in raw[:200]):
            return
        try:
            message = json.loads(raw)
        except ValueError:
            return
        kind = message.get("type")
        if kind == "hello":
            self._up.set()
            log.info("signalloop %s in Socket Mode", "reconnected" if self._ever else "connected")
            self._ever = True
        elif kind == "disconnect":
            log.info("Slack asked to reconnect Socket Mode (%s)", message.get("reason") or "no reason given")

    def _on_close(self, code: int, reason: str | None = None) -> None:
        if self._up.is_set():
            log.warning(
                "Socket Mode connection closed (code %s%s); reconnecting", code, f", {reason}" if reason else ""
            )
        self._up.clear()

    def start(self) -> None:
        self.handler.connect()

    def close(self) -> None:
        self._up.clear()
        self.handler.close()
