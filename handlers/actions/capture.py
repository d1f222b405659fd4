"""Selects around capture: the customer search, the picker after a reaction, the customer changing in the modal."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import capture, customers
from bot.render.modals import capture_modal, customer_options
from handlers.effects import later
from handlers.payloads import view_value
from handlers.views.capture import follow_privacy

if TYPE_CHECKING:
    from bot.services import Deps

log = logging.getLogger(__name__)

# every customer select (bot.render.modals.customer_select): the capture modal, the reaction's picker, a learning
CUSTOMER_SELECTS = re.compile(r"^(customer|customers|capture_pick_customer)$")


def register(app: App, deps: Deps) -> None:
    @app.options(CUSTOMER_SELECTS)
    def on_customer_search(ack: Ack, payload: dict, context: BoltContext) -> None:
        """What the person typed in a customer select: matching names and aliases, at most 100 (Slack's cap).
        https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#external_select"""
        team_id = context.team_id or ""
        with deps.session_factory() as s:
            found = customers.search(s, team_id, payload.get("value") or "")
        ack(options=customer_options(found))

    @app.action("customer")
    def on_modal_customer(ack: Ack, body: dict, client: WebClient, context: BoltContext) -> None:
        """The customer changed in the capture modal: offer that customer's milestones."""
        ack()
        view = body.get("view") or {}
        chosen = view_value(view.get("state") or {}, "customer", "customer")
        team_id = context.team_id or ""
        with deps.session_factory() as s:
            c = customers.card_by_id(s, team_id, chosen)
            meta = view.get("private_metadata") or "{}"
            try:
                found = capture.modal_message(s, team_id, json.loads(meta))
            except (ValueError, AttributeError):
                found = None
            new = capture_modal(c, meta, (found[1]["text"] or "") if found else "")
        # after the answer, like every Web API call: a stale hash (the person changed it again) is only logged
        later(deps, deps.slack.update_modal, client, view["id"], new, view.get("hash"))

    @app.action("capture_pick_customer")
    def on_pick(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond) -> None:
        ack()
        team_id = context.team_id or ""
        key = (action.get("block_id") or "").removeprefix("capture:")
        chosen = (action.get("selected_option") or {}).get("value") or ""
        # the message was kept when the question was asked: Slack is not asked for it again
        with deps.session_factory() as s:
            found = capture.kept_message(s, team_id, key)
        if found is None or not chosen.isdecimal():
            later(deps, partial(respond, replace_original=True, text="That question has expired; react again."))
            return
        channel_id, original = found
        msg = replace(deps.ingest.message_in(team_id, channel_id, original, None), text=original["text"] or "")
        with deps.session_factory.begin() as s:
            text = capture.picked_customer(s, msg, int(chosen), body["user"]["id"], deps.clock())
        if msg.author_name is None or msg.permalink is None:
            deps.directory.learn(team_id, msg.user_id)
        follow_privacy(deps, msg)
        later(deps, partial(respond, replace_original=True, text=text))
