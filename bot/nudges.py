"""Nudges in time, not only on Friday.

- A burst of negative signals (N or more problems or churn risks for one customer within a window; 4 in 24 h
  by default): one message to the customer's owner, or to its linked channel when it has none, naming the
  customer and quoting the signals; at most one per customer per day.
- A stalled or overdue milestone: a weekly nudge to its owner with one-click "still on track / at risk / done".
- A customer gone quiet while a milestone is in progress: a weekly nudge to the owner.
Every nudge says why it was sent and how to turn it off (`/loop nudges`). Messages to people wait for their
daytime (bot.outcomes' outbox); messages to a channel go out at once.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session, sessionmaker

from bot import milestones as ms
from bot.connect import internal_channel_for
from bot.errors import UsageError
from bot.outcomes import next_sending_time
from bot.render.blocks import button, context, section, to_dicts
from bot.safety import quote, safe
from bot.slack_out import SlackOut
from bot.text import plural
from bot.weeks import week_at
from storage import repo
from storage.models import Customer, Milestone

log = logging.getLogger(__name__)

KINDS = ("burst", "stalled", "overdue", "quiet")
OFF_HINT = "Turn this off with `/loop nudges {kind} off`."


@dataclass
class NudgeSettings:
    burst: bool = True
    stalled: bool = True
    overdue: bool = True
    quiet: bool = True
    burst_count: int = 4
    burst_hours: int = 24

    @classmethod
    def load(cls, raw: str | None) -> NudgeSettings:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError:
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def dump(self) -> str:
        return json.dumps(asdict(self))

    def describe(self) -> str:
        def state(kind: str) -> str:
            return "on" if getattr(self, kind) else "off"

        return (
            f"• *burst* ({state('burst')}): {self.burst_count} or more problems or churn risks from one customer "
            f"within {self.burst_hours} h → one message to the customer's owner (or their channel), once a day\n"
            f"• *stalled* ({state('stalled')}) and *overdue* ({state('overdue')}): a weekly nudge to the milestone's "
            "owner, with still on track / at risk / done buttons\n"
            f"• *quiet* ({state('quiet')}): a weekly nudge to the owner when a customer with a milestone in progress "
            "has gone quiet\n"
            "Messages to people wait for their daytime (09:00–20:00 in their time zone)."
        )


NUDGES_USAGE = (
    "Usage: `/loop nudges` shows the settings; `/loop nudges burst|stalled|overdue|quiet on|off`; "
    "`/loop nudges burst <count> in <hours>h` (e.g. `/loop nudges burst 4 in 24h`)."
)


def command(s: Session, team_id: str, rest: str, now: datetime) -> str:
    """`/loop nudges …`: show or change the workspace's settings; UsageError on anything malformed."""
    ws = repo.ensure_workspace(s, team_id=team_id, now=now)
    cfg = NudgeSettings.load(ws.nudge_settings)
    text = rest.strip().casefold()
    if not text:
        return ":bell: *Nudges in this workspace*\n" + cfg.describe() + "\n" + NUDGES_USAGE
    m = re.fullmatch(r"(burst|stalled|overdue|quiet)\s+(on|off)", text)
    if m:
        setattr(cfg, m.group(1), m.group(2) == "on")
        ws.nudge_settings = cfg.dump()
        return f":bell: {m.group(1).capitalize()} nudges are {m.group(2)}."
    m = re.fullmatch(r"burst\s+(\d{1,3})\s+in\s+(\d{1,3})\s*h(ours?)?", text)
    if m:
        count, hours = int(m.group(1)), int(m.group(2))
        if not 2 <= count <= 100 or not 1 <= hours <= 168:
            raise UsageError("A burst is 2 to 100 signals within 1 to 168 hours, e.g. `/loop nudges burst 4 in 24h`.")
        cfg.burst, cfg.burst_count, cfg.burst_hours = True, count, hours
        ws.nudge_settings = cfg.dump()
        return f":bell: A burst is now {count} problems or churn risks from one customer within {hours} h."
    raise UsageError(NUDGES_USAGE)


