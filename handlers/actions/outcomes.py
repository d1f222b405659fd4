"""The owner's "Customer told" button on a "tell the customer" prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import outcomes
from handlers.effects import later, tell_later

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.action("customer_told")
    def on_told(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond) -> None:
        ack()
        team_id, user = context.team_id or "", body["user"]["id"]
        value = action.get("value") or ""
        with deps.session_factory.begin() as s:
            told = outcomes.mark_told(s, team_id, value, user, deps.clock())
        if told is None:
            tell_later(deps, team_id, body, user, "That outcome no longer exists.", respond)
            return
        summary, when = told
        later(
            deps, lambda: respond(replace_original=True, text=f":white_check_mark: Customer told ({when}): {summary}")
        )
