"""The capture modal (from the message shortcut) submitted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import capture
from bot.effects import Ephemeral
from bot.safety import safe
from handlers.effects import perform
from handlers.payloads import fetch_message, message_in, view_value

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.view("capture_modal")
    def on_capture_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        errors = {}
        chosen = view_value(state, "customer", "customer")
        if not chosen or not str(chosen).isdigit():
            errors["customer"] = "Pick the customer this message is about."
        note = (view_value(state, "note", "note") or "").strip()
        if len(note) > capture.MAX_NOTE:
            errors["note"] = f"Keep the note under {capture.MAX_NOTE} characters."
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        original = fetch_message(client, meta.get("c") or "", meta.get("ts") or "")
        if original is None:
            ack(
                response_action="errors",
                errors={
                    "customer": "I can't read that message any more (deleted, "
                    "or I'm not in the channel). Invite me and retry."
                },
            )
            return
        msg = message_in(deps, team_id, meta["c"], original, None, client=client)
        kind = view_value(state, "kind", "kind")
        milestone = view_value(state, "milestone", "milestone")
        with deps.session_factory.begin() as s:
            name = capture.shortcut_capture(
                s,
                msg,
                int(chosen),
                int(milestone) if milestone else None,
                None if kind == "auto" else kind,
                note or None,
                user,
                deps.clock(),
            )
        if msg.author_name is None or msg.permalink is None:
            deps.directory.learn(team_id, msg.user_id)
        if name is None:
            ack(
                response_action="errors",
                errors={"customer": "That customer or milestone no longer exists; pick again."},
            )
            return
        ack()
        perform(deps, client, team_id, [Ephemeral(msg.channel_id, user, f":memo: Recorded for *{safe(name)}*.")])
