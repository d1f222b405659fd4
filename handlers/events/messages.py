"""Messages: new ones in linked and watch channels become signals; edits and deletions follow them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot import capture, learning
from bot.capture import MessageIn, is_person_message
from bot.kinds import BURST_KINDS
from bot.safety import unescape
from handlers.effects import perform
from handlers.payloads import message_in, team_of

if TYPE_CHECKING:
    from bot.services import Deps


def is_edit(event: dict, context: BoltContext) -> bool:
    """A person's message edited. Another integration's (or the app's own) message changing is not a customer's
    edit: it carries bot_id or subtype bot_message inside `message`, like bolt-python's ignoring_self_events
    looks for (https://docs.slack.dev/reference/events/message/message_changed)."""
    if event.get("subtype") != "message_changed":
        return False
    new = event.get("message") or {}
    if new.get("bot_id") or new.get("subtype") == "bot_message" or new.get("app_id"):
        return False
    return not new.get("user") or new.get("user") != context.bot_user_id


def is_delete(event: dict) -> bool:
    return event.get("subtype") == "message_deleted"


def register(app: App, deps: Deps) -> None:
    @app.event("message", matchers=[is_person_message])
    def on_message(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        team_id = team_of(body, context)
        channel_id = event.get("channel") or ""
        # kept for a capture reaction on it later: read here rather than from Slack's rate-limited history
        deps.recent.add(team_id, channel_id, event)
        text = unescape(event.get("text") or "")
        thread_ts = event.get("thread_ts")
        # a reply in a digest's thread is an answer to the loop's question, not a customer signal
        if thread_ts and thread_ts != event["ts"]:
            effects = learning.answer_in_thread(
                deps.session_factory, team_id, channel_id, event["ts"], thread_ts, event.get("user"), text, deps.clock()
            )
            if effects is not None:
                perform(deps, client, team_id, effects)
                return
        # Slack Connect: the author's own organisation (https://docs.slack.dev/apis/slack-connect: user_team)
        author_team = event.get("user_team") or event.get("team")
        raw = MessageIn(
            team_id=team_id,
            channel_id=channel_id,
            ts=event["ts"],
            text=text,
            user_id=event.get("user"),
            author_team_id=author_team,
        )
        if deps.connect is not None and deps.connect.met(team_id, channel_id, raw.external):
            # a channel shared with another organisation: what it is, and whose, asked of Slack after the answer
            deps.after.submit(deps.connect.discover, team_id, channel_id)
        route, version = deps.router.route_cached(raw, deps.signal_writer)
        if route is None or not route[1]:
            return  # not a linked or watch channel, or no customer named: nothing to store
        if thread_ts and thread_ts != event["ts"] and not raw.external and deps.connect is not None:
            # a team member's reply in a customer's thread answers their question (no more waiting, no nudge)
            deps.connect.answered(team_id, channel_id, thread_ts, event.get("user"))
        msg = message_in(deps, team_id, channel_id, event, body.get("event_id"), event.get("channel_type"))
        # returns once committed (with whatever else arrived meanwhile): the ack that follows means stored
        rows = deps.router.store(deps.signal_writer, msg, route, version, deps.clock())
        if not rows:
            return  # routed again after a change of links: no longer a customer's
        if any(row["kind"] in BURST_KINDS for row in rows):
            deps.wake("nudges_burst")  # it may complete a burst: the owner hears in seconds, not at the next scan
        if msg.author_name is None or msg.permalink is None:
            deps.directory.learn(team_id, msg.user_id)  # the name follows, without holding the acknowledgement
        deps.directory.learn_channels(team_id, msg.text)

    @app.event("message", matchers=[is_edit])
    def on_edit(event: dict, body: dict, context: BoltContext) -> None:
        new = event.get("message") or {}
        if not new.get("ts"):
            return
        team_id = team_of(body, context)
        channel_id = event.get("channel") or ""
        deps.recent.edit(team_id, channel_id, new)
        edited = (new.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
        msg = message_in(deps, team_id, channel_id, new, None, event.get("channel_type") or "channel")
        route = deps.router.route(msg)
        with deps.session_factory.begin() as s:
            capture.edit_message(s, msg, route, capture.ts_to_datetime(edited), deps.clock())

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
