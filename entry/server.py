"""HTTP mode: Bolt's WSGI adapter served by waitress, a maintained production WSGI server.

Why waitress (README → Design has the measurements): it reads every request whole on its own I/O
thread before a worker thread sees it, so a slow or stalled client holds a socket, never one of the
threads that answer Slack; it answers 413 above a body limit and 431 above a header limit by itself;
and it runs in one process beside the scheduler and the group-commit writer. What it lacks, a
deadline for reading one request, is added here: a request not read whole within READ_TIMEOUT
seconds is cut off.

Routes: POST /slack/events (events, commands, interactivity), GET /slack/install and
/slack/oauth_redirect (multi-workspace installs, routed by Bolt's adapter), GET /healthz.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from storage import db

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Slack's largest payloads (a modal's state, a long message) are a few tens of KB
MAX_HEADERS = 16 * 1024
READ_TIMEOUT = 10.0  # seconds to send one whole request; Slack sends at once and gives up after 3 s
DRAIN_SECONDS = 20.0  # on SIGTERM, how long requests already read may take to finish


class HealthCheck:
    """What GET /healthz reports: the database, and any other part that must be up (Socket Mode)."""

    def __init__(self, engine: Engine, extra: Callable[[], dict[str, bool]] | None = None) -> None:
        self.engine = engine
        self.extra = extra

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        parts = {"database": db.ping(self.engine)}
        if self.extra is not None:
            parts.update(self.extra())
        ok = all(parts.values())
        return ok, {"ok": ok, **{k: "up" if v else "down" for k, v in parts.items()}}


def health_app(health: HealthCheck, inner: Callable[..., Iterable[bytes]] | None = None) -> Callable[..., Any]:
    """A WSGI app answering GET /healthz, and handing everything else to `inner` (404 without one)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            ok, body = health()
            data = json.dumps(body).encode()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            return [data]
        if inner is not None:
            return inner(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found"]

    return app


def slack_wsgi(handler: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Bolt's WSGI adapter (entry.app.http_handler); a request that fails inside is answered 500 (Slack retries it),
    never 200."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status: list[str] = []

        def remember(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(s)
            return start_response(s, headers, exc_info)

        try:
            body = handler(environ, remember)
        except Exception:  # noqa: BLE001 - never answer 200 for work that failed
            log.exception("request to %s failed", environ.get("PATH_INFO"))
            start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"internal error"]
        if status and status[0].startswith("401"):
            # Bolt's own log line carries the whole body; this one says only what a reader needs
            log.warning(
                "rejected a request with an invalid or stale Slack signature from %s", environ.get("REMOTE_ADDR")
            )
        return body

    return wsgi


class _TimedParser(HTTPRequestParser):
    """Remembers when the first byte of the request arrived."""

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        self.started = time.monotonic()


class _Channel(HTTPChannel):
    parser_class = _TimedParser


class SlackHTTPServer(TcpWSGIServer):
    """waitress, with a deadline for reading each request and a graceful drain."""

    channel_class = _Channel

    def __init__(
        self,
        application: Callable[..., Any],
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = 16,
        read_timeout: float = READ_TIMEOUT,
        **kw: Any,
    ) -> None:
        self.read_timeout = read_timeout
        super().__init__(
            application,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=MAX_BODY,
            max_request_header_size=MAX_HEADERS,
            channel_timeout=30,
            cleanup_interval=1,
            connection_limit=1000,
            clear_untrusted_proxy_headers=True,
            ident="signalloop",
            **kw,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.effective_port

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.read_timeout
        for channel in list(self.active_channels.values()):
            req = channel.request
            if req is not None and not req.completed and getattr(req, "started", cutoff) < cutoff:
                log.info(
                    "closed a connection from %s that did not send its request within %.0f s",
                    channel.addr[0] if channel.addr else "?",
                    self.read_timeout,
                )
                channel.will_close = True
                channel.request = None

    def serve_in_thread(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="http", daemon=True)
        self._thread.start()
        return self._thread

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Stop accepting, let requests already read finish and their answers go out, then close.

        True when everything in flight finished in time. The sockets are closed on the I/O thread itself
        (through waitress's trigger), which then ends its loop.
        """
        self.accepting = False
        self._wake()
        deadline = time.monotonic() + timeout
        done = False
        while time.monotonic() < deadline:
            busy = self.task_dispatcher.active_count > 0 or bool(self.task_dispatcher.queue)
            pending = any(ch.requests or ch.total_outbufs_len for ch in list(self.active_channels.values()))
            if not busy and not pending:
                done = True
                break
            time.sleep(0.05)
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        if not self._wake(lambda: wasyncore.close_all(self._map)):
            wasyncore.close_all(self._map)  # the I/O loop is not running: close here
        if self._thread is not None:
            self._thread.join(timeout=5)
        return done

    def _wake(self, thunk: Callable[[], Any] | None = None) -> bool:
        """Run `thunk` on the I/O thread (or just wake it); False when that loop is no longer there."""
        if self._thread is None or not self._thread.is_alive():
            return False
        try:
            self.trigger.pull_trigger(thunk)
        except OSError:
            log.warning("the HTTP server's I/O loop could not be woken; closing its sockets directly")
            return False
        return True


def make_server(
    slack: Callable[..., Iterable[bytes]],
    engine: Engine,
    port: int,
    threads: int = 16,
    host: str = "0.0.0.0",
    read_timeout: float = READ_TIMEOUT,
) -> SlackHTTPServer:
    """The HTTP server for Slack's requests (`slack`: Bolt's WSGI adapter, entry.app.http_handler) and health checks."""
    wsgi = health_app(HealthCheck(engine), slack_wsgi(slack))
    return SlackHTTPServer(wsgi, host=host, port=port, threads=threads, read_timeout=read_timeout)


def health_server(engine: Engine, port: int, connected: Callable[[], bool], host: str = "0.0.0.0") -> SlackHTTPServer:
    """Socket Mode: the same server answering /healthz only (the database, and whether Slack's socket is up)."""
    return SlackHTTPServer(
        health_app(HealthCheck(engine, lambda: {"socket_mode": connected()})), host=host, port=port, threads=2
    )
