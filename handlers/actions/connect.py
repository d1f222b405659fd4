"""Slack Connect link proposals: Link / Not this customer / Ignore, and `/loop link auto`'s "Link ticked"."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, BoltContext, Respond

from bot import connect
from handlers.effects import later

if TYPE_CHECKING:
    from bot.services import Deps


def _value(action: dict) -> dict:
    try:
        v = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def register(app: App, deps: Deps) -> None:
    def answer(respond: Respond, text: str) -> None:
        later(deps, lambda: respond(replace_original=True, text=text))

    @app.action(re.compile(r"^connect_link_\d$"))
    def on_link(ack: Ack, body: dict, action: dict, context: BoltContext, respond: Respond) -> None:
        ack()
        v = _value(action)
        if not v.get("ch") or not isinstance(v.get("c"), int):
            answer(respond, "That proposal is damaged; `/loop link <customer>` in the channel links it by hand.")
            return
        with deps.session_factory.begin() as s:
            text = connect.link_channel(s, context.team_id or "", v["ch"], v["c"], body["user"]["id"], deps.clock())
        answer(respond, text)

    @app.action("connect_reject")
    def on_reject(ack: Ack, action: dict, context: BoltContext, respond: Respond) -> None:
        ack()
        v = _value(action)
        ids = [c for c in v.get("c") or [] if isinstance(c, int)]
        with deps.session_factory.begin() as s:
            text = connect.reject(s, context.team_id or "", str(v.get("ch") or ""), ids, deps.clock())
        answer(respond, text)

    @app.action("connect_ignore")
    def on_ignore(ack: Ack, action: dict, context: BoltContext, respond: Respond) -> None:
        ack()
        v = _value(action)
        with deps.session_factory.begin() as s:
            text = connect.ignore(s, context.team_id or "", str(v.get("ch") or ""))
        answer(respond, text)

    @app.action(re.compile(r"^connect_auto_pick_\d+$"))
    def on_pick(ack: Ack) -> None:
        ack()  # a box ticked or unticked: read when "Link ticked" is pressed

    @app.action("connect_auto_link")
    def on_link_ticked(ack: Ack, body: dict, context: BoltContext, respond: Respond) -> None:
        ack()
        picked: list[tuple[str, int]] = []
        for block in ((body.get("state") or {}).get("values") or {}).values():
            for aid, el in block.items():
                if not aid.startswith("connect_auto_pick_"):
                    continue
                for opt in el.get("selected_options") or []:
                    ch, _, cid = str(opt.get("value") or "").partition(":")
                    if ch and cid.isdecimal():
                        picked.append((ch, int(cid)))
        if not picked:
            answer(respond, "Nothing was ticked, so nothing was linked. `/loop link auto` lists the channels again.")
            return
        with deps.session_factory.begin() as s:
            lines = [
                connect.link_channel(s, context.team_id or "", ch, cid, body["user"]["id"], deps.clock())
                for ch, cid in picked
            ]
        answer(respond, "\n".join(lines)[:3000])
