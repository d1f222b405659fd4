"""Signs requests with the signing secret and dispatches them to a Bolt app in-process, as Slack would.

Given the Slack simulator's state, a slash command's text is sent escaped as the manifest's should_escape makes
Slack send it (devtools.fakeslack.slash_text); given `settle`, each dispatch returns once the app's work after the
answer is done (what the demo prints next has happened).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from devtools.fakeslack import FakeSlackState, slash_text


class LocalDispatcher:
    def __init__(
        self,
        app: App,
        secret: str,
        slack_state: FakeSlackState | None = None,
        settle: Callable[[], Any] | None = None,
    ) -> None:
        self.app = app
        self.verifier = SignatureVerifier(secret)
        self.slack_state = slack_state
        self.settle = settle

    def send(self, body: str, content_type: str) -> dict[str, Any]:
        if self.slack_state is not None and "form-urlencoded" in content_type:
            form = dict(parse_qsl(body, keep_blank_values=True))
            if form.get("command"):
                form["text"] = slash_text(self.slack_state, form["command"], form.get("text") or "")
                body = urlencode(form)
        ts = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=ts, body=body)
        assert signature is not None  # None only without a timestamp or a body
        headers: dict[str, str | Sequence[str]] = {
            "content-type": [content_type],
            "x-slack-request-timestamp": [ts],
            "x-slack-signature": [signature],
        }
        resp = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if resp.status != 200:
            raise RuntimeError(f"request failed with {resp.status}: {resp.body}")
        if self.settle is not None:
            self.settle()
        return json.loads(resp.body) if resp.body.startswith("{") else {}
