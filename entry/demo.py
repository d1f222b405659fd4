"""`signalloop demo`: a sample team's six weeks replayed through the real handlers, no Slack, no keys.

The app is the real Bolt app; its requests are signed as Slack signs them and dispatched to it
in-process; its Web API calls go to the bundled fake Slack server on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from bot import explain
from bot.chart import render_png
from bot.config import Settings
from bot.render.terminal import digest_rich
from bot.weeks import scheduled_at, week_at
from devtools.dispatch import LocalDispatcher
from devtools.fakeslack import FakeSlackServer, FakeSlackState
from entry import demo_data as d
from entry.app import build_app
from storage import db, repo

SECRET = "demo-signing-secret"


class DemoClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Dispatcher:
    """The sample team's commands, messages and modal submissions, as Slack would send them."""

    def __init__(self, local: LocalDispatcher) -> None:
        self.local = local
        self.n = 0

    def command(self, name: str, text: str, channel: str = "C06LEADS", user: str = "U01PRIYA") -> str:
        self.n += 1
        form = {
            "team_id": d.TEAM,
            "channel_id": channel,
            "channel_name": d.CHANNELS[channel][0],
            "user_id": user,
            "command": name,
            "text": text,
            "trigger_id": f"demo.{self.n}",
            "api_app_id": "ADEMO",
        }
        return self.local.send(urlencode(form), "application/x-www-form-urlencoded").get("text", "")

    def interact(self, payload: dict[str, Any]) -> dict[str, Any]:
        payload = {"team": {"id": d.TEAM}, "api_app_id": "ADEMO", **payload}
        return self.local.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def message(
        self, channel: str, user: str, text: str, ts: str, thread_ts: str | None = None, org: str | None = None
    ) -> None:
        self.n += 1
        ev = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "channel_type": "group" if d.CHANNELS.get(channel, ("", False))[1] else "channel",
        }
        if thread_ts:
            ev["thread_ts"] = thread_ts
        if org:  # Slack Connect: the author's own organisation (https://docs.slack.dev/apis/slack-connect)
            ev["user_team"] = ev["source_team"] = org
        self.event(ev, int(float(ts)))

    def event(self, ev: dict[str, Any], at: int) -> None:
        body = {
            "type": "event_callback",
            "team_id": d.TEAM,
            "api_app_id": "ADEMO",
            "event": ev,
            "event_id": f"EvDemo{self.n:06d}",
            "event_time": at,
        }
        self.local.send(json.dumps(body), "application/json")


def demo_now(now: datetime) -> datetime:
    """The demo's "now": the latest Friday 14:30 UTC, so the sample week is whole whatever day the demo runs."""
    friday = (now - timedelta(days=(now.weekday() - 4) % 7)).replace(hour=14, minute=30, second=0, microsecond=0)
    return friday if friday <= now else friday - timedelta(weeks=1)


def demo_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week five weeks before this one."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday - timedelta(weeks=5)


