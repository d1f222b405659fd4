"""The learning modal and "what did the decision change to?" submitted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import learning
from bot.effects import Ephemeral
from bot.errors import UsageError
from handlers.actions.learning import reviewed_blocks
from handlers.effects import later, perform
from handlers.payloads import fetch_message, view_value

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.view("learning_modal")
    def on_learning_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        result = learning.submit_learning(
            deps.session_factory,
            team_id,
            user,
            meta,
            {
                "learning": view_value(state, "learning", "learning"),
                "decision": view_value(state, "decision", "decision"),
                "customers": view_value(state, "customers", "customers") or [],
                "milestones": view_value(state, "milestones", "milestones") or [],
                "owner": view_value(state, "owner", "owner"),
                "review": view_value(state, "review", "review"),
            },
            deps.clock(),
        )
        if result.errors:
            ack(response_action="errors", errors=result.errors)
            return
        ack()
        effects = list(result.effects)
        if meta.get("channel"):
            effects.insert(0, Ephemeral(meta["channel"], user, result.message))
        perform(deps, client, team_id, effects)

    @app.view("decision_changed_modal")
    def on_changed(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        value = str(meta.get("learning") or "")
        text = view_value(view.get("state") or {}, "changed_to", "changed_to") or ""
        try:
            with deps.session_factory.begin() as s:
                if not value.isdecimal():
                    raise UsageError("That decision no longer exists.")
                row = learning.record_change(s, team_id, int(value), text, user, deps.clock())
                line = learning.outcome_line(row)
        except UsageError as e:
            ack(response_action="errors", errors={"changed_to": str(e)})
            return
        ack()
        channel, ts = meta.get("channel"), meta.get("ts")
        if channel and ts and deps.history is not None:
            # the digest is read back through the paced history reader (1 read a minute for a distributed app)
            deps.history.message(
                team_id, channel, ts, lambda message, _error: mark_reviewed(team_id, channel, ts, value, line, message)
            )
        elif channel and ts:
            later(deps, mark_reviewed, team_id, channel, ts, value, line)

    def mark_reviewed(team_id: str, channel: str, ts: str, value: str, line: str, message: dict | None = None) -> None:
        """The digest message shows how the decision was reviewed (after the answer: two Web API calls)."""
        client = deps.client_for(team_id)
        if message is None and deps.history is None:
            message = fetch_message(client, channel, ts)
        if message is not None and message.get("blocks"):
            deps.slack.update(
                team_id,
                channel,
                ts,
                message.get("text") or "Weekly customer loop",
                reviewed_blocks(message, value, line),
                what="a reviewed decision",
            )
