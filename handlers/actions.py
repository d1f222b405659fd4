"""Shortcuts, buttons, selects and modal submissions."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import capture, learning, render
from bot.commands import UsageError
from bot.effects import Ephemeral
from bot.safety import unescape
from handlers.effects import perform
from handlers.events import fetch_message, message_in
from storage import repo

if TYPE_CHECKING:
    from bot.app import Deps

log = logging.getLogger(__name__)


def _value(state: dict, block: str, action: str) -> Any:
    el = (state.get("values", {}).get(block) or {}).get(action) or {}
    if el.get("type") in ("static_select", "external_select"):
        return (el.get("selected_option") or {}).get("value")
    if el.get("type") == "multi_static_select":
        return [o["value"] for o in el.get("selected_options") or []]
    if el.get("type") == "users_select":
        return el.get("selected_user")
    if el.get("type") == "multi_users_select":
        return el.get("selected_users") or []
    if el.get("type") == "datepicker":
        return el.get("selected_date")
    return el.get("value")


def register(app: App, deps: Deps) -> None:
    # --- the message shortcut "Record as customer signal" ----------------------------------

    @app.shortcut("record_signal")
    def on_shortcut(ack: Ack, shortcut: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or (shortcut.get("team") or {}).get("id") or ""
        message = shortcut.get("message") or {}
        channel_id = (shortcut.get("channel") or {}).get("id") or ""
        meta = json.dumps({"c": channel_id, "ts": message.get("ts"), "t": message.get("thread_ts")})
        with deps.session_factory() as s:
            everyone = repo.list_customers(s, team_id)
            if not everyone:
                ack()
                client.chat_postEphemeral(channel=channel_id, user=shortcut["user"]["id"],
                                          text="No customers yet: add one with `/loop customer add <name>`, "
                                               "then use the shortcut again.")
                return
            raw = capture.MessageIn(team_id=team_id, channel_id=channel_id, ts=message.get("ts") or "0",
                                    text=unescape(message.get("text") or ""), user_id=message.get("user"))
            ids = capture.customers_for_any_message(s, raw)
            known = repo.customer_by_id(s, team_id, ids[0]) if ids else None
            view = render.capture_modal(everyone, known, meta, unescape(message.get("text") or ""))
        ack()
        client.views_open(trigger_id=shortcut["trigger_id"], view=view)

    @app.action("customer")
    def on_modal_customer(ack: Ack, body: dict, client: WebClient, context: BoltContext) -> None:
        """The customer changed in the capture modal: offer that customer's milestones."""
        ack()
        view = body.get("view") or {}
        chosen = _value(view.get("state") or {}, "customer", "customer")
        with deps.session_factory() as s:
            team_id = context.team_id or ""
            c = repo.customer_by_id(s, team_id, int(chosen)) if chosen and chosen.isdigit() else None
            everyone = repo.list_customers(s, team_id)
            preview = next((b["elements"][0]["text"][2:] for b in view.get("blocks", [])
                            if b.get("type") == "context"), "")
            new = render.capture_modal(everyone, c, view.get("private_metadata") or "{}", preview)
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    @app.view("capture_modal")
    def on_capture_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        errors = {}
        chosen = _value(state, "customer", "customer")
        if not chosen or not str(chosen).isdigit():
            errors["customer"] = "Pick the customer this message is about."
        note = (_value(state, "note", "note") or "").strip()
        if len(note) > capture.MAX_NOTE:
            errors["note"] = f"Keep the note under {capture.MAX_NOTE} characters."
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        original = fetch_message(client, meta.get("c") or "", meta.get("ts") or "")
        if original is None:
            ack(response_action="errors", errors={"customer": "I can't read that message any more (deleted, "
                                                              "or I'm not in the channel). Invite me and retry."})
            return
        msg = message_in(deps, client, team_id, meta["c"], original, None)
        kind = _value(state, "kind", "kind")
        milestone = _value(state, "milestone", "milestone")
        with deps.session_factory.begin() as s:
            c = repo.customer_by_id(s, team_id, int(chosen))
            m = repo.milestone_by_id(s, team_id, int(milestone)) if milestone else None
            if c is None or (m is not None and m.customer_id != c.id):
                ack(response_action="errors", errors={"customer": "That customer or milestone no longer "
                                                                  "exists; pick again."})
                return
            new_id = capture.record(s, msg, c.id, capture.PATH_SHORTCUT, deps.clock(), recorded_by=user,
                                    kind=None if kind == "auto" else kind, note=note or None,
                                    milestone_id=m.id if m else None)
            if new_id is None:
                # already a signal (say, from the linked channel): the shortcut refines it
                for sig in repo.signals_for_message(s, team_id, msg.channel_id, msg.ts):
                    if sig.customer_id == c.id:
                        if kind and kind != "auto":
                            sig.kind = kind
                        sig.note = note or sig.note
                        sig.milestone_id = m.id if m else sig.milestone_id
            name = c.name
        ack()
        perform(deps, client, team_id, [Ephemeral(msg.channel_id, user, f":memo: Recorded for *{name}*.")])

    # --- the customer picker after a capture reaction --------------------------------------

    @app.action("capture_pick_customer")
    def on_pick(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext,
                respond: Respond) -> None:
        ack()
        team_id = context.team_id or ""
        _, channel_id, ts = (action.get("block_id") or "::").split(":", 2)
        chosen = (action.get("selected_option") or {}).get("value") or ""
        original = fetch_message(client, channel_id, ts)
        if original is None or not chosen.isdigit():
            respond(replace_original=True, text="I can't read that message any more; nothing was recorded.")
            return
        msg = message_in(deps, client, team_id, channel_id, original, None)
        with deps.session_factory.begin() as s:
            c = repo.customer_by_id(s, team_id, int(chosen))
            if c is None:
                respond(replace_original=True, text="That customer no longer exists; nothing was recorded.")
                return
            new = capture.record(s, msg, c.id, capture.PATH_REACTION, deps.clock(), recorded_by=body["user"]["id"])
            name = c.name
        respond(replace_original=True,
                text=f":memo: {'Recorded as a signal' if new else 'Already a signal'} for *{name}*.")

    # --- milestone buttons -----------------------------------------------------------------

    def _milestone_button(verb: str):  # noqa: ANN202
        def handle(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext,
                   respond: Respond) -> None:
            ack()
            team_id = context.team_id or ""
            user = body["user"]["id"]
            value = action.get("value") or ""
            try:
                with deps.session_factory.begin() as s:
                    m = repo.milestone_by_id(s, team_id, int(value)) if value.isdigit() else None
                    if m is None:
                        raise UsageError("That milestone no longer exists.")
                    reply = deps.commands.transition(s, user, m, verb, None)
                    view = deps.commands.customer_reply(s, m.customer, reply.text)
            except UsageError as e:
                _tell(client, body, user, str(e), respond)
                return
            if body.get("container", {}).get("type") == "view":
                deps.publish_home(client, team_id, user)
            else:
                respond(replace_original=True, text=view.text, blocks=view.blocks)
            perform(deps, client, team_id, reply.effects)
        return handle

    for verb in ("start", "done", "reopen", "risk"):
        app.action(f"ms_{verb}")(_milestone_button(verb))

    @app.action("ms_impact")
    def on_impact_button(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        value = action.get("value") or ""
        with deps.session_factory() as s:
            m = repo.milestone_by_id(s, context.team_id or "", int(value)) if value.isdigit() else None
            if m is None:
                return
            view = render.impact_modal(m)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view("impact_modal")
    def on_impact_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        text = (_value(view.get("state") or {}, "impact", "impact") or "").strip()
        if not text:
            ack(response_action="errors", errors={"impact": "Say what the customer should notice."})
            return
        if len(text) > 500:
            ack(response_action="errors", errors={"impact": "Keep it under 500 characters."})
            return
        team_id = context.team_id or ""
        with deps.session_factory.begin() as s:
            mid = view.get("private_metadata") or ""
            m = repo.milestone_by_id(s, team_id, int(mid)) if mid.isdigit() else None
            if m is None:
                ack(response_action="errors", errors={"impact": "That milestone no longer exists."})
                return
            deps.commands.set_impact(s, body["user"]["id"], m, text)
        ack()
        deps.refresh_home(client, team_id)

    # --- the learning loop -----------------------------------------------------------------

    def _open_learning(client: WebClient, trigger_id: str, team_id: str, user: str, meta: dict,
                       learning_id: int | None = None) -> None:
        with deps.session_factory() as s:
            everyone = repo.list_customers(s, team_id)
            now = deps.clock()
            text = decision = None
            chosen: list[int] = []
            review = learning.next_review(now)
            if learning_id is not None:
                row = repo.learning_by_id(s, team_id, learning_id)
                if row is None:
                    return
                text, decision = row.text, row.decision
                chosen = [lc.customer_id for lc in row.customers]
                review = row.review_on or review
                meta = dict(meta, learning=learning_id)
            view = render.learning_modal(everyone, json.dumps(meta), user, review, text, decision, chosen,
                                         title="Name the decision" if learning_id else "Add a learning")
        client.views_open(trigger_id=trigger_id, view=view)

    @app.action("add_learning")
    def on_add_learning(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        run = action.get("value") or "0"
        _open_learning(client, body["trigger_id"], context.team_id or "", body["user"]["id"],
                       {"run": int(run) if run.isdigit() else 0, "channel": channel})

    @app.action("name_decision")
    def on_name_decision(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        value = action.get("value") or ""
        if value.isdigit():
            channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
            _open_learning(client, body["trigger_id"], context.team_id or "", body["user"]["id"],
                           {"channel": channel}, learning_id=int(value))

    @app.view("learning_modal")
    def on_learning_submit(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        result = learning.submit_learning(deps.session_factory, team_id, user, meta, {
            "learning": _value(state, "learning", "learning"), "decision": _value(state, "decision", "decision"),
            "customers": _value(state, "customers", "customers") or [],
            "milestones": _value(state, "milestones", "milestones") or [],
            "owner": _value(state, "owner", "owner"), "review": _value(state, "review", "review")}, deps.clock())
        if result.errors:
            ack(response_action="errors", errors=result.errors)
            return
        ack()
        if meta.get("channel"):
            perform(deps, client, team_id, [Ephemeral(meta["channel"], user, result.message)])

    def _review(outcome: str):  # noqa: ANN202
        def handle(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext,
                   respond: Respond) -> None:
            ack()
            team_id = context.team_id or ""
            user = body["user"]["id"]
            value = action.get("value") or ""
            try:
                with deps.session_factory.begin() as s:
                    if not value.isdigit():
                        raise UsageError("That decision no longer exists.")
                    row = learning.set_outcome(s, team_id, int(value), outcome, user, deps.clock())
                    line = learning.outcome_line(row)
            except UsageError as e:
                _tell(client, body, user, str(e), respond)
                return
            message = body.get("message") or {}
            blocks = [b for b in message.get("blocks") or []]
            for i, b in enumerate(blocks):
                if b.get("block_id") == f"review:{value}":
                    blocks[i] = {"type": "context", "block_id": f"reviewed:{value}",
                                 "elements": [{"type": "mrkdwn", "text": line}]}
            channel = (body.get("channel") or {}).get("id")
            if channel and message.get("ts") and blocks:
                client.chat_update(channel=channel, ts=message["ts"], blocks=blocks,
                                   text=message.get("text") or "Weekly customer loop")
        return handle

    for outcome in learning.OUTCOMES:
        app.action(f"decision_{outcome}")(_review(outcome))

    # --- success gap -> milestone ----------------------------------------------------------

    @app.action("gap_add_milestone")
    def on_gap(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext,
               respond: Respond) -> None:
        ack()
        team_id = context.team_id or ""
        cid, _, theme = (action.get("value") or "").partition("|")
        with deps.session_factory() as s:
            c = repo.customer_by_id(s, team_id, int(cid)) if cid.isdigit() else None
            if c is None:
                _tell(client, body, body["user"]["id"], "That customer no longer exists.", respond)
                return
            title = f"{c.name} can {theme} without <the pain it removes>" if theme else ""
            channel = (body.get("channel") or {}).get("id")
            view = render.milestone_add_modal(c, title, json.dumps({"customer": c.id, "channel": channel,
                                                                    "theme": theme}))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view("milestone_add_modal")
    def on_milestone_add(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
        team_id = context.team_id or ""
        user = body["user"]["id"]
        state = view.get("state") or {}
        title = (_value(state, "title", "title") or "").strip()
        impact = (_value(state, "impact", "impact") or "").strip() or None
        due_text = _value(state, "due", "due")
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
            c = repo.customer_by_id(s, team_id, int(meta.get("customer") or 0))
            if c is None:
                ack(response_action="errors", errors={"title": "That customer no longer exists."})
                return
            reply = deps.commands.add_milestone(s, user, c, title, due, impact,
                                                reason=f"from the success gap: {meta.get('theme') or '?'}")
        ack()
        effects = list(reply.effects)
        if meta.get("channel"):
            effects.append(Ephemeral(meta["channel"], user, reply.text))
        perform(deps, client, team_id, effects)


def _tell(client: WebClient, body: dict, user: str, text: str, respond: Respond) -> None:
    """An error after a button: in the conversation when there is one, else by DM."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=user, text=text)
