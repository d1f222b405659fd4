"""build_app(settings, session_factory) -> (slack_bolt.App, Deps): the Bolt app with every listener wired.

The one module of bot/ that knows Bolt: it also builds Bolt's adapters for the two ways Slack reaches the
app, the WSGI handler entry.server serves and the Socket Mode handler entry.socket_mode runs.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.error import URLError

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.error import BoltError
from slack_bolt.middleware import (
    AttachingConversationKwargs,
    AttachingFunctionToken,
    CustomMiddleware,
    IgnoringSelfEvents,
    RequestVerification,
    SingleTeamAuthorization,
    SslCheck,
    UrlVerification,
)
from slack_bolt.request.internals import extract_team_id
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError, Settings
from bot.services import Clock, Deps, make_deps, utcnow

log = logging.getLogger(__name__)


class _NoBodies(logging.Filter):
    """Bolt logs a forged request's whole body at INFO; customer text must not reach the logs that way."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Invalid request signature")


logging.getLogger("slack_bolt.RequestVerification").addFilter(_NoBodies())


class _SameToken(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be unused" whenever a client is passed as well. The client passed
    (for SLACK_API_URL and the retry handlers) is built with that very token, so in production logs the line
    would only mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_SAME_TOKEN = _SameToken()


# Slack waits 3 seconds for the answer to every request (https://docs.slack.dev/interactivity/
# handling-user-interaction, https://docs.slack.dev/apis/events-api/): the only Web API calls a listener may make
# before answering are opening a modal (its trigger_id expires 3 s after the interaction) and Bolt's own
# auth.test, once per process. Calls made on a request's thread before its answer carry this header, so devtools'
# Slack simulator can hold the app to that; in production they are logged.
BEFORE_ANSWER_HEADER = "X-Signalloop-Before-Answer"
ALLOWED_BEFORE_ANSWER = frozenset({"views.open", "views.push", "auth.test"})
_answering = threading.local()


class AppClient(WebClient):
    """The app's clients: a Web API call made on a request's thread before its answer is marked (and logged)."""

    def api_call(self, api_method: str, **kwargs):  # noqa: ANN003, ANN201 - WebClient's own signature
        if getattr(_answering, "active", False):
            kwargs["headers"] = {**(kwargs.get("headers") or {}), BEFORE_ANSWER_HEADER: "1"}
            if api_method not in ALLOWED_BEFORE_ANSWER:
                log.warning("%s called before the answer to Slack: it delays the answer (3 s allowed)", api_method)
        return super().api_call(api_method, **kwargs)


class SignalloopApp(App):
    """Bolt's App, knowing while it is answering a request (listeners run on that thread, before the answer)."""

    deps: Deps | None = None  # set by build_app: what the fast path for a person's message calls (http_handler)

    def _init_context(self, req: BoltRequest) -> None:
        """Bolt builds a fresh WebClient per request from app.client's settings: the same, as an AppClient."""
        super()._init_context(req)
        c = req.context.client
        if type(c) is WebClient:
            req.context["client"] = AppClient(
                token=c.token,
                base_url=c.base_url,
                timeout=c.timeout,
                ssl=c.ssl,
                proxy=c.proxy,
                headers=c.headers,
                team_id=req.context.team_id,
                logger=c.logger,
                retry_handlers=c.retry_handlers,
            )

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        _answering.active = True
        try:
            return super().dispatch(req)
        finally:
            _answering.active = False


def make_web_client(settings: Settings, token: str | None = None, wait_out_429: bool = True) -> WebClient:
    """A WebClient on SLACK_API_URL that retries dropped connections and, unless `wait_out_429` is False, rate
    limits (sleeping out Retry-After).

    The client Bolt hands to listeners runs on the request's thread, which Slack gives 3 seconds: it must not
    sleep out a 429 (https://docs.slack.dev/apis/web-api/rate-limits), so it is built with wait_out_429=False;
    work after the answer uses `client_for`, which waits 429s out on bot.afterwards' pool.
    """
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler(max_retry_count=2)]
    if wait_out_429:
        handlers.insert(0, RateLimitErrorRetryHandler(max_retry_count=3))
    return AppClient(
        token=token if token is not None else settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=handlers,
    )


