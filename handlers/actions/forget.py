"""The confirm button of `/loop forget`: delete the customer and everything stored about it, in one transaction."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import purge
from bot.effects import RefreshHome
from bot.safety import safe
from handlers.effects import later, perform, tell_later

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    @app.action("forget_confirm")
    def on_confirm(
        ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond
    ) -> None:
        ack()
        team_id, user = context.team_id or "", body["user"]["id"]
        value = action.get("value") or ""
        with deps.session_factory.begin() as s:
            said = purge.forget_by_id(s, team_id, value)
        if said is not None:
            log.info("customer %s of team %s deleted by %s", value, team_id, user)
        if said is None:
            tell_later(deps, team_id, body, user, "That customer is already deleted.", respond)
            return
        # after the answer: the message, then App Home for everyone who opened it
        later(deps, lambda: respond(replace_original=True, text=f":wastebasket: {safe(said)}"))
        perform(deps, client, team_id, [RefreshHome()])
