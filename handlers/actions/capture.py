"""Selects around capture: the customer picker after a reaction, the customer changing in the capture modal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import capture
from bot.render.modals import capture_modal
from handlers.payloads import fetch_message, message_in, view_value
from storage import repo

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.action("customer")
    def on_modal_customer(ack: Ack, body: dict, client: WebClient, context: BoltContext) -> None:
        """The customer changed in the capture modal: offer that customer's milestones."""
        ack()
        view = body.get("view") or {}
        chosen = view_value(view.get("state") or {}, "customer", "customer")
        team_id = context.team_id or ""
        with deps.session_factory() as s:
            c = repo.customer_by_id(s, team_id, int(chosen)) if chosen and chosen.isdigit() else None
            everyone = repo.list_customers(s, team_id)
            preview = next(
                (b["elements"][0]["text"][2:] for b in view.get("blocks", []) if b.get("type") == "context"), ""
            )
            new = capture_modal(everyone, c, view.get("private_metadata") or "{}", preview)
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    @app.action("capture_pick_customer")
    def on_pick(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond) -> None:
        ack()
        team_id = context.team_id or ""
        _, channel_id, ts = (action.get("block_id") or "::").split(":", 2)
        chosen = (action.get("selected_option") or {}).get("value") or ""
        original = fetch_message(client, channel_id, ts)
        if original is None or not chosen.isdigit():
            respond(replace_original=True, text="I can't read that message any more; nothing was recorded.")
            return
        msg = message_in(deps, team_id, channel_id, original, None, client=client)
        with deps.session_factory.begin() as s:
            text = capture.picked_customer(s, msg, int(chosen), body["user"]["id"], deps.clock())
        if msg.author_name is None or msg.permalink is None:
            deps.directory.learn(team_id, msg.user_id)
        respond(replace_original=True, text=text)
