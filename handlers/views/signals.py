"""Corrected kinds submitted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext

from bot import corrections

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.view("kinds_modal")
    def on_kinds(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
        team_id = context.team_id or ""
        values = (view.get("state") or {}).get("values") or {}
        blocks = {b.get("block_id"): b for b in view.get("blocks") or []}
        changes: dict[int, str] = {}
        for block_id, actions in values.items():
            if not block_id.startswith("kind:") or not block_id[5:].isdecimal():
                continue
            chosen = ((actions.get("kind") or {}).get("selected_option") or {}).get("value")
            before = (((blocks.get(block_id) or {}).get("element") or {}).get("initial_option") or {}).get("value")
            if chosen and chosen != before:
                changes[int(block_id[5:])] = chosen
        with deps.session_factory.begin() as s:
            corrections.correct(s, team_id, changes, body["user"]["id"], deps.clock())
        ack()
