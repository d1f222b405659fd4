"""Messages: new ones in linked and watch channels become signals; edits and deletions follow them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.capture import is_person_message
from handlers.effects import perform
from handlers.payloads import team_of

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


def is_new_person_message(body: dict) -> bool:
    """The requests `on_message` takes: an Events API message event a person posted (Bolt's event("message")
    listener with the is_person_message matcher), for the fast path in front of Bolt (entry.app)."""
    event = body.get("event")
    return (
        body.get("type") == "event_callback"
        and isinstance(event, dict)
        and event.get("type") == "message"
        and is_person_message(event)
    )


def person_message(deps: Deps, client: WebClient, team_id: str, event: dict, event_id: str | None) -> None:
    """A person's new message into the capture service; returns once its signals are committed."""
    effects = deps.ingest.message(team_id, event, event_id)
    if effects:
        perform(deps, client, team_id, effects)


def register(app: App, deps: Deps) -> None:
    @app.event("message", matchers=[is_person_message])
    def on_message(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        person_message(deps, client, team_of(body, context), event, body.get("event_id"))

    @app.event("message", matchers=[is_edit])
    def on_edit(event: dict, body: dict, context: BoltContext) -> None:
        deps.ingest.edit(team_of(body, context), event)

    @app.event("message", matchers=[is_delete])
    def on_delete(event: dict, body: dict, context: BoltContext) -> None:
        deps.ingest.delete(team_of(body, context), event)

    @app.event("message")
    def other_message() -> None:
        """Joins, bot posts and other subtypes: acknowledged, nothing recorded."""
