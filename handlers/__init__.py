"""Thin Slack glue: read the payload, call bot/, answer Slack. One module or folder per listener kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers import actions, commands, events, shortcuts, views

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    """Wire every listener."""
    commands.register(app, deps)
    shortcuts.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    events.register(app, deps)  # last: it ends with the catch-all event listener
