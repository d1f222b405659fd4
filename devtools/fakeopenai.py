"""A local OpenAI-compatible server (POST /v1/chat/completions) with scripted answers: tests and benchmarks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def completion(content: str | None, refusal: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        srv = self.server
        with srv.lock:
            srv.requests.append(body)
            step = srv.script.pop(0) if srv.script else srv.default
        if callable(step):
            step = step(body)
        if step.get("delay"):
            time.sleep(step["delay"])
        status = step.get("status", 200)
        if status != 200:
            payload = {"error": {"message": step.get("message", "scripted error"), "type": "server_error"}}
            headers = {"retry-after": "0"} if status == 429 else {}
            return self._json(status, payload, headers)
        if "raw" in step:
            return self._json(200, step["raw"])
        return self._json(200, completion(step.get("content"), step.get("refusal")))

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.script: list[Answer] = []
        self.default: Answer = {"status": 500}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        # stop() waits for the loop to look at its flag: every 50 ms, not socketserver's 0.5 s
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def evidence_of(request: dict) -> dict:
    user = request["messages"][1]["content"]
    return json.loads(user.split("```json", 1)[1].rsplit("```", 1)[0])


def good_answer(request: dict) -> dict:
    """A model that does its job: cites real ids and quotes verbatim."""
    ev = evidence_of(request)
    customers = []
    for c in ev["customers"]:
        if not c["signals"]:
            continue
        s = c["signals"][0]
        words = " ".join(s["text"].split()[:4])
        customers.append(
            {
                "customer": c["customer"],
                "signal_ids": [s["id"]],
                "narrative": f"The team heard “{words}” this week; the at-risk milestone is the focus.",
            }
        )
    ids = [s["id"] for c in ev["customers"] for s in c["signals"]][:2]
    return {
        "content": json.dumps(
            {
                "customers": customers,
                "themes": [
                    {"title": "Reminder reliability", "summary": "Double reminders keep coming up.", "signal_ids": ids}
                ],
                "suggestions": [
                    {
                        "kind": "decision",
                        "text": "Decide whether the SMS fix ships before WhatsApp.",
                        "signal_ids": ids[:1],
                    }
                ],
            }
        )
    }
