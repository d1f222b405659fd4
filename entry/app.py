"""build_app(settings, session_factory) -> (slack_bolt.App, Deps): the Bolt app with every listener wired.

The one module of bot/ that knows Bolt: it also builds Bolt's adapters for the two ways Slack reaches the
app, the WSGI handler entry.server serves and the Socket Mode handler entry.socket_mode runs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from urllib.error import URLError

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
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
    return app, deps


def http_handler(app: App) -> Callable[..., Iterable[bytes]]:
    """Bolt's WSGI adapter for `app`: events, commands, interactivity and the OAuth routes (entry.server serves it)."""
    return SlackRequestHandler(app)


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    """Bolt's Socket Mode adapter for `app` (entry.socket_mode runs it and reports its health)."""
    return SocketModeHandler(app, app_token)
