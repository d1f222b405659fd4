"""App Home: published when a person opens it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from handlers.payloads import team_of

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def on_home(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        deps.home.publish(client, team_of(body, context), event.get("user") or "")
