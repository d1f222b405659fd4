"""build_app(settings, session_factory) -> slack_bolt.App, and the HTTP server that serves it."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import URLError
from urllib.parse import urlparse

from slack_bolt import App, BoltRequest
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import capture, learning, render
from bot import milestones as ms
from bot.commands import Commands
from bot.config import ConfigError, Settings
from bot.effects import Effect, Ephemeral
from bot.learning import LoopCommands
from bot.scheduler import DigestRunner
from storage import db, repo
from storage.writer import SignalWriter

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_web_client(settings: Settings, token: str | None = None) -> WebClient:
    """A WebClient on SLACK_API_URL that retries rate limits (honouring Retry-After) and dropped connections."""
    return WebClient(
        token=token if token is not None else settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3), ConnectionErrorRetryHandler(max_retry_count=2)],
    )


class Reactions:
    """The capture reaction's bot side, bound to the database and clock."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def capture(self, msg: capture.MessageIn, reactor: str) -> list[Effect]:
        with self.deps.session_factory.begin() as s:
            return capture.reaction_capture(s, msg, reactor, self.deps.clock())

    def cannot_read(self, channel_id: str, reactor: str) -> Effect:
        return Ephemeral(channel_id, reactor, "I can't read that message, so it wasn't recorded. Invite me to "
                                              "this channel (`/invite @signalloop`) and react again.")


@dataclass
class Deps:
    """What the listeners need, injected: no globals."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock = utcnow
    commands: Commands = field(init=False)
    directory: Any = field(init=False)
    reactions: Reactions = field(init=False)
    router: capture.Router = field(init=False)
    signal_writer: SignalWriter = field(init=False)
    background: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=2))
    digest_runner: DigestRunner | None = None
    classifier: Any = None  # bot.llm.LLMClassifier when SIGNALLOOP_LLM_CLASSIFY is on with a key

    def __post_init__(self) -> None:
        from handlers.directory import Directory

        hooks = LoopCommands(self.session_factory, self.clock)
        self.router = capture.Router(self.session_factory)
        self.signal_writer = SignalWriter(self.session_factory.kw["bind"])
        self.commands = Commands(self.session_factory, self.clock, self.settings.capture_emoji, hooks,
                                 on_change=self.router.invalidate)
        self.directory = Directory(self.session_factory, self.clock)
        self.reactions = Reactions(self)

    def close(self) -> None:
        """Finish background work (digests being posted) and stop the signal writer."""
        self.background.shutdown(wait=True)
        self.signal_writer.close()

    def learning_reply(self, msg: capture.MessageIn) -> list[Effect] | None:
        """A reply in a digest's thread becomes a learning (None: not a digest thread)."""
        if not msg.thread_ts or msg.thread_ts == msg.ts:
            return None
        with self.session_factory.begin() as s:
            row, is_digest = learning.record_thread_reply(s, msg.team_id, msg.channel_id, msg.ts, msg.thread_ts,
                                                          msg.user_id, msg.text, self.clock())
            learning_id = row.id if row is not None else None
        if not is_digest:
            return None
        if learning_id is None or not msg.user_id:
            return []
        return [learning.decision_offer(msg.channel_id, msg.user_id, learning_id)]

    def home_view(self, team_id: str) -> dict[str, Any]:
        now = self.clock()
        with self.session_factory() as s:
            last = repo.last_signal_at(s, team_id)
            statuses = [ms.customer_status(c, now, last.get(c.id)) for c in repo.list_customers(s, team_id)]
            return render.home_view(statuses, now)

    def publish_home(self, client: WebClient, team_id: str, user_id: str) -> None:
        with self.session_factory.begin() as s:
            repo.mark_home_opened(s, team_id, user_id, self.clock())
        try:
            client.views_publish(user_id=user_id, view=self.home_view(team_id))
        except SlackApiError as e:
            log.warning("views.publish failed for %s: %s", user_id, e.response.get("error"))

    def refresh_home(self, client: WebClient, team_id: str) -> None:
        """Re-publish App Home for everyone who has opened it, after a change."""
        with self.session_factory() as s:
            viewers = repo.home_viewers(s, team_id)
        if not viewers:
            return
        view = self.home_view(team_id)
        for user in viewers:
            try:
                client.views_publish(user_id=user, view=view)
            except SlackApiError as e:
                log.warning("views.publish failed for %s: %s", user, e.response.get("error"))

    def run_digest_now(self, client: WebClient, team_id: str, channel_id: str, user_id: str) -> None:
        if self.digest_runner is None:
            return
        self.background.submit(self.digest_runner.run_now, client, team_id, channel_id, user_id)


