"""App Home's own buttons: a person turns "what came of your signals" messages off or on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext

from handlers.effects import home_later

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    def toggle(opt_out: bool):  # noqa: ANN202
        def handle(ack: Ack, body: dict, context: BoltContext) -> None:
            ack()
            team_id = context.team_id or ""
            user = body["user"]["id"]
            deps.home.set_dm_opt_out(team_id, user, opt_out)
            home_later(deps, team_id, user)

        return handle

    app.action("home_dm_opt_out")(toggle(True))
    app.action("home_dm_opt_in")(toggle(False))
