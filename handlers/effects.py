"""Carry out the effects bot/ asks for, with the request's WebClient."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.effects import (
    DirectMessage,
    Effect,
    Ephemeral,
    OpenModal,
    Post,
    RefreshHome,
    RunDigest,
    ScheduleChanged,
)

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)


def perform(deps: Deps, client: WebClient, team_id: str, effects: list[Effect], trigger_id: str | None = None) -> None:
    """Run each effect; one failing (say, not_in_channel) does not stop the others."""
    refresh = False
    for eff in effects:
        try:
            if isinstance(eff, Post):
                client.chat_postMessage(
                    channel=eff.channel,
                    text=eff.text,
                    blocks=eff.blocks,
                    thread_ts=eff.thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            elif isinstance(eff, Ephemeral):
                client.chat_postEphemeral(
                    channel=eff.channel, user=eff.user, text=eff.text, blocks=eff.blocks, thread_ts=eff.thread_ts
                )
            elif isinstance(eff, DirectMessage):
                client.chat_postMessage(channel=eff.user, text=eff.text, blocks=eff.blocks, unfurl_links=False)
            elif isinstance(eff, OpenModal):
                client.views_open(trigger_id=trigger_id, view=eff.view)
            elif isinstance(eff, RefreshHome):
                refresh = True
            elif isinstance(eff, RunDigest):
                # slow: on the runner's pool, after the command was answered
                deps.digest_runner.pool.submit(deps.digest_runner.run_now, client, team_id, eff.channel, eff.user)
            elif isinstance(eff, ScheduleChanged) and deps.digest_jobs is not None:
                deps.digest_jobs.sync_channel(team_id, eff.channel)
        except SlackApiError as e:
            log.warning("Slack refused %s: %s", type(eff).__name__, e.response.get("error"))
    if refresh:
        deps.home.refresh(client, team_id)
