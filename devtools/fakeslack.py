"""A small Slack-compatible Web API server on 127.0.0.1, for the demo, the tests and the benchmarks.

It records every call, answers with Slack-shaped JSON, keeps the messages posted to it (so
conversations.history finds them), and can be told to answer 429 with Retry-After or an
error such as channel_not_found for a method.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float


@dataclass
class FakeSlackState:
    calls: list[Call] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> messages
    # method -> list of scripted answers used once each: {"status": 429, "retry_after": 1}, {"status": 500},
    # {"error": "x"} or {"delay": 5} (answers normally, 5 s late)
    script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # method -> a standing answer for every call until removed (same forms as `script`)
    always: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_id: str = "T0DEMO"
    team_url: str = "https://demo.slack.com/"
    bot_user_id: str = "UBOT"
    lock: threading.Lock = field(default_factory=threading.Lock)
    ts_counter: int = 0
    # seconds every call takes before it is answered (a slow Slack, for the benchmarks)
    latency: float = 0.0
    # where apps.connections.open sends Socket Mode clients (a WebSocket server of the tests)
    socket_url: str | None = None
    # called with (method, args) as each call arrives, before it is answered: for fault tests
    on_call: Callable[[str, dict[str, Any]], None] | None = None


def _answer(state: FakeSlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    if method in ("auth.test",):
        return {
            "ok": True,
            "url": state.team_url,
            "team": "Demo",
            "team_id": state.team_id,
            "user_id": state.bot_user_id,
            "bot_id": "BBOT",
            "user": "signalloop",
        }
    if method == "apps.connections.open":
        if not state.socket_url:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": state.socket_url}
    if method == "users.info":
        u = state.users.get(args.get("user", ""))
        if u is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": u}
    if method == "conversations.info":
        c = state.channels.get(args.get("channel", ""))
        if c is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": c}
    if method in ("conversations.history", "conversations.replies"):
        ch = args.get("channel", "")
        ts = args.get("latest") or args.get("ts")
        msgs = [m for m in state.messages.get(ch, []) if ts is None or m.get("ts") == ts]
        return {"ok": True, "messages": msgs[:1] if ts else msgs, "has_more": False}
    if method in ("chat.postMessage", "chat.update"):
        ch = args.get("channel", "")
        with state.lock:
            state.ts_counter += 1
            ts = args.get("ts") or f"{int(time.time())}.{state.ts_counter:06d}"
        msg = {
            "type": "message",
            "ts": ts,
            "text": args.get("text", ""),
            "bot_id": "BBOT",
            "user": state.bot_user_id,
            "blocks": args.get("blocks"),
        }
        if args.get("thread_ts"):
            msg["thread_ts"] = args["thread_ts"]
        if method == "chat.postMessage":
            state.messages.setdefault(ch, []).append(msg)
        return {"ok": True, "channel": ch, "ts": ts, "message": msg}
    if method == "chat.postEphemeral":
        return {"ok": True, "message_ts": f"{int(time.time())}.000001"}
    if method == "chat.getPermalink":
        return {
            "ok": True,
            "permalink": f"{state.team_url}archives/{args.get('channel')}/"
            f"p{str(args.get('message_ts', '')).replace('.', '')}",
        }
    if method in ("views.open", "views.update", "views.publish", "views.push"):
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        return {"ok": True, "view": {"id": "V123", "hash": "h1", **(view or {})}}
    if method == "oauth.v2.access":
        return {
            "ok": True,
            "access_token": "xoxb-installed-token",
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": "UBOT2",
            "app_id": "A1",
            "team": {"id": "T0INSTALL", "name": "Installed"},
            "enterprise": None,
            "authed_user": {"id": "UINSTALLER"},
            "is_enterprise_install": False,
        }
    if method in ("files.getUploadURLExternal",):
        return {"ok": True, "upload_url": args.get("_base", "") + "upload", "file_id": "F123"}
    if method in ("files.completeUploadExternal",):
        return {"ok": True, "files": [{"id": "F123"}]}
    return {"ok": True}


class _Handler(BaseHTTPRequestHandler):
    server: FakeSlackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlparse(self.path).path.strip("/")
        method = "response_url" if path.startswith("response") else path.split("/")[-1]
        ctype = self.headers.get("Content-Type") or ""
        args: dict[str, Any] = {}
        if path == "upload":
            self._json(200, {"ok": True})
            return
        if "json" in ctype:
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        for k in ("blocks", "view", "attachments"):
            if isinstance(args.get(k), str):
                try:
                    args[k] = json.loads(args[k])
                except ValueError:
                    pass
        args["_base"] = f"http://127.0.0.1:{self.server.server_address[1]}/"
        st = self.server.state
        with st.lock:
            st.calls.append(Call(method, {k: v for k, v in args.items() if k != "_base"}, time.time()))
            scripted = st.script.get(method)
            step = scripted.pop(0) if scripted else st.always.get(method)
        if st.on_call is not None:
            st.on_call(method, args)
        if st.latency:
            time.sleep(st.latency)
        if step is not None and step.get("delay"):
            time.sleep(step["delay"])
        if step is not None and step.get("status") == 429:
            self._json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(step.get("retry_after", 1))})
            return
        if step is not None and step.get("status", 200) != 200:
            self._json(step["status"], {"ok": False, "error": "internal_error"})
            return
        if step is not None and "error" in step:
            self._json(200, {"ok": False, "error": step["error"]})
            return
        self._json(200, _answer(st, method, args))

    do_GET = do_POST  # noqa: N815 - some clients GET read methods

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeSlackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeSlackState | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state or FakeSlackState()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/"

    def start(self) -> FakeSlackServer:
        self._thread = threading.Thread(target=self.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def calls(self, method: str | None = None) -> list[Call]:
        with self.state.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
