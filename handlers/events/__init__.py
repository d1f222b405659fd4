"""Event listeners: messages, the capture reaction, App Home; every other event acknowledged."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.events import connect, home, messages, reactions, slack_changes

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    messages.register(app, deps)
    connect.register(app, deps)  # before reactions: a team member's reaction may answer a customer's question
    reactions.register(app, deps)
    home.register(app, deps)
    slack_changes.register(app, deps)

    # registered last: any other event Slack sends (including ones the manifest did not ask for) is
    # acknowledged, so Slack does not retry it; Bolt would answer 404 for an event nobody listens to
    @app.event(re.compile(".*"))
    def any_other_event() -> None:
        """Nothing to do."""
