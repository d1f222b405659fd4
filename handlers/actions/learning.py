"""The loop's buttons: add a learning, name its decision, and review last week's decisions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import learning
from bot.errors import UsageError
from bot.render.modals import changed_to_modal
from handlers.effects import later, open_modal, tell_later
from handlers.payloads import channel_of

if TYPE_CHECKING:
    from bot.services import Deps


def reviewed_blocks(message: dict, learning_id: str, line: str) -> list[dict]:
    """The digest message with one decision's buttons replaced by how it was reviewed."""
    blocks = list(message.get("blocks") or [])
    for i, b in enumerate(blocks):
        if b.get("block_id") == f"review:{learning_id}":
            blocks[i] = {
                "type": "context",
                "block_id": f"reviewed:{learning_id}",
                "elements": [{"type": "mrkdwn", "text": line}],
            }
    return blocks


def register(app: App, deps: Deps) -> None:
    def open_learning(
        client: WebClient, body: dict, team_id: str, user: str, meta: dict, learning_id: int | None = None
    ) -> None:
        with deps.session_factory() as s:
            view = learning.learning_modal_for(s, team_id, user, meta, deps.clock(), learning_id)
        if view is not None:
            open_modal(deps, client, team_id, body, view)

    @app.action("add_learning")
    def on_add_learning(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        run = action.get("value") or "0"
        open_learning(
            client,
            body,
            context.team_id or "",
            body["user"]["id"],
            {"run": int(run) if run.isdecimal() else 0, "channel": channel_of(body)},
        )

    @app.action("name_decision")
    def on_name_decision(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        value = action.get("value") or ""
        if value.isdecimal():
            open_learning(
                client,
                body,
                context.team_id or "",
                body["user"]["id"],
                {"channel": channel_of(body)},
                learning_id=int(value),
            )

    def review(outcome: str):  # noqa: ANN202
        def handle(
            ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond
        ) -> None:
            ack()
            team_id = context.team_id or ""
            user = body["user"]["id"]
            value = action.get("value") or ""
            message = body.get("message") or {}
            channel = channel_of(body)
            if outcome == "changed":
                # what did it change to? asked in a modal; the answer is stored with the outcome
                meta = json.dumps({"learning": value, "channel": channel, "ts": message.get("ts")})
                open_modal(deps, client, team_id, body, changed_to_modal(meta))
                return
            try:
                with deps.session_factory.begin() as s:
                    if not value.isdecimal():
                        raise UsageError("That decision no longer exists.")
                    row = learning.set_outcome(s, team_id, int(value), outcome, user, deps.clock())
                    line = learning.outcome_line(row)
            except UsageError as e:
                tell_later(deps, team_id, body, user, str(e), respond)
                return
            if channel and message.get("ts"):
                # after the answer, on the client that waits out a 429
                later(
                    deps,
                    lambda: deps.slack.update(
                        team_id,
                        channel,
                        message["ts"],
                        message.get("text") or "Weekly customer loop",
                        reviewed_blocks(message, value, line),
                        what="a reviewed decision",
                    ),
                )

        return handle

    for outcome in learning.OUTCOMES:
        app.action(f"decision_{outcome}")(review(outcome))
