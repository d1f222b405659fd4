"""The capture reaction (:memo: by default) records the message it is on.

A reaction carries no text. The message comes from what the app already has — its stored signal, else the
message as the app received it in that channel — and only else from ONE queued history read, paced to Slack's
rate limit (1 a minute for a distributed app: bot.history), after this event is answered.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot import capture
from bot.capture import MessageIn
from bot.effects import Ephemeral
from handlers.effects import perform
from handlers.payloads import team_of

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)

CANNOT_READ = (
    "I can't read that message, so it wasn't recorded. Invite me to the channel with "
    "`/invite @signalloop` and react again."
)
GONE = "I couldn't find that message any more (deleted?), so nothing was recorded."
SLACK_FAILED = "Slack didn't give me that message just now, so nothing was recorded. React again in a minute."
SAY_WAIT = 2.0  # seconds: a read sooner than this answers by itself


def in_a_moment(wait: float) -> str:
    when = f"in about {round(wait / 60)} minute{'s' if round(wait / 60) != 1 else ''}" if wait >= 90 else "in a moment"
    return f":hourglass_flowing_sand: Got it: Slack lets me read that message {when}; I'll record it then."


NO_READ = {"not_in_channel", "channel_not_found", "missing_scope", "no_permission", "access_denied"}


def register(app: App, deps: Deps) -> None:
    def is_capture_reaction(event: dict) -> bool:
        return (
            event.get("reaction") == deps.settings.capture_emoji and (event.get("item") or {}).get("type") == "message"
        )

    def record(client: WebClient, msg: MessageIn, reactor: str) -> None:
        with deps.session_factory.begin() as s:
            effects = capture.reaction_capture(s, msg, reactor, deps.clock())
        if msg.author_name is None or msg.permalink is None:
            deps.directory.learn(msg.team_id, msg.user_id)
        perform(deps, client, msg.team_id, effects)

    @app.event("reaction_added", matchers=[is_capture_reaction])
    def on_reaction(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        team_id = team_of(body, context)
        item = event["item"]
        channel_id, ts = item.get("channel") or "", item.get("ts") or ""
        reactor = event.get("user") or ""
        event_id = body.get("event_id")
        with deps.session_factory() as s:
            msg = capture.stored_message(s, team_id, channel_id, ts)
        if msg is None and (seen := deps.recent.get(team_id, channel_id, ts)) is not None:
            msg = deps.ingest.message_in(team_id, channel_id, seen, event_id, seen.get("channel_type"))
        if msg is not None:
            record(client, replace(msg, event_id=event_id), reactor)
            return
        if deps.history is None:
            perform(deps, client, team_id, [Ephemeral(channel_id, reactor, GONE)])
            return

        def read_back(found: dict[str, Any] | None, error: str | None) -> None:
            """On the history reader's thread, after the event was answered."""
            later_client = deps.client_for(team_id)
            if found is None:
                log.info("capture reaction on a message the app cannot read (%s %s): %s", channel_id, ts, error)
                text = CANNOT_READ if error in NO_READ else SLACK_FAILED if error else GONE
                deps.slack.ephemeral_or_dm(team_id, channel_id, reactor, text, what="a capture reaction's answer")
                return
            record(client, deps.ingest.message_in(team_id, channel_id, found, event_id, client=later_client), reactor)

        wait = deps.history.wait(team_id, channel_id, ts)
        deps.history.message(team_id, channel_id, ts, read_back)
        if wait > SAY_WAIT:
            # the read waits for Slack's rate limit: say so, rather than leave the reaction unanswered
            perform(deps, client, team_id, [Ephemeral(channel_id, reactor, in_a_moment(wait))])

    @app.event("reaction_added")
    def other_reaction() -> None:
        """Any other emoji: nothing to do."""

    @app.event("reaction_removed")
    def reaction_removed() -> None:
        """Removing the emoji keeps the signal: it was recorded, and may already be in a digest."""
