"""Thin Slack glue: read the payload, call bot/, answer Slack. One module or folder per listener kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from bot import memory
from handlers import actions, commands, events, shortcuts, views

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    """Wire every listener.

    Bolt tries listeners in the order they were registered, until one matches. Events come first:
    channel messages are nearly all of the traffic, and each listener tried costs a match. The
    catch-all event listener at the end of `events` matches only events, never a command or an action.
    """
    memory.install(deps.session_factory)  # each workspace's corrected kinds, read when its messages are classified
    events.register(app, deps)
    commands.register(app, deps)
    shortcuts.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
