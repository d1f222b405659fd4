"""The capture reaction (:memo: by default) records the message it is on."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot import capture
from bot.effects import Ephemeral
from handlers.effects import perform
from handlers.payloads import fetch_message, message_in, team_of

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)

CANNOT_READ = (
    "I can't read that message, so it wasn't recorded. Invite me to this channel "
    "(`/invite @signalloop`) and react again."
)


def register(app: App, deps: Deps) -> None:
    def is_capture_reaction(event: dict) -> bool:
        return (
            event.get("reaction") == deps.settings.capture_emoji and (event.get("item") or {}).get("type") == "message"
        )

    @app.event("reaction_added", matchers=[is_capture_reaction])
    def on_reaction(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        team_id = team_of(body, context)
        item = event["item"]
        channel_id, ts = item.get("channel") or "", item.get("ts") or ""
        reactor = event.get("user") or ""
        # a reaction carries no text: the message itself has to be read from Slack
        original = fetch_message(client, channel_id, ts)
        if original is None:
            log.info("capture reaction on a message the app cannot read (%s %s)", channel_id, ts)
            perform(deps, client, team_id, [Ephemeral(channel_id, reactor, CANNOT_READ)])
            return
        msg = message_in(deps, team_id, channel_id, original, body.get("event_id"), client=client)
        with deps.session_factory.begin() as s:
            effects = capture.reaction_capture(s, msg, reactor, deps.clock())
        if msg.author_name is None or msg.permalink is None:
            deps.directory.learn(team_id, msg.user_id)
        perform(deps, client, team_id, effects)

    @app.event("reaction_added")
    def other_reaction() -> None:
        """Any other emoji: nothing to do."""

    @app.event("reaction_removed")
    def reaction_removed() -> None:
        """Removing the emoji keeps the signal: it was recorded, and may already be in a digest."""