def _owner(c: Customer, m: Milestone | None = None) -> str | None:
    return (
        (m.owner_id if m is not None and m.owner_id else None)
        or c.owner_id
        or next((x.owner_id for x in ms.live(c.milestones) if x.owner_id), None)
    )


class Nudger:
    """Checks every workspace for what deserves a nudge now."""

    def __init__(self, sf: sessionmaker[Session], clock: Callable[[], datetime], slack: SlackOut) -> None:
        self.sf = sf
        self.clock = clock
        self.slack = slack

    def run(self) -> int:
        """Every check: bursts, then the weekly ones (stalled, overdue, quiet)."""
        return self._each_team(bursts=True, weekly=True)

    def run_bursts(self) -> int:
        """Bursts only: cheap (one indexed count per workspace), so it runs every minute and on a new signal."""
        return self._each_team(bursts=True, weekly=False)

    def run_weekly(self) -> int:
        """Stalled, overdue and quiet: once a week per subject, so a scan every few minutes is soon enough."""
        return self._each_team(bursts=False, weekly=True)

    def _each_team(self, bursts: bool, weekly: bool) -> int:
        now = self.clock()
        with self.sf() as s:
            teams = repo.team_ids(s)
        return sum(self.check_team(team, now, bursts=bursts, weekly=weekly) for team in teams)

    def check_team(self, team_id: str, now: datetime, bursts: bool = True, weekly: bool = True) -> int:
        """Queue (people) or post (channels) what is due for one workspace; returns the channel posts made."""
        sent = 0
        with self.sf.begin() as s:
            ws = repo.get_workspace(s, team_id=team_id)
            cfg = NudgeSettings.load(ws.nudge_settings if ws else None)
            posts: list[tuple[str, str, list[Any]]] = []
            if bursts and cfg.burst:
                posts += self._bursts(s, team_id, cfg, now)
            if weekly and (cfg.stalled or cfg.overdue or cfg.quiet):
                self._weekly(s, team_id, cfg, now)
        for channel, text, blocks in posts:  # channel nudges go out at once, after the claim is committed
            sent += bool(self.slack.post(team_id, channel, text, blocks, what="a burst nudge"))
        return sent

    def _bursts(self, s: Session, team_id: str, cfg: NudgeSettings, now: datetime) -> list[tuple[str, str, list[Any]]]:
        since = now - timedelta(hours=cfg.burst_hours)
        posts = []
        for cid, rows in repo.negative_signals_by_customer(
            s, team_id=team_id, since=since, until=now, at_least=cfg.burst_count
        ).items():
            c = repo.customer_by_id(s, team_id=team_id, customer_id=cid)
            if c is None or not repo.claim_nudge(
                s,
                team_id=team_id,
                subject=f"customer:{cid}",
                kind="burst",
                period=now.date().isoformat(),
                sent_to=c.owner_id,
                now=now,
            ):
                continue
            count = plural(len(rows), "problem or churn-risk signal", "problem or churn-risk signals")
            lines = [f":rotating_light: *{safe(c.name)}*: {count} in the last {cfg.burst_hours} h"]
            for r in rows[:5]:
                who = f" — {quote(r.author_name, 40)}" if r.author_name else ""
                lines.append(f"> “{quote(r.text, 200)}”{who}")
            why = (
                f"Why: {cfg.burst_count} or more within {cfg.burst_hours} h is a burst; you get one a day per "
                f"customer at most. {OFF_HINT.format(kind='burst')}"
            )
            blocks = to_dicts([section("\n".join(lines)[:2900]), context(why)])
            text = f"{c.name}: {len(rows)} problems or churn risks in {cfg.burst_hours} h"
            owner = _owner(c)
            if owner:
                tz = repo.user_tzs(s, team_id=team_id, users=[owner]).get(owner)
                repo.queue_message(
                    s,
                    team_id=team_id,
                    user=owner,
                    kind="nudge",
                    dedupe_key=f"burst:{cid}:{now.date().isoformat()}",
                    payload=json.dumps({"text": text, "blocks": blocks}),
                    due_at=next_sending_time(now, tz),
                    now=now,
                )
            else:
                # the customer's internal channel: never one shared with the customer's organisation (Slack Connect)
                target = internal_channel_for(s, team_id, cid)
                if target:
                    posts.append((target, text, blocks))
        return posts

    def _weekly(self, s: Session, team_id: str, cfg: NudgeSettings, now: datetime) -> None:
        week = week_at(now).label
        last = repo.last_signal_at(s, team_id=team_id)
        for c in repo.list_customers(s, team_id=team_id):
            rules = ms.segment_rules(c.segment)
            for m in ms.live(c.milestones):
                owner = _owner(c, m)
                if not owner:
                    continue
                kinds = []
                if cfg.stalled and ms.is_stalled(m, now, rules.stall_days):
                    kinds.append(("stalled", f"no change for {ms.days_unchanged(m, now)} days"))
                if cfg.overdue and m.due_date is not None and ms.is_overdue(m, now.date()):
                    kinds.append(("overdue", f"was due {m.due_date:%b} {m.due_date.day}"))
                for kind, why in kinds[:1]:
                    if repo.claim_nudge(
                        s, team_id=team_id, subject=f"milestone:{m.id}", kind=kind, period=week, sent_to=owner, now=now
                    ):
                        self._queue(s, team_id, owner, f"{kind}:{m.id}:{week}", milestone_nudge(c, m, kind, why), now)
            status = ms.customer_status(c, now, last.get(c.id))
            owner = _owner(c)
            if cfg.quiet and status.quiet and owner:
                if repo.claim_nudge(
                    s, team_id=team_id, subject=f"customer:{c.id}", kind="quiet", period=week, sent_to=owner, now=now
                ):
                    self._queue(s, team_id, owner, f"quiet:{c.id}:{week}", quiet_nudge(c, status), now)

    @staticmethod
    def _queue(s: Session, team_id: str, owner: str, key: str, message: tuple[str, list[Any]], now: datetime) -> None:
        text, blocks = message
        tz = repo.user_tzs(s, team_id=team_id, users=[owner]).get(owner)
        repo.queue_message(
            s,
            team_id=team_id,
            user=owner,
            kind="nudge",
            dedupe_key=key,
            payload=json.dumps({"text": text, "blocks": blocks}),
            due_at=next_sending_time(now, tz),
            now=now,
        )


