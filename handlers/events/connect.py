"""Slack Connect: the app added to a channel, or a channel shared with another organisation.

Both only start the look-up (conversations.info, team.info) and the link proposal, after the answer to Slack:
https://docs.slack.dev/reference/events/member_joined_channel, https://docs.slack.dev/reference/events/channel_shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext

from handlers.payloads import team_of

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    def app_joined(event: dict, context: BoltContext) -> bool:
        return bool(event.get("user")) and event.get("user") == context.bot_user_id

    @app.event("member_joined_channel", matchers=[app_joined])
    def on_app_joined(event: dict, body: dict, context: BoltContext) -> None:
        if deps.connect is None or not event.get("channel"):
            return
        deps.after.submit(deps.connect.discover, team_of(body, context), event["channel"], event.get("inviter"))

    @app.event("member_joined_channel")
    def someone_joined() -> None:
        """A person joined a channel: nothing to do."""

    def answering_reaction(event: dict) -> bool:
        return event.get("reaction") != deps.settings.capture_emoji  # the capture reaction records, it answers not

    @app.event("reaction_added", matchers=[answering_reaction])
    def on_reaction(event: dict, body: dict, context: BoltContext) -> None:
        """A team member's reaction on a customer's question answers it (no nudge for it)."""
        item = event.get("item") or {}
        team_id = team_of(body, context)
        if deps.connect is None or item.get("type") != "message" or not item.get("ts"):
            return
        if event.get("user_team") and event["user_team"] != team_id:
            return  # someone of the customer's organisation: not the team answering
        # whose reaction it is may take users.info: after the answer
        deps.after.submit(deps.connect.reacted, team_id, item.get("channel") or "", item["ts"], event.get("user"))

    @app.event("channel_shared")
    def on_shared(event: dict, body: dict, context: BoltContext) -> None:
        if deps.connect is None or not event.get("channel"):
            return
        deps.after.submit(deps.connect.discover, team_of(body, context), event["channel"])
