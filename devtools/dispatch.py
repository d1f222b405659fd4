"""Signs requests with the signing secret and dispatches them to a Bolt app in-process, as Slack would."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier


class LocalDispatcher:
    def __init__(self, app: App, secret: str) -> None:
        self.app = app
        self.verifier = SignatureVerifier(secret)

    def send(self, body: str, content_type: str) -> dict[str, Any]:
        ts = str(int(time.time()))
        headers = {
            "content-type": [content_type],
            "x-slack-request-timestamp": [ts],
            "x-slack-signature": [self.verifier.generate_signature(timestamp=ts, body=body)],
        }
        resp = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if resp.status != 200:
            raise RuntimeError(f"request failed with {resp.status}: {resp.body}")
        return json.loads(resp.body) if resp.body.startswith("{") else {}