def build_app(settings: Settings, session_factory: sessionmaker[Session], *, clock: Clock = utcnow,
              client: WebClient | None = None, token_verification: bool = True) -> tuple[App, Deps]:
    """The Bolt app with every listener wired; acknowledgements are sent after the work is committed.

    Raises ConfigError when Slack refuses the token or cannot be reached at start-up.
    """
    from handlers import register

    deps = Deps(settings=settings, session_factory=session_factory, clock=clock)
    oauth_settings = None
    installation_store = None
    if settings.oauth_enabled:
        from slack_bolt.oauth.oauth_settings import OAuthSettings
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
        from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

        from bot.manifest import BOT_SCOPES

        engine = session_factory.kw["bind"]
        installation_store = SQLAlchemyInstallationStore(client_id=settings.slack_client_id or "", engine=engine,
                                                         logger=log)
        oauth_settings = OAuthSettings(
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, scopes=BOT_SCOPES,
            installation_store=installation_store,
            state_store=SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine, logger=log))
    try:
        app = App(
            signing_secret=settings.slack_signing_secret or "",
            client=client or make_web_client(settings,
                                             token=None if settings.oauth_enabled else settings.slack_bot_token),
            oauth_settings=oauth_settings,
            # ack only after the listener ran: an acknowledged signal is a stored signal
            process_before_response=True,
            request_verification_enabled=not settings.socket_mode,
            token_verification_enabled=token_verification and bool(settings.slack_bot_token),
        )
    except BoltError as e:
        raise ConfigError(f"Slack refused the token at start-up ({e}): check SLACK_BOT_TOKEN, and SLACK_API_URL "
                          f"({settings.slack_api_url})") from None
    except (URLError, OSError) as e:
        raise ConfigError(f"cannot reach the Slack Web API at SLACK_API_URL ({settings.slack_api_url}): {e}") from None
    from bot.chart import render_png

    enrich = None
    if settings.llm_enabled:
        from bot.llm import LLMClassifier, LLMStep

        step = LLMStep(settings, timeout=settings.llm_timeout)
        enrich = step.enrich
        if settings.llm_classify:
            deps.classifier = LLMClassifier(settings, session_factory, clock, step)
    def client_for(team_id: str) -> WebClient:
        """The client scheduled work posts with: the workspace's own bot token when installed by OAuth."""
        if installation_store is None:
            return app.client
        bot = installation_store.find_bot(enterprise_id=None, team_id=team_id)
        return make_web_client(settings, token=bot.bot_token if bot else None)

    deps.digest_runner = DigestRunner(settings, session_factory, clock, client_for=client_for, chart=render_png,
                                      enrich=enrich)
    if installation_store is not None:
        app.enable_token_revocation_listeners()  # uninstalled or revoked: the workspace's tokens are deleted
    register(app, deps)
    return app, deps


class LocalDispatcher:
    """Signs requests with the signing secret and dispatches them to the app in-process, as Slack would."""

    def __init__(self, app: App, secret: str) -> None:
        self.app = app
        self.verifier = SignatureVerifier(secret)

    def send(self, body: str, content_type: str) -> dict[str, Any]:
        ts = str(int(time.time()))
        headers = {"content-type": [content_type], "x-slack-request-timestamp": [ts],
                   "x-slack-signature": [self.verifier.generate_signature(timestamp=ts, body=body)]}
        resp = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if resp.status != 200:
            raise RuntimeError(f"request failed with {resp.status}: {resp.body}")
        return json.loads(resp.body) if resp.body.startswith("{") else {}


def run_socket_mode(app: App, app_token: str, stop: threading.Event) -> None:
    """Serve over Socket Mode until `stop` is set."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token)
    handler.connect()
    log.info("signalloop connected in Socket Mode")
    stop.wait()
    handler.close()


class _Handler(BaseHTTPRequestHandler):
    server: SlackHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, headers: dict[str, Any] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        for k, v in headers.items():
            for one in v if isinstance(v, list) else [v]:
                self.send_header(k, str(one))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlparse(self.path)
        path = url.path
        flow = self.server.app.oauth_flow
        if flow is not None and path in (flow.install_path, flow.redirect_uri_path):
            headers = {k.lower(): [v] for k, v in self.headers.items()}
            req = BoltRequest(body="", query=url.query, headers=headers)
            resp = flow.handle_installation(req) if path == flow.install_path else flow.handle_callback(req)
            self._send(resp.status, (resp.body or "").encode("utf-8"), resp.headers)
            return
        if path == "/healthz":
            ok = db.ping(self.server.engine)
            body = json.dumps({"ok": ok, "database": "up" if ok else "down"}).encode()
            self._send(200 if ok else 503, body, {"Content-Type": "application/json"})
            return
        self._send(404, b"not found")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = urlparse(self.path).path
        if path != "/slack/events":
            self._send(404, b"not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        query = urlparse(self.path).query
        headers = {k.lower(): [v] for k, v in self.headers.items()}
        try:
            resp = self.server.app.dispatch(BoltRequest(body=body, query=query, headers=headers))
        except Exception:  # noqa: BLE001 - never answer 200 for work that failed
            log.exception("dispatch failed")
            self._send(500, b"internal error")
            return
        self._send(resp.status, (resp.body or "").encode("utf-8"), resp.headers)


class SlackHTTPServer(ThreadingHTTPServer):
    """POST /slack/events (events, commands, interactivity) and GET /healthz, one thread per request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, engine: Engine) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.engine = engine

    def serve_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="slack-http", daemon=True)
        t.start()
        return t
