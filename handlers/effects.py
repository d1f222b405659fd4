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
    OutboxQueued,
    Post,
    RefreshHome,
    RunAsk,
    RunDigest,
    RunReview,
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
            elif isinstance(eff, RunAsk):
                deps.digest_runner.pool.submit(deps.asker.answer, client, team_id, eff.channel, eff.user, eff.question)
            elif isinstance(eff, RunReview):
                deps.digest_runner.pool.submit(post_review, deps, client, team_id, eff)
            elif isinstance(eff, ScheduleChanged) and deps.digest_jobs is not None:
                deps.digest_jobs.sync_channel(team_id, eff.channel)
            elif isinstance(eff, OutboxQueued):
                deps.wake("outbox")
        except SlackApiError as e:
            log.warning("Slack refused %s: %s", type(eff).__name__, e.response.get("error"))
    if refresh:
        deps.home.refresh(client, team_id)


def post_review(deps: Deps, client: WebClient, team_id: str, eff: RunReview) -> None:
    """The quarterly review, after the command was answered; a failure is told to the person who asked."""
    from bot.review import parse_quarter, post
    from storage import repo

    try:
        with deps.session_factory() as s:
            c = repo.customer_by_id(s, team_id, eff.customer_id)
            if c is None:
                return
            post(
                s,
                client,
                team_id,
                eff.channel,
                c,
                parse_quarter(eff.quarter, deps.clock()),
                deps.clock(),
                deps.digest_runner.pacer,
            )
    except Exception as e:  # noqa: BLE001 - the person who asked must hear about it
        log.exception("quarterly review failed for %s", team_id)
        why = e.response.get("error") if isinstance(e, SlackApiError) else "an internal error (logged)"
        try:
            client.chat_postEphemeral(
                channel=eff.channel,
                user=eff.user,
                text=f":warning: The review could not be posted: {why}. Try again in a minute.",
            )
        except SlackApiError:
            pass
