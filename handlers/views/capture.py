"""The capture modal (from the message shortcut) submitted."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import capture
from bot.capture import MessageIn
from bot.effects import Ephemeral
from bot.safety import safe
from handlers.effects import later, perform
from handlers.payloads import view_value

if TYPE_CHECKING:
    from bot.services import Deps


def follow_privacy(deps: Deps, msg: MessageIn) -> None:
    """A channel Slack has not described yet was taken as private (the safe side); after the answer, Slack is
    asked (conversations.info, cached) and the message's signals follow what it says."""
    if deps.directory.cached_private(msg.team_id, msg.channel_id) is not None:
        return

    def ask() -> None:
        private = deps.directory.channel_private(deps.client_for(msg.team_id), msg.team_id, msg.channel_id)
        if not private:
            with deps.session_factory.begin() as s:
                capture.privacy_known(s, msg.team_id, msg.channel_id, msg.ts, private)

    later(deps, ask)


def register(app: App, deps: Deps) -> None:
    @app.view("capture_modal")
    def on_capture_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        errors = {}
        chosen = view_value(state, "customer", "customer")
        if not chosen or not str(chosen).isdecimal():
            errors["customer"] = "Pick the customer this message is about."
        note = (view_value(state, "note", "note") or "").strip()
        if len(note) > capture.MAX_NOTE:
            errors["note"] = f"Keep the note under {capture.MAX_NOTE} characters."
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        # the message travelled in the modal (or was kept by its key): Slack is not asked for it again
        with deps.session_factory() as s:
            found = capture.modal_message(s, team_id, meta)
        if found is None:
            ack(
                response_action="errors",
                errors={"customer": "This form is too old to know its message. Close it and use the shortcut again."},
            )
            return
        channel_id, original = found
        msg = replace(deps.ingest.message_in(team_id, channel_id, original, None), text=original["text"] or "")
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
        follow_privacy(deps, msg)
        perform(deps, client, team_id, [Ephemeral(msg.channel_id, user, f":memo: Recorded for *{safe(name)}*.")])
