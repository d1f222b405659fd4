"""The message shortcut *Record as customer signal*: opens the capture modal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import capture
from bot.render.modals import capture_modal
from bot.safety import unescape
from storage import repo

if TYPE_CHECKING:
    from bot.services import Deps

NO_CUSTOMERS = "No customers yet: add one with `/loop customer add <name>`, then use the shortcut again."


def register(app: App, deps: Deps) -> None:
    @app.shortcut("record_signal")
    def on_shortcut(ack: Ack, shortcut: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or (shortcut.get("team") or {}).get("id") or ""
        message = shortcut.get("message") or {}
        channel_id = (shortcut.get("channel") or {}).get("id") or ""
        meta = json.dumps({"c": channel_id, "ts": message.get("ts"), "t": message.get("thread_ts")})
        text = unescape(message.get("text") or "")
        with deps.session_factory() as s:
            everyone = repo.list_customers(s, team_id)
            if not everyone:
                ack()
                client.chat_postEphemeral(channel=channel_id, user=shortcut["user"]["id"], text=NO_CUSTOMERS)
                return
            raw = capture.MessageIn(
                team_id=team_id,
                channel_id=channel_id,
                ts=message.get("ts") or "0",
                text=text,
                user_id=message.get("user"),
            )
            ids = capture.customers_for_any_message(s, raw)
            known = repo.customer_by_id(s, team_id, ids[0]) if ids else None
            view = capture_modal(everyone, known, meta, text)
        ack()
        client.views_open(trigger_id=shortcut["trigger_id"], view=view)
