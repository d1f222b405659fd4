"""Milestone buttons (start, done, reopen, at risk, expected impact) and "Add as milestone" from a success gap."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import customers
from bot import milestones as ms
from bot.cards import MilestoneCard
from bot.errors import UsageError
from bot.framing import gap_title, rewrite
from bot.render.modals import impact_modal, milestone_add_modal, rename_modal
from handlers.effects import home_later, later, open_modal, perform, tell_later
from handlers.payloads import channel_of

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    def transition_button(verb: str):  # noqa: ANN202
        def handle(
            ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond
        ) -> None:
            ack()
            team_id = context.team_id or ""
            user = body["user"]["id"]
            value = action.get("value") or ""
            milestones = deps.commands.milestones
            try:
                with deps.session_factory.begin() as s:
                    m = ms.by_id(s, team_id, value)
                    if m is None or m.removed_at is not None:
                        raise UsageError("That milestone no longer exists.")
                    reply = milestones.transition(s, user, m, verb, None)
                    view = milestones.customer_reply(s, m.customer, reply.text)
            except UsageError as e:
                tell_later(deps, team_id, body, user, str(e), respond)
                return
            # the answer first; the message, App Home and the effects' posts follow it
            if body.get("container", {}).get("type") == "view":
                home_later(deps, team_id, user)
            elif body.get("response_url"):
                later(deps, lambda: respond(replace_original=True, text=view.text, blocks=view.blocks))
            else:
                tell_later(deps, team_id, body, user, reply.text, respond)
            perform(deps, client, team_id, reply.effects)

        return handle

    for verb in ("start", "done", "reopen", "risk"):
        app.action(f"ms_{verb}")(transition_button(verb))

    @app.action("ms_on_track")
    def on_track(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond) -> None:
        ack()
        team_id, user = context.team_id or "", body["user"]["id"]
        value = action.get("value") or ""
        try:
            with deps.session_factory.begin() as s:
                m = ms.by_id(s, team_id, value)
                if m is None or m.removed_at is not None:
                    raise UsageError("That milestone no longer exists.")
                reply = deps.commands.milestones.confirm_on_track(s, user, m)
        except UsageError as e:
            tell_later(deps, team_id, body, user, str(e), respond)
            return
        tell_later(deps, team_id, body, user, reply.text, respond)
        perform(deps, client, team_id, reply.effects)

    @app.action("ms_rename")
    def on_rename_button(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        value = action.get("value") or ""
        with deps.session_factory() as s:
            m = ms.by_id(s, context.team_id or "", value)
            if m is None:
                return
            view = rename_modal(MilestoneCard.of(m), rewrite(m.customer.name))
        open_modal(deps, client, context.team_id or "", body, view)

    @app.action("ms_impact")
    def on_impact_button(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        value = action.get("value") or ""
        with deps.session_factory() as s:
            m = ms.by_id(s, context.team_id or "", value)
            if m is None:
                return
            view = impact_modal(MilestoneCard.of(m))
        open_modal(deps, client, context.team_id or "", body, view)

    @app.action("gap_add_milestone")
    def on_gap(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext, respond: Respond) -> None:
        ack()
        team_id = context.team_id or ""
        cid, _, theme = (action.get("value") or "").partition("|")
        with deps.session_factory() as s:
            c = customers.card_by_id(s, team_id, cid)
            if c is None:
                tell_later(deps, team_id, body, body["user"]["id"], "That customer no longer exists.", respond)
                return
            meta = json.dumps({"customer": c.id, "channel": channel_of(body), "theme": theme})
            view = milestone_add_modal(c, gap_title(c.name, theme), meta)
        open_modal(deps, client, context.team_id or "", body, view)
