"""Carry out the effects bot/ asks for: a modal now, every other Web API call after the answer to Slack."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.effects import (
    CheckMember,
    DirectMessage,
    Effect,
    Ephemeral,
    OpenModal,
    OutboxQueued,
    Post,
    RefreshHome,
    RunAsk,
    RunDigest,
    RunLinkAuto,
    RunReview,
    ScheduleChanged,
)
from handlers.payloads import channel_of

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)


def perform(
    deps: Deps,
    client: WebClient,
    team_id: str,
    effects: list[Effect],
    trigger_id: str | None = None,
    where: tuple[str, str] | None = None,
) -> None:
    """Carry out what bot/ asked for without delaying the answer to Slack.

    Only opening a modal happens now, on the request's `client`: its trigger_id expires 3 seconds after the
    interaction (https://docs.slack.dev/surfaces/modals), and it is the one Web API call a request may make.
    Everything else that reaches Slack (posts, ephemerals, DMs, App Home) runs after the answer, on
    deps.after with the workspace's background client, which waits out a 429 there. A modal Slack would not open
    (the trigger expired, a 429) is told to the person in `where` (channel, user), after the answer.
    """
    after: list[Effect] = []
    for eff in effects:
        if isinstance(eff, OpenModal):
            opened = deps.slack.open_modal(client, trigger_id, eff.view)
            if not opened and where is not None:
                after.append(Ephemeral(where[0], where[1], MODAL_FAILED.format(why=opened.error)))
        elif isinstance(eff, ScheduleChanged):
            if deps.digest_jobs is not None:  # the scheduler's own store: no Web API call
                deps.digest_jobs.sync_channel(team_id, eff.channel)
        elif isinstance(eff, OutboxQueued):
            deps.wake("outbox")
        else:
            after.append(eff)
    if after:
        deps.after.submit(perform_after, deps, team_id, after)


MODAL_FAILED = ":warning: Slack did not open the form ({why}): run the command again."
BUTTON_MODAL_FAILED = ":warning: Slack did not open the form ({why}): click the button again."


def open_modal(deps: Deps, client: WebClient, team_id: str, body: dict, view: dict[str, Any]) -> None:
    """A form a button asked for, opened now on the request's client (its trigger_id lasts 3 seconds,
    https://docs.slack.dev/surfaces/modals); when Slack refuses it, the person hears why after the answer."""
    opened = deps.slack.open_modal(client, body.get("trigger_id"), view)
    user = (body.get("user") or {}).get("id")
    if opened or not user:
        return
    text = BUTTON_MODAL_FAILED.format(why=opened.error)
    channel = channel_of(body)
    what = "a form that did not open"
    if channel:
        later(deps, partial(deps.slack.ephemeral_or_dm, team_id, channel, user, text, what=what))
    else:
        later(deps, partial(deps.slack.dm, team_id, user, text, what=what))


def later(deps: Deps, fn: Callable[..., Any], *args: Any) -> None:
    """Run fn(*args) after the answer to Slack (a Web API call a listener would otherwise make before it)."""
    deps.after.submit(fn, *args)


def perform_after(deps: Deps, team_id: str, effects: list[Effect]) -> None:
    """The effects' Web API calls, in order, after the answer; one Slack refuses (say, not_in_channel) is logged
    by deps.slack and does not stop the others."""
    out = deps.slack
    for eff in effects:
        if isinstance(eff, Post):
            out.post(team_id, eff.channel, eff.text, eff.blocks, thread_ts=eff.thread_ts)
        elif isinstance(eff, Ephemeral):
            out.ephemeral(team_id, eff.channel, eff.user, eff.text, eff.blocks, thread_ts=eff.thread_ts)
        elif isinstance(eff, DirectMessage):
            out.dm(team_id, eff.user, eff.text, eff.blocks)
        elif isinstance(eff, RefreshHome):
            refresh_home(deps, team_id)
        elif isinstance(eff, CheckMember):
            check_member(deps, team_id, eff)
        elif isinstance(eff, RunDigest | RunAsk | RunReview) and refused_in_shared(deps, team_id, eff):
            continue
        elif isinstance(eff, RunLinkAuto):
            link_auto(deps, team_id, eff)
        elif isinstance(eff, RunDigest):  # slow: on the runner's pool
            deps.digest_runner.pool.submit(deps.digest_runner.run_now, None, team_id, eff.channel, eff.user)
        elif isinstance(eff, RunAsk):
            client = deps.client_for(team_id)
            deps.digest_runner.pool.submit(deps.asker.answer, client, team_id, eff.channel, eff.user, eff.question)
        elif isinstance(eff, RunReview):
            deps.digest_runner.pool.submit(post_review, deps, team_id, eff)


def refused_in_shared(deps: Deps, team_id: str, eff: RunDigest | RunAsk | RunReview) -> bool:
    """Nothing internal is posted into a channel shared with another organisation (Slack's is_ext_shared, asked
    of conversations.info here, after the answer, when the cache does not know): the person is told why."""
    if deps.connect is None or not deps.connect.shared_for_posting(deps.client_for(team_id), team_id, eff.channel):
        return False
    from bot.connect import refusal

    what = {RunDigest: "digests", RunAsk: "answers from customer signals", RunReview: "customer reviews"}[type(eff)]
    deps.slack.ephemeral(team_id, eff.channel, eff.user, refusal(what), what="a shared-channel refusal")
    return True


def link_auto(deps: Deps, team_id: str, eff: RunLinkAuto) -> None:
    """`/loop link auto`: the unlinked channels the app is in, each with its best match, ticked when clear."""
    from bot.connect import auto_blocks

    assert deps.connect is not None
    text, blocks = auto_blocks(deps.connect.scan(team_id))
    # run in a channel the app is not in, the list comes by DM instead
    deps.slack.ephemeral_or_dm(team_id, eff.channel, eff.user, text, blocks, what="the /loop link auto list")


NOT_A_MEMBER = (
    ":wave: I'm not in <#{channel}> yet, so I can't read its messages or post there. "
    "Run `/invite @signalloop` in that channel; nothing is recorded until then."
)


def check_member(deps: Deps, team_id: str, eff: CheckMember) -> None:
    """A channel just linked or watched: Slack sends the app no messages of a channel it is not in
    (https://docs.slack.dev/reference/methods/conversations.info: is_member), so the person is told by DM."""
    if eff.channel[:1] not in ("C", "G"):
        return
    try:
        member = deps.client_for(team_id).conversations_info(channel=eff.channel)["channel"].get("is_member", True)
    except SlackApiError as e:  # a private channel the app is not in is channel_not_found: not told apart
        log.info("conversations.info %s: %s", eff.channel, e.response.get("error"))
        return
    if not member:
        deps.slack.dm(team_id, eff.user, NOT_A_MEMBER.format(channel=eff.channel), what="an invitation hint")


def refresh_home(deps: Deps, team_id: str) -> None:
    """Re-publish App Home for everyone who has opened it, one publish per person on deps.after; a person whose
    publish is still waiting to start is not queued twice (it will show the newest state anyway)."""
    for user in deps.home.viewers(team_id):
        deps.after.submit(publish_home, deps, team_id, user, key=("home", team_id, user))


def publish_home(deps: Deps, team_id: str, user: str, search_text: str = "") -> None:
    deps.home.publish(team_id, user, search_text)


def home_later(deps: Deps, team_id: str, user: str, search_text: str = "") -> None:
    """Publish `user`'s App Home after the answer."""
    key = ("home", team_id, user) if not search_text else None
    deps.after.submit(publish_home, deps, team_id, user, search_text, key=key)


def post_review(deps: Deps, team_id: str, eff: RunReview) -> None:
    """The quarterly review, after the command was answered; a failure is told to the person who asked."""
    from bot import customers
    from bot.review import parse_quarter, post

    try:
        with deps.session_factory() as s:
            c = customers.by_id(s, team_id, eff.customer_id)
            if c is None:
                return
            first = post(s, deps.slack, team_id, eff.channel, c, parse_quarter(eff.quarter, deps.clock()), deps.clock())
        why = None if first else first.error
    except Exception:  # noqa: BLE001 - the person who asked must hear about it
        log.exception("quarterly review failed for %s", team_id)
        why = "an internal error (logged)"
    if why:
        text = f":warning: The review could not be posted: {why}. Try again in a minute."
        deps.slack.ephemeral(team_id, eff.channel, eff.user, text, what="news of a failed review")


def tell_later(deps: Deps, team_id: str, body: dict, user: str, text: str, respond: Respond) -> None:
    """An answer after a button, sent after the acknowledgement: in the conversation when there is one (its
    response_url), else by DM."""
    if body.get("response_url"):
        later(deps, lambda: respond(text=text, response_type="ephemeral", replace_original=False))
    else:
        later(deps, lambda: deps.slack.dm(team_id, user, text, what="an answer to a button"))
