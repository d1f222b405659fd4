"""Button and select listeners, by feature."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.actions import capture, connect, forget, home, learning, milestones, outcomes, search, signals

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    capture.register(app, deps)
    milestones.register(app, deps)
    learning.register(app, deps)
    signals.register(app, deps)
    home.register(app, deps)
    outcomes.register(app, deps)
    search.register(app, deps)
    connect.register(app, deps)
    forget.register(app, deps)
