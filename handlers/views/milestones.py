"""Milestone modals submitted: expected impact, and a milestone added from a success gap."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import customers
from bot import milestones as ms
from bot.effects import Ephemeral, RefreshHome
from bot.errors import UsageError
from handlers.effects import perform
from handlers.payloads import view_value

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.view("impact_modal")
    def on_impact_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        text = (view_value(view.get("state") or {}, "impact", "impact") or "").strip()
        if not text:
            ack(response_action="errors", errors={"impact": "Say what the customer should notice."})
            return
        if len(text) > 500:
            ack(response_action="errors", errors={"impact": "Keep it under 500 characters."})
            return
        team_id = context.team_id or ""
        with deps.session_factory.begin() as s:
            mid = view.get("private_metadata") or ""
            m = ms.by_id(s, team_id, mid)
            if m is None:
                ack(response_action="errors", errors={"impact": "That milestone no longer exists."})
                return
            deps.commands.milestones.set_impact(s, body["user"]["id"], m, text)
        ack()
        perform(deps, client, team_id, [RefreshHome()])

    @app.view("rename_modal")
    def on_rename(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id, user = context.team_id or "", body["user"]["id"]
        title = (view_value(view.get("state") or {}, "title", "title") or "").strip()
        if not title:
            ack(response_action="errors", errors={"title": "Give the milestone a title."})
            return
        if "<" in title or ">" in title:
            ack(response_action="errors", errors={"title": "Replace the <placeholders> with the customer's words."})
            return
        try:
            with deps.session_factory.begin() as s:
                mid = view.get("private_metadata") or ""
                m = ms.by_id(s, team_id, mid)
                if m is None or m.removed_at is not None:
                    ack(response_action="errors", errors={"title": "That milestone no longer exists."})
                    return
                reply = deps.commands.milestones.rename(s, user, m.customer, m, title)
        except UsageError as e:
            ack(response_action="errors", errors={"title": str(e)})
            return
        ack()
        perform(deps, client, team_id, reply.effects)

    @app.view("milestone_add_modal")
    def on_milestone_add(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        title = (view_value(state, "title", "title") or "").strip()
        impact = (view_value(state, "impact", "impact") or "").strip() or None
        due_text = view_value(state, "due", "due")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        errors = {}
        if not title:
            errors["title"] = "Give the milestone a title."
        elif "<" in title or ">" in title:
            errors["title"] = "Replace the <placeholders> with the customer's words."
        due = None
        if due_text:
            try:
                due = date.fromisoformat(due_text)
            except ValueError:
                errors["due"] = "Pick a date."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        with deps.session_factory.begin() as s:
            c = customers.by_id(s, team_id, int(meta.get("customer") or 0))
            if c is None:
                ack(response_action="errors", errors={"title": "That customer no longer exists."})
                return
            reply = deps.commands.milestones.add_from_gap(s, user, c, title, due, impact, meta.get("theme") or "")
        ack()
        effects = list(reply.effects)
        if meta.get("channel"):
            effects.append(Ephemeral(meta["channel"], user, reply.text))
        perform(deps, client, team_id, effects)
