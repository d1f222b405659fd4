"""Customers imported from a pasted CSV: check first (nothing written), then apply exactly what was shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import bulk
from bot.errors import UsageError
from bot.render.modals import import_modal, import_summary_modal
from handlers.effects import later, refresh_home
from handlers.payloads import view_value

if TYPE_CHECKING:
    from bot.services import Deps


def _ticked(view: dict) -> bool:
    """The "Move links" checkbox of the first step."""
    state = ((view.get("state") or {}).get("values") or {}).get("relink") or {}
    return any(o.get("value") == "relink" for o in (state.get("relink") or {}).get("selected_options") or [])


def import_checking_modal() -> dict:
    """Shown while the rows are checked against Slack (owners by e-mail, channels by name), after the answer."""
    return {
        "type": "modal",
        "callback_id": "import_checking",
        "title": {"type": "plain_text", "text": "Import customers"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": ":hourglass: Checking the rows against Slack…"}}
        ],
    }


def register(app: App, deps: Deps) -> None:
    def run(team_id: str, user: str, text: str, client: WebClient, dry_run: bool, relink: bool) -> bulk.ImportReport:
        with deps.session_factory() as s:
            with s.begin():
                report = bulk.import_customers(
                    s, team_id, text, bulk.Resolver(client), user, deps.clock(), dry_run, relink=relink
                )
                if dry_run:
                    s.rollback()
        return report

    # users.lookupByEmail for owners given by e-mail and conversations.list paging for #names are Web API calls:
    # they run after the answer (Slack waits 3 s for a view submission), the modal showing "Checking…" meanwhile
    # and updated (views.update) with what the import would do

    @app.view("import_modal")
    def on_check(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
        text = view_value(view.get("state") or {}, "csv", "csv") or ""
        relink = _ticked(view)
        if not text.strip():
            ack(response_action="errors", errors={"csv": "Paste the CSV: a header line, then one customer a line."})
            return
        ack(response_action="update", view=import_checking_modal())
        later(deps, check, context.team_id or "", body["user"]["id"], view.get("id") or "", text, relink)

    def check(team_id: str, user: str, view_id: str, text: str, relink: bool) -> None:
        client = deps.client_for(team_id)
        try:
            report = run(team_id, user, text, client, dry_run=True, relink=relink)
            new = import_summary_modal(report.summary(), report.lines(), text, report.changes(), relink)
        except UsageError as e:
            new = import_modal(str(e))
        deps.slack.update_modal(client, view_id, new)

    @app.view("import_apply")
    def on_apply(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
        team_id, user = context.team_id or "", body["user"]["id"]
        meta = view.get("private_metadata") or ""
        # the first character is the "Move links" tick of the check step: apply what the check showed, no more
        relink, text = meta[:1] == "R", meta[1:]
        ack()  # the modal closes; the result comes as a DM once applied
        later(deps, apply, team_id, user, text, relink)

    def apply(team_id: str, user: str, text: str, relink: bool) -> None:
        client = deps.client_for(team_id)
        try:
            report = run(team_id, user, text, client, dry_run=False, relink=relink)
        except UsageError as e:
            deps.slack.dm(team_id, user, f":warning: Nothing was imported: {e} Run `/loop customers import` again.")
            return
        refresh_home(deps, team_id)
        deps.slack.dm(
            team_id,
            user,
            f":inbox_tray: Customers imported: {report.summary()}"
            + ("\n" + "\n".join(report.lines()[:20]) if report.errors else ""),
        )