def milestone_nudge(c: Customer, m: Milestone, kind: str, why: str) -> tuple[str, list[Any]]:
    label = {"stalled": ":hourglass: Stalled", "overdue": ":alarm_clock: Overdue"}[kind]
    value = str(m.id)
    blocks: list[Block | dict[str, Any]] = [
        section(
            f"{label}: *{safe(c.name)}* milestone {m.position} “{quote(m.title)}” — {safe(why)}. Where does it stand?"
        ),
        {
            "type": "actions",
            "block_id": f"nudge:{m.id}",
            "elements": [
                button("Still on track", "ms_on_track", value, "primary").to_dict(),
                button("At risk", "ms_risk", value, "danger").to_dict(),
                button("Done", "ms_done", value).to_dict(),
            ],
        },
        context(
            f"Why: you own this milestone and it is {kind}; you get this once a week. "
            + OFF_HINT.format(kind=kind)
            + (
                " A new due date: `/milestone due " + safe(c.name) + f" {m.position} YYYY-MM-DD`."
                if kind == "overdue"
                else ""
            )
        ),
    ]
    return f"{c.name}: milestone {m.position} is {kind}", [b if isinstance(b, dict) else b.to_dict() for b in blocks]


def quiet_nudge(c: Customer, status: ms.CustomerStatus) -> tuple[str, list[Any]]:
    since = status.last_signal or c.created_at
    live = next((m for m in ms.live(c.milestones) if m.status in (ms.IN_PROGRESS, ms.AT_RISK)), None)
    during = f" while “{quote(live.title)}” is in progress" if live else ""
    text = (
        f":zzz: *{safe(c.name)}* has gone quiet: nothing heard since {since:%b} {since.day}{during}. Worth a check-in?"
    )
    return f"{c.name} has gone quiet", to_dicts(
        [
            section(text),
            context(
                "Why: you look after this customer and a milestone is in progress; once a week at "
                "most. " + OFF_HINT.format(kind="quiet")
            ),
        ]
    )
