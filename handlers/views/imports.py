"""Customers imported from a pasted CSV: check first (nothing written), then apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import bulk
from bot.errors import UsageError
from bot.render.modals import import_modal, import_summary_modal
from handlers.payloads import view_value

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    def run(team_id: str, user: str, text: str, client: WebClient, dry_run: bool) -> bulk.ImportReport:
        with deps.session_factory() as s:
            with s.begin():
                report = bulk.import_customers(s, team_id, text, bulk.Resolver(client), user, deps.clock(), dry_run)
                if dry_run:
                    s.rollback()
        return report

    @app.view("import_modal")
    def on_check(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        text = view_value(view.get("state") or {}, "csv", "csv") or ""
        try:
            report = run(context.team_id or "", body["user"]["id"], text, client, dry_run=True)
        except UsageError as e:
            ack(response_action="errors", errors={"csv": str(e)[:150]})
            return
        ack(response_action="update", view=import_summary_modal(report.summary(), report.lines(), text))

    @app.view("import_apply")
    def on_apply(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id, user = context.team_id or "", body["user"]["id"]
        try:
            report = run(team_id, user, view.get("private_metadata") or "", client, dry_run=False)
        except UsageError as e:
            ack(response_action="update", view=import_modal(str(e)))
            return
        ack()
        deps.home.refresh(client, team_id)
        client.chat_postMessage(
            channel=user,
            text=f":inbox_tray: Customers imported: {report.summary()}"
            + ("\n" + "\n".join(report.lines()[:20]) if report.errors else ""),
        )
