"""Thin Slack glue: parse the payload, call bot/, answer Slack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers import actions, commands, events

if TYPE_CHECKING:
    from bot.app import Deps


def register(app: App, deps: Deps) -> None:
    """Wire every listener."""
    events.register(app, deps)
    commands.register(app, deps)
    actions.register(app, deps)
