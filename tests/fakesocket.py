"""A Socket Mode server for the tests: a WebSocket on 127.0.0.1 that the fake Web API's apps.connections.open
points the app at. It greets each connection with `hello`, sends envelopes, records the app's acks, and can
drop the connection as Slack does when it rotates one."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self._lock = threading.Lock()
        self._conn: ServerConnection | None = None
        self.connections = 0
        self.acks: dict[str, dict[str, Any]] = {}
        threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    def _handle(self, conn: ServerConnection) -> None:
        with self._lock:
            self._conn = conn
            self.connections += 1
        conn.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "connection_info": {"app_id": "A1"},
                    "debug_info": {"host": "fake"},
                }
            )
        )
        try:
            for raw in conn:
                msg = json.loads(raw)
                if msg.get("envelope_id"):
                    with self._lock:
                        self.acks[msg["envelope_id"]] = msg
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if self._conn is conn:
                    self._conn = None

    def connected(self) -> bool:
        with self._lock:
            return self._conn is not None

    def send(self, kind: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send an envelope (events_api, slash_commands, interactive) and wait for the app's ack."""
        envelope_id = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while not self.connected():
            if time.monotonic() > deadline:
                raise AssertionError("the app is not connected")
            time.sleep(0.05)
        with self._lock:
            assert self._conn is not None
            self._conn.send(
                json.dumps(
                    {
                        "envelope_id": envelope_id,
                        "type": kind,
                        "payload": payload,
                        "accepts_response_payload": kind != "events_api",
                        "retry_attempt": 0,
                        "retry_reason": "",
                    }
                )
            )
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.02)
        raise AssertionError(f"no ack for the {kind} envelope")

    def drop(self) -> None:
        """Close the app's connection from the server side."""
        with self._lock:
            conn = self._conn
        if conn is not None:
            conn.close(code=1001, reason="going away")

    def stop(self) -> None:
        self.drop()
        self._server.shutdown()