def build_app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    clock: Clock = utcnow,
    client: WebClient | None = None,
    token_verification: bool = True,
) -> tuple[App, Deps]:
    """The Bolt app with every listener wired; acknowledgements are sent after the work is committed.

    Raises ConfigError when Slack refuses the token or cannot be reached at start-up.
    """
    from handlers import register

    oauth_settings = None
    installation_store = None
    if settings.oauth_enabled:
        from slack_bolt.oauth.oauth_settings import OAuthSettings
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
        from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

        from entry.manifest import BOT_SCOPES

        engine = session_factory.kw["bind"]
        installation_store = SQLAlchemyInstallationStore(
            client_id=settings.slack_client_id or "", engine=engine, logger=log
        )
        oauth_settings = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=BOT_SCOPES,
            installation_store=installation_store,
            state_store=SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine, logger=log),
        )
    token = None if settings.oauth_enabled else settings.slack_bot_token
    web = client or make_web_client(settings, token=token, wait_out_429=False)
    background = client or make_web_client(settings, token=token)
    if web.token and web.token == os.environ.get("SLACK_BOT_TOKEN"):
        logging.getLogger("slack_bolt.App").addFilter(_SAME_TOKEN)
    try:
        app = SignalloopApp(
            signing_secret=settings.slack_signing_secret or "",
            client=web,
            oauth_settings=oauth_settings,
            # ack only after the listener ran: an acknowledged signal is a stored signal. So that the answer
            # still comes within Slack's 3 seconds, listeners call no Web API before it (one views.open at most,
            # its trigger_id expiring in 3 s): the rest runs after it (handlers.effects, bot.afterwards)
            process_before_response=True,
            request_verification_enabled=not settings.socket_mode,
            token_verification_enabled=token_verification and bool(settings.slack_bot_token),
        )
    except BoltError as e:
        raise ConfigError(
            f"Slack refused the token at start-up ({e}): check SLACK_BOT_TOKEN, and SLACK_API_URL "
            f"({settings.slack_api_url})"
        ) from None
    except (URLError, OSError) as e:
        raise ConfigError(f"cannot reach the Slack Web API at SLACK_API_URL ({settings.slack_api_url}): {e}") from None

    def client_for(team_id: str) -> WebClient:
        """The client work after the answer posts with (it waits out 429s): the workspace's own bot token when
        installed by OAuth."""
        if installation_store is None:
            return background
        bot = installation_store.find_bot(enterprise_id=None, team_id=team_id)
        return make_web_client(settings, token=bot.bot_token if bot else None)

    deps = make_deps(settings, session_factory, clock, client_for)
    if installation_store is not None:
        app.enable_token_revocation_listeners()  # uninstalled or revoked: the workspace's tokens are deleted
    register(app, deps)
    app.deps = deps
    return app, deps


def http_handler(app: App) -> Callable[..., Iterable[bytes]]:
    """Bolt's WSGI adapter for `app`: events, commands, interactivity and the OAuth routes (entry.server serves it);
    for signalloop's own app, with the fast path for a person's message in front of it when that path is safe."""
    bolt = SlackRequestHandler(app)
    if isinstance(app, SignalloopApp) and app.deps is not None:
        why_not = _fast_path_unsafe(app)
        if why_not is None:
            return MessageFastPath(app, app.deps, bolt)
        log.info("message events go through Bolt's dispatch: %s", why_not)
    return bolt


# Bolt's built-in global middleware, and what each does to a person's signed message event in HTTP mode:
# ssl_check and url_verification answer other request types; request verification is done by the fast path
# itself; single-team authorization only attaches the token (which the fast path's client already carries);
# ignoring self events is checked against the same auth.test result; the function token applies to
# function_executed events only.
_BUILTIN_MIDDLEWARE = (
    SslCheck,
    RequestVerification,
    SingleTeamAuthorization,
    IgnoringSelfEvents,
    UrlVerification,
    AttachingFunctionToken,
)


