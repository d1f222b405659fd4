"""Search: "More" under the results, and the search box in App Home."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond

from bot import search
from bot.errors import UsageError
from handlers.effects import home_later, later
from handlers.payloads import channel_of

if TYPE_CHECKING:
    from bot.services import Deps


def register(app: App, deps: Deps) -> None:
    @app.action("search_more")
    def on_more(ack: Ack, body: dict, action: dict, context: BoltContext, respond: Respond) -> None:
        ack()
        team_id = context.team_id or ""
        try:
            value = json.loads(action.get("value") or "{}")
            with deps.session_factory() as s:
                q = search.parse(s, team_id, value.get("q") or "", deps.clock())
                text, blocks = search.results_blocks(s, team_id, q, channel_of(body) or "", int(value.get("o") or 0))
        except (UsageError, ValueError) as e:
            why = str(e)
            later(deps, lambda: respond(text=why, response_type="ephemeral", replace_original=False))
            return
        later(deps, lambda: respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True))

    @app.action("home_search")
    def on_home_search(ack: Ack, body: dict, action: dict, context: BoltContext) -> None:
        ack()
        team_id, user = context.team_id or "", body["user"]["id"]
        home_later(deps, team_id, user, (action.get("value") or "").strip())
