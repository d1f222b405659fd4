"""Modal submissions, by feature."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.views import capture, imports, learning, milestones, signals

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    capture.register(app, deps)
    milestones.register(app, deps)
    learning.register(app, deps)
    signals.register(app, deps)
    imports.register(app, deps)