def _fast_path_unsafe(app: SignalloopApp) -> str | None:
    """Why the fast path could not answer exactly as Bolt would, or None when it can: Bolt's middleware and
    listeners in front of `on_message` are checked to be the ones the fast path repeats, so a middleware or
    listener added later turns the fast path off rather than being skipped."""
    if app.oauth_flow is not None:
        return "installed by OAuth (each workspace's installation is looked up per request)"
    middleware = getattr(app, "_middleware_list", None)
    listeners = getattr(app, "_listeners", None)
    if not middleware or not listeners:
        return "Bolt's middleware and listeners could not be read"
    if not any(type(m) is RequestVerification for m in middleware):
        return "request verification is off"
    for m in middleware:
        if isinstance(m, CustomMiddleware):
            func = m.func
            if (func.__module__, func.__name__) != ("handlers.events.slack_changes", "events_held_back"):
                return f"a global middleware the fast path does not repeat: {func.__module__}.{func.__name__}"
        elif type(m) not in _BUILTIN_MIDDLEWARE:
            return f"a global middleware the fast path does not repeat: {type(m).__name__}"
    first = listeners[0]
    func = first.ack_function
    if (func.__module__, func.__name__) != ("handlers.events.messages", "on_message"):
        return f"the first listener is {func.__module__}.{func.__name__}, not on_message"
    # Bolt gives every event listener AttachingConversationKwargs (say, set_status… for its arguments): nothing else
    if any(type(m) is not AttachingConversationKwargs for m in first.middleware) or first.lazy_functions:
        return "on_message has listener middleware or lazy functions"
    return None


class MessageFastPath:
    """POST /slack/events carrying a person's new message, taken to `on_message`'s work without Bolt's dispatch.

    A channel message is nearly all of the traffic, and Bolt spent more CPU on it than the no-op app's whole
    request (a request object and context, two WebClients, seven middleware, listener matching, keyword
    injection: BENCHMARKS.md). This path verifies the signature as Bolt does (slack_sdk's SignatureVerifier,
    the same 5-minute window), ignores the bot's own messages as Bolt does, notes the event for the backfill as
    the global middleware does, runs the same listener function and answers 200 only after it returned (the
    signals committed), 500 when it raised. Anything else, and anything it is unsure of, goes to Bolt unchanged.
    """

    def __init__(self, app: SignalloopApp, deps: Deps, bolt: SlackRequestHandler) -> None:
        from handlers.events.messages import is_new_person_message, person_message
        from handlers.events.slack_changes import event_arrived

        self.app = app
        self.deps = deps
        self.bolt = bolt
        self.path = bolt.path
        middleware = app._middleware_list
        # Bolt's own verifier (the app's signing secret, Slack's 5-minute window) and its own auth.test result
        self.verifier: SignatureVerifier = next(m for m in middleware if type(m) is RequestVerification).verifier
        self._auth = next(m for m in middleware if isinstance(m, SingleTeamAuthorization))
        self._takes = is_new_person_message
        self._listener = person_message
        self._arrived = event_arrived

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            return self.bolt(environ, start_response)
        stream = environ.get("wsgi.input")
        raw = stream.read(int(environ.get("CONTENT_LENGTH") or 0)) if stream is not None else b""
        environ["wsgi.input"] = io.BytesIO(raw)  # Bolt reads it again when the request is not taken here
        body = self._taken(raw, environ)
        if body is None:
            return self.bolt(environ, start_response)
        _answering.active = True
        try:
            self._arrived(self.deps, body)
            team_id = extract_team_id(body) or body.get("team_id") or ""  # Bolt's context.team_id, as team_of reads it
            self._listener(self.deps, self.app.client, team_id, body["event"], body.get("event_id"))
        finally:
            _answering.active = False
        start_response("200 OK", [("content-type", "text/plain;charset=utf-8"), ("content-length", "0")])
        return [b""]

    def _taken(self, raw: bytes, environ: dict[str, Any]) -> dict[str, Any] | None:
        """The request's JSON body when this path takes it: signed, a person's message, not the bot's own."""
        if not raw.startswith(b"{"):
            return None
        auth = self._auth.auth_test_result  # Bolt's own auth.test: the bot's ids (at start-up, or its first request)
        if not auth:
            return None
        try:
            text = raw.decode("utf-8")
            valid = self.verifier.is_valid(
                text, environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"), environ.get("HTTP_X_SLACK_SIGNATURE")
            )
            body = json.loads(text) if valid else None
        except ValueError:  # a malformed timestamp, body or encoding: Bolt answers it as it always has
            return None
        if not isinstance(body, dict) or not self._takes(body):
            return None
        event = body["event"]
        if event.get("user") == auth.get("user_id") or (event.get("bot_id") and event["bot_id"] == auth.get("bot_id")):
            return None  # the bot's own message: Bolt's ignoring_self_events acknowledges it
        return body


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    """Bolt's Socket Mode adapter for `app` (entry.socket_mode runs it and reports its health)."""
    return SocketModeHandler(app, app_token)
