""" "Correct kinds" on a customer's quotes in a digest: opens a modal with one select per signal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import corrections, customers
from bot.render.modals import kinds_modal
from handlers.effects import open_modal

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.action("correct_kinds")
    def on_correct(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        team_id = context.team_id or ""
        run, _, cid = (action.get("value") or "").partition("|")
        if not (run.isdecimal() and cid.isdecimal()):
            return
        with deps.session_factory() as s:
            c = customers.by_id(s, team_id, cid)
            if c is None:
                return
            rows = corrections.signals_to_review(s, team_id, int(run), c.id)
            view = kinds_modal(c.name, rows, json.dumps({"run": int(run), "customer": c.id}))
        open_modal(deps, client, context.team_id or "", body, view)
