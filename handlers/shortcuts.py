"""The message shortcut *Record as customer signal*: opens the capture modal.

Slack sends the message itself in the shortcut's payload, so it is never read again from Slack (whose history
reads are rate-limited, and refused where the app is not a member): the modal carries it to the submission.
https://docs.slack.dev/interactivity/implementing-shortcuts#messages
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import capture, customers
from bot.effects import Ephemeral, OpenModal
from bot.render.modals import capture_modal
from bot.safety import unescape
from handlers.effects import perform

if TYPE_CHECKING:
    from bot.services import Deps

NO_CUSTOMERS = "No customers yet: add one with `/loop customer add <name>`, then use the shortcut again."


def register(app: App, deps: Deps) -> None:
    @app.shortcut("record_signal")
    def on_shortcut(ack: Ack, shortcut: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or (shortcut.get("team") or {}).get("id") or ""
        message = shortcut.get("message") or {}
        channel_id = (shortcut.get("channel") or {}).get("id") or ""
        user = shortcut["user"]["id"]
        raw = capture.MessageIn(
            team_id=team_id,
            channel_id=channel_id,
            ts=message.get("ts") or "0",
            text=unescape(message.get("text") or ""),
            user_id=message.get("user"),
            thread_ts=message.get("thread_ts"),
        )
        with deps.session_factory.begin() as s:
            if not customers.any_customers(s, team_id):
                ack()
                perform(deps, client, team_id, [Ephemeral(channel_id, user, NO_CUSTOMERS)])
                return
            ids = capture.customers_for_any_message(s, raw)
            known = customers.card_by_id(s, team_id, ids[0]) if ids else None
            view = capture_modal(known, capture.modal_metadata(s, raw, deps.clock()), raw.text)
        ack()
        perform(deps, client, team_id, [OpenModal(view)], trigger_id=shortcut["trigger_id"])