def build(db_path: str, now: datetime | None = None) -> tuple[Any, Any, FakeSlackServer, DemoClock]:
    """A fresh database with the sample team's six weeks; returns (sessions, deps, fake slack, clock)."""
    now = demo_now(now or datetime.now(UTC))
    path = Path(db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    db.upgrade(url)
    engine = db.make_engine(url)
    sf = db.make_session_factory(engine)
    state = FakeSlackState(team_id=d.TEAM, team_url="https://sample-team.slack.com/")
    for uid, name in d.USERS.items():
        state.users[uid] = {
            "id": uid,
            "name": name.lower(),
            "real_name": name,
            "tz": "Europe/London",
            "profile": {"display_name": name, "real_name": name},
        }
    for cid, (name, private) in d.CHANNELS.items():
        state.channels[cid] = {"id": cid, "name": name, "is_private": private}
    slack = FakeSlackServer(state).start()
    # Slack Connect: one channel shared with Tallwood's own organisation, two of its people
    slack.share_channel(*d.SHARED_CHANNEL, [d.SHARED_ORG])
    for uid, name in d.EXTERNAL_USERS.items():
        slack.add_external_user(uid, name, d.SHARED_ORG[0])
    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-demo",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.url,
        DATABASE_URL=url,
        OPENAI_API_KEY="",
    )
    start = demo_start(now)
    clock = DemoClock(start)
    app, deps = build_app(settings, sf, clock=clock, token_verification=False)
    deps.digest_runner.pacer.gap = 0  # the demo's Slack is a local stand-in: no rate limit to respect
    # commands escaped as the manifest makes Slack send them; each request returns once its after-answer work is done
    send = Dispatcher(LocalDispatcher(app, SECRET, slack.state, deps.after.wait_idle))

    for c in d.CUSTOMERS:
        send.command("/loop", f"customer add {c.name} segment {c.segment}")
        if c.alias:
            send.command("/loop", f"customer alias {c.name} {c.alias}")
        send.command("/loop", f"customer outcome {c.name} {c.outcome}")
        if c.channel:
            send.command("/loop", f"link {c.name}", channel=c.channel)
    send.command("/loop", "watch", channel="C05FEED")
    # the app is added to the shared channel: it proposes Tallwood to Priya (by their organisation's name), who
    # links it with the proposal's button
    shared = d.SHARED_CHANNEL[0]
    joined = {"type": "member_joined_channel", "user": "UBOT", "channel": shared, "inviter": "U01PRIYA"}
    send.event(joined, int(start.timestamp()))
    deps.after.wait_idle()
    proposal = next(c for c in slack.calls("chat.postMessage") if c.args.get("channel") == "U01PRIYA")
    link = next(e for b in proposal.args["blocks"] if b["type"] == "actions" for e in b["elements"])
    send.interact(
        {
            "type": "block_actions",
            "user": {"id": "U01PRIYA"},
            "channel": {"id": "D01PRIYA"},
            "container": {"type": "message", "channel_id": "D01PRIYA", "message_ts": proposal.args.get("ts", "1.0")},
            "response_url": slack.url.removesuffix("api/") + "response/demo",
            "actions": [{**link, "block_id": "connect", "action_ts": "1"}],
        }
    )
    deps.after.wait_idle()
    for name, title in d.EXTRA_MILESTONES:
        send.command("/milestone", f'add {name} "{title}"')

    events: list[tuple[datetime, str, tuple]] = []
    for week, minute, channel, user, text in d.messages():
        events.append((start + timedelta(weeks=week, minutes=minute), "msg", (channel, user, text)))
    for week, minute, user, text in d.SHARED_MESSAGES:
        org = d.SHARED_ORG[0] if user in d.EXTERNAL_USERS else d.TEAM
        events.append((start + timedelta(weeks=week, minutes=minute), "msg", (d.SHARED_CHANNEL[0], user, text, org)))
    for name, number, action, week, weekday, reason in d.MOVES:
        at = start + timedelta(weeks=week, days=weekday, hours=15)
        events.append((at, "move", (name, number, action, reason)))
    events.sort(key=lambda e: e[0])
    for i, (at, kind, data) in enumerate(events):
        if at > now:
            continue
        clock.now = at
        if kind == "msg":
            channel, user, text, *org_of = data
            send.message(channel, user, text, f"{at.timestamp():.0f}.{i:06d}", org=org_of[0] if org_of else None)
        else:
            name, number, action, reason = data
            send.command("/milestone", f"{action} {name} {number}" + (f" {reason}" if reason else ""))
    # last week's digest in #cs-leads (portfolio), answered in its thread; decisions named in the modal
    send.command("/loop", "digest schedule friday 15:00 UTC portfolio", channel="C06LEADS")
    last_week = week_at(now).previous()
    clock.now = scheduled_at(last_week, 4, 15, 0, "UTC")
    result = deps.digest_runner.run_scheduled(d.TEAM, "C06LEADS")
    assert result is not None  # the schedule was just set and its time has come
    for i, (channel, user, text, decision, names) in enumerate(d.LEARNINGS):
        clock.now += timedelta(hours=1)
        reply_ts = f"{clock.now.timestamp():.0f}.{900000 + i}"
        send.message(channel, user, text, reply_ts, thread_ts=result.ts)
        with sf() as s:
            row = repo.learning_by_message(s, team_id=d.TEAM, channel_id=channel, ts=reply_ts)
            ids = [c.id for c in repo.list_customers(s, team_id=d.TEAM) if c.name in names]
        assert row is not None  # the reply in the digest's thread was captured as a learning
        view_state = {
            "values": {
                "learning": {"learning": {"type": "plain_text_input", "value": text}},
                "decision": {"decision": {"type": "plain_text_input", "value": decision}},
                "customers": {
                    "customers": {"type": "multi_static_select", "selected_options": [{"value": str(x)} for x in ids]}
                },
                "owner": {"owner": {"type": "users_select", "selected_user": user}},
                "review": {"review": {"type": "datepicker", "selected_date": now.date().isoformat()}},
            }
        }
        send.interact(
            {
                "type": "view_submission",
                "user": {"id": user},
                "view": {
                    "id": f"VDEMO{i}",
                    "type": "modal",
                    "callback_id": "learning_modal",
                    "state": view_state,
                    "private_metadata": json.dumps({"channel": channel, "learning": row.id}),
                },
            }
        )
    clock.now = now
    deps.close()
    return sf, deps, slack, clock


def run_demo(db_path: str, chart: str | None = None, console: Console | None = None) -> int:
    console = console or Console()
    t0 = time.monotonic()
    sf, deps, slack, clock = build(db_path)
    try:
        with sf() as s:
            counts = repo.live_signal_counts(s, team_id=d.TEAM)
            everyone = sorted(repo.list_customers(s, team_id=d.TEAM), key=lambda c: c.name)
            rows = [(c.name, c.segment, counts.get(c.id, 0)) for c in everyone]
        table = Table(title="Signals recorded through the capture path, per customer")
        table.add_column("Customer")
        table.add_column("Segment")
        table.add_column("Signals", justify="right")
        for name, segment, n in rows:
            table.add_row(name, segment or "", str(n))
        console.print(table)
        assert deps.digest_runner is not None
        week = week_at(clock.now)
        with sf() as s:
            dg = deps.digest_runner.build(s, d.TEAM, "C06LEADS", week)
            # a newcomer's first look at a digest: every section says once what it means (bot.explain)
            dg.explain = explain.sections_of(dg)
            png = render_png(s, dg) if chart else None
            names = repo.display_names(s, team_id=d.TEAM) | {cid: name for cid, (name, _) in d.CHANNELS.items()}
        console.rule("This week's digest in #cs-leads (portfolio), as it would be posted")
        console.print(digest_rich(dg, names), highlight=False)
        console.rule()
        if png and chart:
            Path(chart).write_bytes(png)
            console.print(f"Chart: {Path(chart).resolve()}")
        console.print(
            f"[dim]Database: {db_path} · {time.monotonic() - t0:.1f}s · try `DATABASE_URL=sqlite:///{db_path}"
            f" signalloop digest --channel C01TALL --week {week.label} --print`[/dim]"
        )
    finally:
        deps.close()
        slack.stop()
    return 0
