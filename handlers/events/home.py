"""App Home: published when a person opens it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext

from handlers.effects import home_later
from handlers.payloads import team_of

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def on_home(event: dict, body: dict, context: BoltContext) -> None:
        if event.get("tab") not in (None, "home"):
            return
        home_later(deps, team_of(body, context), event.get("user") or "")  # views.publish after the answer
