"""Events: messages (new, edited, deleted), the capture reaction, App Home."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import capture
from bot.capture import MessageIn, is_person_message
from bot.safety import unescape
from handlers.effects import perform

if TYPE_CHECKING:
    from bot.app import Deps

log = logging.getLogger(__name__)

def is_edit(event: dict) -> bool:
    return event.get("subtype") == "message_changed"


def is_delete(event: dict) -> bool:
    return event.get("subtype") == "message_deleted"


def team_of(body: dict, context: BoltContext) -> str:
    return context.team_id or body.get("team_id") or ""


def message_in(deps: Deps, client: WebClient, team_id: str, channel_id: str, msg: dict,
               event_id: str | None, channel_type: str | None = None) -> MessageIn:
    """A Slack message payload with the author's name, its permalink and the channel's privacy."""
    ts = msg["ts"]
    thread_ts = msg.get("thread_ts")
    return MessageIn(
        team_id=team_id, channel_id=channel_id, ts=ts, text=unescape(msg.get("text") or ""), user_id=msg.get("user"),
        thread_ts=thread_ts, event_id=event_id,
        is_private=deps.directory.channel_private(client, team_id, channel_id, channel_type),
        author_name=deps.directory.user_name(client, team_id, msg.get("user")),
        permalink=deps.directory.permalink(client, team_id, channel_id, ts, thread_ts),
    )


def register(app: App, deps: Deps) -> None:
    @app.event("message", matchers=[is_person_message])
    def on_message(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        team_id = team_of(body, context)
        channel_id = event.get("channel") or ""
        raw = MessageIn(team_id=team_id, channel_id=channel_id, ts=event["ts"], text=unescape(event.get("text") or ""),
                        user_id=event.get("user"), thread_ts=event.get("thread_ts"))
        # a reply in a digest's thread is an answer to the loop's question, not a customer signal
        if raw.thread_ts and raw.thread_ts != raw.ts:
            msg = message_in(deps, client, team_id, channel_id, event, body.get("event_id"),
                             event.get("channel_type"))
            effects = deps.learning_reply(msg)
            if effects is not None:
                perform(deps, client, team_id, effects)
                return
        route = deps.router.route(raw)
        if route is None or not route[1]:
            return  # not a linked or watch channel, or no customer named: nothing to look up or store
        msg = message_in(deps, client, team_id, channel_id, event, body.get("event_id"),
                         event.get("channel_type"))
        # returns once committed (with whatever else arrived meanwhile): the ack that follows means stored
        deps.signal_writer.insert(capture.channel_message_rows(msg, route, deps.clock()))

    @app.event("message", matchers=[is_edit])
    def on_edit(event: dict, body: dict, context: BoltContext) -> None:
        new = event.get("message") or {}
        if not new.get("ts"):
            return
        edited = (new.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
        with deps.session_factory.begin() as s:
            capture.edit_message(s, team_of(body, context), event.get("channel") or "", new["ts"],
                                 unescape(new.get("text") or ""), capture.ts_to_datetime(edited))

    @app.event("message", matchers=[is_delete])
    def on_delete(event: dict, body: dict, context: BoltContext) -> None:
        ts = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
        if not ts:
            return
        with deps.session_factory.begin() as s:
            capture.delete_message(s, team_of(body, context), event.get("channel") or "", ts, deps.clock())

    @app.event("message")
    def other_message() -> None:
        """Joins, bot posts and other subtypes: acknowledged, nothing recorded."""

    def is_capture_reaction(event: dict) -> bool:
        return (event.get("reaction") == deps.settings.capture_emoji
                and (event.get("item") or {}).get("type") == "message")

    @app.event("reaction_added", matchers=[is_capture_reaction])
    def on_reaction(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        team_id = team_of(body, context)
        item = event["item"]
        channel_id, ts = item.get("channel") or "", item.get("ts") or ""
        original = fetch_message(client, channel_id, ts)
        if original is None:
            log.info("capture reaction on a message the app cannot read (%s %s)", channel_id, ts)
            perform(deps, client, team_id, [deps.reactions.cannot_read(channel_id, event.get("user") or "")])
            return
        msg = message_in(deps, client, team_id, channel_id, original, body.get("event_id"))
        effects = deps.reactions.capture(msg, event.get("user") or "")
        perform(deps, client, team_id, effects)

    @app.event("reaction_added")
    def other_reaction() -> None:
        """Any other emoji: nothing to do."""

    @app.event("reaction_removed")
    def reaction_removed() -> None:
        """Removing the emoji keeps the signal: it was recorded, and may already be in a digest."""

    @app.event("app_home_opened")
    def on_home(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        deps.publish_home(client, team_of(body, context), event.get("user") or "")

    # registered last: any other event Slack sends (including ones the manifest did not ask for) is
    # acknowledged, so Slack does not retry it; Bolt would answer 404 for an event nobody listens to
    @app.event(re.compile(".*"))
    def any_other_event() -> None:
        """Nothing to do."""


def fetch_message(client: WebClient, channel_id: str, ts: str) -> dict[str, Any] | None:
    """The message at (channel, ts): from the channel's history, or from its thread for a reply."""
    try:
        res = client.conversations_history(channel=channel_id, latest=ts, oldest=ts, inclusive=True, limit=1)
        for m in res.get("messages") or []:
            if m.get("ts") == ts:
                return m
        res = client.conversations_replies(channel=channel_id, ts=ts, latest=ts, inclusive=True, limit=1)
        for m in res.get("messages") or []:
            if m.get("ts") == ts:
                return m
    except SlackApiError as e:
        log.warning("could not read message %s in %s: %s", ts, channel_id, e.response.get("error"))
    return None
