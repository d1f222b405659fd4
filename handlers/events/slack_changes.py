"""Slack's own notices: a channel's id changed, and events held back past Slack's hourly cap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient

from bot.slack_changes import channel_moved
from handlers.effects import perform
from handlers.payloads import team_of

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)


class _AnsweredHere(logging.Filter):
    """Bolt warns when a global middleware answers a request itself; for app_rate_limited that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "app_rate_limited" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_AnsweredHere())


def event_arrived(deps: Deps, body: dict) -> None:
    """Any event of a workspace tells that its events flow again (bot.backfill)."""
    if body.get("type") == "event_callback" and body.get("team_id") and deps.backfill is not None:
        deps.backfill.event_arrived(body["team_id"])


def register(app: App, deps: Deps) -> None:
    @app.middleware
    def events_held_back(body: dict, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        """app_rate_limited has no inner event, so no event listener matches it and Bolt would answer 404: it is
        answered 200 here, the gap noted for reading back (https://docs.slack.dev/reference/events/app_rate_limited).
        Any other event of the workspace tells that events flow again."""
        if body.get("type") == "app_rate_limited":
            team_id = body.get("team_id") or ""
            minute = int(body.get("minute_rate_limited") or 0)
            if team_id and minute and deps.backfill is not None:
                deps.backfill.noticed(team_id, minute)
            return BoltResponse(status=200, body="")
        event_arrived(deps, body)
        next()
        return None

    @app.event("channel_id_changed")
    def on_channel_id_changed(event: dict, body: dict, context: BoltContext, client: WebClient) -> None:
        team_id = team_of(body, context)
        with deps.session_factory.begin() as s:
            effects = channel_moved(s, team_id, event.get("old_channel_id") or "", event.get("new_channel_id") or "")
        perform(deps, client, team_id, effects)
