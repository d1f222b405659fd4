"""Reading Slack payloads into plain values, and the few Web API reads listeners need."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def team_of(body: dict, context: BoltContext) -> str:
    return context.team_id or body.get("team_id") or (body.get("team") or {}).get("id") or ""


def view_value(state: dict, block: str, action: str) -> Any:
    """The value of one input of a modal's state, whatever its element type."""
    el = (state.get("values", {}).get(block) or {}).get(action) or {}
    if el.get("type") in ("static_select", "external_select", "radio_buttons"):
        return (el.get("selected_option") or {}).get("value")
    if el.get("type") in ("multi_static_select", "multi_external_select"):
        return [o["value"] for o in el.get("selected_options") or []]
    if el.get("type") == "users_select":
        return el.get("selected_user")
    if el.get("type") == "multi_users_select":
        return el.get("selected_users") or []
    if el.get("type") == "datepicker":
        return el.get("selected_date")
    return el.get("value")


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


def channel_of(body: dict) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
