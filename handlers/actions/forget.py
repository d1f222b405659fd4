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
from storage import repo

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
        said = None
        with deps.session_factory.begin() as s:
            c = repo.customer_by_id(s, team_id, int(value)) if value.isdigit() else None
            if c is not None:
                t = purge.Target(c, None, repo.customer_footprint(s, team_id, c.id))
                repo.forget_customer(s, team_id, c.id)
                said = purge.done(t)
                log.info("customer %s of team %s deleted by %s", c.id, team_id, user)
        if said is None:
            tell_later(deps, team_id, body, user, "That customer is already deleted.", respond)
            return
        # after the answer: the message, then App Home for everyone who opened it
        later(deps, lambda: respond(replace_original=True, text=f":wastebasket: {safe(said)}"))
        perform(deps, client, team_id, [RefreshHome()])
