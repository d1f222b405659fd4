"""Slack Connect: channels shared with a customer's own organisation.

- **First-hand signals.** In an externally shared channel, a message by a person of the customer's organisation
  (the event's `user_team`) is recorded as said by the customer (`first_hand`); a team member's message stays
  a report. A person of a third organisation is attributed to the customer whose organisation it is, or not
  stored at all — never to the channel's customer (bot.routing does the attribution).
- **Channels that link themselves.** When the app joins or meets a shared channel it asks Slack what the channel
  is shared with (conversations.info, team.info) and proposes the customer whose organisation (name, domain) or
  channel name (`ext-<customer>`, `<customer>-shared`, `shared-<customer>` by default) matches: one message with
  Link / Not this customer / Ignore, where only the team sees it. Nothing is linked without a person's click.
- **Questions nobody answered.** A first-hand question or request without a reply in its thread or a reaction
  from the team within N business hours gets one nudge to the customer's owner (else an internal channel).
- **Nothing internal crosses into a shared channel**: `refusal` is what commands and posting paths ask.

Slack's rules: https://docs.slack.dev/apis/slack-connect (is_ext_shared, connected_team_ids, user_team,
source_team, is_stranger), https://docs.slack.dev/reference/methods/conversations.info,
https://docs.slack.dev/reference/methods/team.info.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import UsageError
from bot.outcomes import next_sending_time
from bot.render.blocks import button, context, section, to_dicts
from bot.safety import quote, safe
from bot.slack_out import SlackOut
from bot.weeks import valid_tz
from storage import connect as cx
from storage import repo
from storage.models import ChannelInfo, Customer

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ["ext-{customer}", "{customer}-shared", "shared-{customer}"]
MATCH = 85  # a rapidfuzz score at or above this is a match worth proposing
AMBIGUOUS = 5  # two candidates this close to each other: ask which one
LOOK_BACK = timedelta(days=14)  # questions older than this are the weekly digest's, not a nudge's
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

REFUSAL = (
    ":lock: This channel is shared with another organisation (Slack Connect), so I don't post {what} here: "
    "they hold the team's notes about customers. Run it in a DM with me or in an internal channel."
)


@dataclass
class ConnectSettings:
    """A workspace's Slack Connect settings (`/loop connect`)."""

    patterns: list[str] = field(default_factory=lambda: list(DEFAULT_PATTERNS))
    unanswered: bool = True
    unanswered_hours: float = 4.0
    day_start: int = 9
    day_end: int = 17
    days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    tz: str = "UTC"
    internal_channel: str | None = None  # where proposals and channel nudges go (never a shared channel)

    @classmethod
    def load(cls, raw: str | None) -> ConnectSettings:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def dump(self) -> str:
        return json.dumps(asdict(self))

    def describe(self) -> str:
        days = ", ".join(DAYS[d] for d in self.days)
        una = f"after {self.unanswered_hours:g} business hours" if self.unanswered else "off"
        where = f"<#{self.internal_channel}>" if self.internal_channel else "the person who added me (DM)"
        return (
            f"• Channel name patterns: {', '.join('`' + p + '`' for p in self.patterns)}\n"
            f"• Business hours: {self.day_start:02d}:00–{self.day_end:02d}:00 {self.tz}, {days}\n"
            f"• Unanswered customer questions: {una}\n"
            f"• Link proposals and channel nudges go to: {where}"
        )


def settings_for(s: Session, team_id: str) -> ConnectSettings:
    ws = repo.get_workspace(s, team_id=team_id)
    return ConnectSettings.load(ws.connect_settings if ws else None)


# --- business hours -----------------------------------------------------------------------------


def business_elapsed(start: datetime, end: datetime, cfg: ConnectSettings) -> timedelta:
    """Working time between two instants in the workspace's zone, days and hours."""
    if end <= start:
        return timedelta(0)
    zone = ZoneInfo(cfg.tz if valid_tz(cfg.tz) else "UTC")
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    total = timedelta(0)
    while day <= last:
        if day.weekday() in cfg.days:
            opens = datetime.combine(day, time(cfg.day_start), tzinfo=zone)
            closes = datetime.combine(day, time(0), tzinfo=zone) + timedelta(hours=cfg.day_end)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


# --- matching a channel to a customer -------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    name: str
    score: float
    why: str  # "organisation Acme Corp (acme.com)" | "channel name ext-acme"


def _norm(text: str) -> str:
    """Lower case, words only; company suffixes do not decide a match."""
    words = re.findall(r"[a-z0-9]+", text.casefold())
    stop = {"inc", "ltd", "llc", "gmbh", "corp", "corporation", "co", "plc", "the", "group", "sa", "ag", "bv"}
    return " ".join(w for w in words if w not in stop) or " ".join(words)


def _names(c: Customer) -> list[str]:
    return [c.name] + [a.alias for a in c.aliases]


def pattern_part(channel_name: str, patterns: list[str]) -> str | None:
    """The `<customer>` part of a channel name that fits one of the patterns."""
    for p in patterns:
        if "{customer}" not in p:
            continue
        rx = "^" + re.escape(p).replace(re.escape("{customer}"), "(?P<c>.+)") + "$"
        m = re.match(rx, channel_name.casefold())
        if m:
            return m.group("c").replace("-", " ").replace("_", " ")
    return None


def candidates(
    customers: list[Customer],
    channel_name: str | None,
    orgs: list[tuple[str, str | None, str | None, int | None]],
    patterns: list[str],
    rejected: set[int] = frozenset(),  # type: ignore[assignment]
) -> list[Candidate]:
    """Customers a channel may belong to, best first: by its organisations (id, name, domain, customer already
    theirs), then by its name against the patterns. rapidfuzz scores names, so "Acme Corp" finds "Acme"."""
    best: dict[int, Candidate] = {}

    def offer(c: Customer, score: float, why: str) -> None:
        if c.id in rejected or score < MATCH:
            return
        if c.id not in best or best[c.id].score < score:
            best[c.id] = Candidate(c.id, c.name, score, why)

    by_id = {c.id: c for c in customers}
    for _org, org_name, domain, owner in orgs:
        label = f"organisation {org_name or _org}" + (f" ({domain})" if domain else "")
        if owner is not None and owner in by_id:
            offer(by_id[owner], 100.0, label + ", already theirs")
            continue
        for c in customers:
            for n in _names(c):
                scores = []
                if org_name:
                    scores.append(fuzz.token_set_ratio(_norm(org_name), _norm(n)))
                if domain:
                    scores.append(fuzz.ratio(_norm(domain.split(".")[0]).replace(" ", ""), _norm(n).replace(" ", "")))
                if scores:
                    offer(c, max(scores), label)
    part = pattern_part(channel_name or "", patterns)
    if part:
        for c in customers:
            for n in _names(c):
                offer(
                    c,
                    fuzz.ratio(_norm(part).replace(" ", ""), _norm(n).replace(" ", "")),
                    f"channel name #{channel_name}",
                )
    return sorted(best.values(), key=lambda x: (-x.score, x.name.casefold()))


def ambiguous(found: list[Candidate]) -> bool:
    return len(found) > 1 and found[0].score - found[1].score <= AMBIGUOUS


# --- the proposal message -------------------------------------------------------------------------


def proposal_blocks(channel_id: str, orgs_label: str, found: list[Candidate]) -> tuple[str, list[Any]]:
    """One message: the channel, whom it looks like, and Link / Not this customer / Ignore."""
    where = f"<#{channel_id}>" + (f", shared with {safe(orgs_label)}" if orgs_label else "")
    if not found:
        text = (
            f":link: I was added to {where}. No customer matches its organisation or name. "
            f"`/loop link <customer>` in it links it; `/loop link auto` lists every channel I'm in."
        )
        acts = [button("Ignore", "connect_ignore", json.dumps({"ch": channel_id})).to_dict()]
        return text, [section(text).to_dict(), {"type": "actions", "block_id": "connect", "elements": acts}]
    if ambiguous(found):
        top = found[:3]
        names = " or ".join(f"*{safe(c.name)}* ({safe(c.why)})" for c in top)
        text = f":link: I was added to {where}. It could belong to {names}: which one?"
        acts = [
            button(
                f"Link to {c.name}"[:75], f"connect_link_{i}", json.dumps({"ch": channel_id, "c": c.customer_id})
            ).to_dict()
            for i, c in enumerate(top)
        ]
        acts.append(
            button(
                "None of these", "connect_reject", json.dumps({"ch": channel_id, "c": [c.customer_id for c in top]})
            ).to_dict()
        )
    else:
        c = found[0]
        text = f":link: I was added to {where}. It looks like *{safe(c.name)}*'s ({safe(c.why)}). Link it?"
        acts = [
            button("Link", "connect_link_0", json.dumps({"ch": channel_id, "c": c.customer_id}), "primary").to_dict(),
            button(
                "Not this customer", "connect_reject", json.dumps({"ch": channel_id, "c": [c.customer_id]})
            ).to_dict(),
        ]
    acts.append(button("Ignore", "connect_ignore", json.dumps({"ch": channel_id})).to_dict())
    why = (
        "Linked, every message there is a signal for the customer; their own people's words are marked first-hand. "
        "Nothing is linked until someone here says so; this message is only for the team."
    )
    return text, [
        section(text).to_dict(),
        {"type": "actions", "block_id": "connect", "elements": acts},
        context(why).to_dict(),
    ]


def refusal(what: str) -> str:
    return REFUSAL.format(what=what)


# --- the service ---------------------------------------------------------------------------------------


RELEARN_SECONDS = 600  # a channel still unknown after this long is described again before a post


class Connector:
    """What the app learns about shared channels, and what it does with them (off the request thread)."""

    def __init__(
        self,
        sf: sessionmaker[Session],
        clock: Callable[[], datetime],
        client_for: Callable[[str], WebClient],
        slack: SlackOut,
    ) -> None:
        self.sf = sf
        self.clock = clock
        self.client_for = client_for  # reads: conversations.info, users.conversations, team.info
        self.slack = slack  # writes
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()  # channels this process already looked at (discovery once)
        self._learned: dict[str, float] = {}  # team -> when its channels were last described (monotonic)
        self._learning_lock = threading.Lock()  # one description of a workspace's channels at a time

    # --- privacy: from Slack's is_private / is_ext_shared, cached in channel_info -------------------------

    def cached(self, team_id: str, channel_id: str) -> ChannelInfo | None:
        with self.sf() as s:
            info = repo.channel_info(s, team_id=team_id, channel_id=channel_id)
            if info is not None:
                s.expunge(info)
            return info

    def info(self, client: WebClient, team_id: str, channel_id: str, refresh: bool = False) -> ChannelInfo | None:
        """The channel as Slack last described it: from the cache, else conversations.info (after an answer only)."""
        info = self.cached(team_id, channel_id)
        if info is not None and info.checked_at is not None and not refresh:
            return info
        try:
            ch = client.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as e:
            log.warning("conversations.info failed for %s: %s", channel_id, e.response.get("error"))
            return info
        self.save(team_id, ch)
        return self.cached(team_id, channel_id)

    def save(self, team_id: str, ch: dict[str, Any], member: bool | None = None) -> None:
        with self.sf.begin() as s:
            cx.save_channel(
                s,
                team_id=team_id,
                channel_id=ch["id"],
                name=ch.get("name"),
                is_private=bool(ch.get("is_private") or ch.get("is_im") or ch.get("is_mpim")),
                is_ext_shared=bool(ch.get("is_ext_shared")),
                is_shared=bool(ch.get("is_shared")),
                connected_team_ids=ch.get("connected_team_ids") or ch.get("shared_team_ids") or [],
                is_member=member if member is not None else ch.get("is_member"),
                now=self.clock(),
            )

    def is_shared_cached(self, team_id: str, channel_id: str) -> bool:
        info = self.cached(team_id, channel_id)
        return bool(info and info.is_ext_shared)

    def shared_for_posting(self, client: WebClient, team_id: str, channel_id: str) -> bool:
        """Before posting the team's notes into a channel: is it shared with another organisation?

        Slack failing to say (other than "no such channel"): treated as shared, the safe side.
        """
        info = self.cached(team_id, channel_id)
        if info is not None and (info.checked_at is not None or info.is_ext_shared):
            return info.is_ext_shared
        # not known yet (say, the first minute after an upgrade, a thousand channels due): describe every channel
        # the app is in with a few paged calls, once, rather than one rate-limited conversations.info per digest
        with self._learning_lock:
            learned = self._learned.get(team_id)
            if learned is None or monotonic() - learned > RELEARN_SECONDS:
                try:
                    self.learn_channels(team_id, client)
                except SlackApiError as e:
                    log.warning("users.conversations failed for %s: %s", team_id, e.response.get("error"))
        info = self.cached(team_id, channel_id)
        if info is not None and (info.checked_at is not None or info.is_ext_shared):
            return info.is_ext_shared
        try:
            ch = client.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as e:
            err = e.response.get("error") if e.response is not None else None
            log.warning("conversations.info failed for %s before posting: %s", channel_id, err)
            # a channel the app cannot see cannot be posted in either; any other failure: the safe side
            return err not in ("channel_not_found", "not_in_channel")
        self.save(team_id, ch)
        return bool(ch.get("is_ext_shared"))

    # --- discovery and proposals ------------------------------------------------------------------------

    def met(self, team_id: str, channel_id: str, external: bool) -> bool:
        """A message arrived in a channel: True the first time this process sees an external author there (the
        caller then runs `discover` off the request thread)."""
        if not external:
            return False
        with self._lock:
            if (team_id, channel_id) in self._seen:
                return False
            self._seen.add((team_id, channel_id))
        with self.sf.begin() as s:
            cx.mark_ext_shared(s, team_id=team_id, channel_id=channel_id, now=self.clock())
        return True

    def discover(self, team_id: str, channel_id: str, inviter: str | None = None) -> str:
        """The app joined, or met, a channel: learn what it is shared with; propose a customer when it is unlinked.

        Returns what happened: internal | linked | ignored | proposed | unsent | error.
        """
        client = self.client_for(team_id)
        try:
            info = self.info(client, team_id, channel_id, refresh=True)
            if info is None or not info.is_ext_shared:
                return "internal"
            orgs = self._learn_teams(client, team_id, info)
            now = self.clock()
            with self.sf.begin() as s:
                link = repo.channel_link(s, team_id=team_id, channel_id=channel_id)
                if link is not None:
                    if link.kind == "customer" and link.customer_id is not None:
                        adopt_orgs(s, team_id, channel_id, link.customer_id, now)
                    return "linked"
                row = repo.channel_info(s, team_id=team_id, channel_id=channel_id)
                if row is None or row.link_ignored or row.link_proposed_at is not None:
                    return "ignored"
                cfg = settings_for(s, team_id)
                found = candidates(
                    list(repo.list_customers(s, team_id=team_id)), row.name, orgs, cfg.patterns, _rejected(row)
                )
                label = ", ".join(o[1] or o[0] for o in orgs)
                text, blocks = proposal_blocks(channel_id, label, found)
                target = cfg.internal_channel or inviter
                if not target:
                    return "unsent"  # `/loop link auto` lists it
                if not cx.claim_proposal(s, team_id=team_id, channel_id=channel_id, now=now):
                    return "ignored"  # another instance proposed it a moment ago
            sent = self.slack.post(team_id, target, text, blocks, what="a link proposal")
            return "proposed" if sent else "error"
        except Exception:  # noqa: BLE001 - off the request thread: logged, `/loop link auto` still finds it
            log.exception("Slack Connect discovery failed for %s/%s", team_id, channel_id)
            return "error"

    def _learn_teams(
        self, client: WebClient, team_id: str, info: ChannelInfo
    ) -> list[tuple[str, str | None, str | None, int | None]]:
        """The channel's other organisations: (team id, name, domain, customer), from team.info when new."""
        ids = [t for t in cx.connected(info) if t != team_id]
        with self.sf() as s:
            known = {t.org_team_id: t for t in cx.teams(s, team_id=team_id, org_team_ids=ids)}
        for org in ids:
            if org in known and known[org].name:
                continue
            try:
                t = client.team_info(team=org)["team"]
            except SlackApiError as e:
                log.warning("team.info failed for %s: %s", org, e.response.get("error"))
                continue
            with self.sf.begin() as s:
                cx.save_team(
                    s, team_id=team_id, org_team_id=org, name=t.get("name"), domain=t.get("domain"), now=self.clock()
                )
        with self.sf() as s:
            return [
                (t.org_team_id, t.name, t.domain, t.customer_id) for t in cx.teams(s, team_id=team_id, org_team_ids=ids)
            ]

    def learn_channels(self, team_id: str, client: WebClient | None = None) -> int:
        """Every channel the app is in, as Slack describes it (is_private, is_ext_shared), cached for the whole
        workspace in one users.conversations call per 200 channels rather than one conversations.info each
        (https://docs.slack.dev/reference/methods/users.conversations). Returns how many were seen."""
        client = client or self.client_for(team_id)
        cursor, seen = None, 0
        for _ in range(50):  # 50 pages of 200: 10,000 channels
            res = client.users_conversations(
                types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
            )
            for ch in res.get("channels") or []:
                self.save(team_id, ch, member=True)
                seen += 1
            cursor = (res.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        with self._lock:
            self._learned[team_id] = monotonic()
        return seen

    def learn_all(self) -> int:
        """The periodic job: every workspace's channels described afresh (sharing can change between events)."""
        with self.sf() as s:
            teams = repo.team_ids(s)
        seen = 0
        for team_id in teams:
            try:
                seen += self.learn_channels(team_id)
            except SlackApiError as e:
                log.warning("users.conversations failed for %s: %s", team_id, e.response.get("error"))
        return seen

    def scan(self, team_id: str) -> list[dict[str, Any]]:
        """`/loop link auto`: every unlinked channel the app is in, with its best match (users.conversations)."""
        client = self.client_for(team_id)
        self.learn_channels(team_id, client)
        with self.sf() as s:
            rows = [r for r in cx.unlinked_member_channels(s, team_id=team_id) if r.is_ext_shared]
            for r in rows:
                s.expunge(r)
        for row in rows:  # what each shared channel is shared with, and those organisations' names
            if not cx.connected(row):
                row = self.info(client, team_id, row.channel_id, refresh=True) or row
            self._learn_teams(client, team_id, row)
        out = []
        with self.sf() as s:
            cfg = settings_for(s, team_id)
            everyone = list(repo.list_customers(s, team_id=team_id))
            for row in cx.unlinked_member_channels(s, team_id=team_id):
                if row.link_ignored:
                    continue
                ids = [t for t in cx.connected(row) if t != team_id]
                orgs = [
                    (t.org_team_id, t.name, t.domain, t.customer_id)
                    for t in cx.teams(s, team_id=team_id, org_team_ids=ids)
                ]
                found = candidates(everyone, row.name, orgs, cfg.patterns, _rejected(row))
                out.append({"channel": row.channel_id, "name": row.name, "shared": row.is_ext_shared, "found": found})
        return out

    # --- answered / unanswered -----------------------------------------------------------------------------

    def answered(self, team_id: str, channel_id: str, ts: str, user_id: str | None) -> int:
        """A team member replied in the thread of, or reacted to, message `ts`."""
        with self.sf.begin() as s:
            if user_id and cx.is_external_author(s, team_id=team_id, user_id=user_id):
                return 0
            return cx.mark_answered(s, team_id=team_id, channel_id=channel_id, ts=ts, user_id=user_id, now=self.clock())

    def reacted(self, team_id: str, channel_id: str, ts: str, user_id: str | None) -> int:
        """A reaction on a customer's open question (after the answer to Slack): the team's answers it; one by
        the customer's own people does not (users.info's team_id is their organisation's)."""
        with self.sf() as s:
            if not cx.waiting_at(s, team_id=team_id, channel_id=channel_id, ts=ts):
                return 0
        if user_id:
            try:
                user = self.client_for(team_id).users_info(user=user_id).get("user") or {}
            except SlackApiError as e:
                log.warning("users.info failed for %s: %s", user_id, e.response.get("error"))
                user = {}
            if user.get("team_id") and user["team_id"] != team_id:
                return 0
        return self.answered(team_id, channel_id, ts, user_id)

    def run_unanswered(self) -> int:
        """The periodic job: one nudge per first-hand question or request the team left unanswered too long."""
        now = self.clock()
        with self.sf() as s:
            teams = repo.team_ids(s)
        sent = 0
        for team_id in teams:
            try:
                sent += self._unanswered(team_id, now)
            except Exception:  # noqa: BLE001 - one workspace's failure does not stop the others
                log.exception("unanswered-question check failed for %s", team_id)
        return sent

    def _unanswered(self, team_id: str, now: datetime) -> int:
        posts: list[tuple[str, str, list[Any]]] = []
        with self.sf.begin() as s:
            cfg = settings_for(s, team_id)
            if not cfg.unanswered:
                return 0
            due = timedelta(hours=cfg.unanswered_hours)
            queued = 0
            for sig in cx.waiting(s, team_id=team_id, since=now - LOOK_BACK):
                if sig.unanswered_nudged_at is not None or business_elapsed(sig.posted_at, now, cfg) < due:
                    continue
                c = repo.customer_by_id(s, team_id=team_id, customer_id=sig.customer_id)
                if c is None or not cx.claim_unanswered_nudge(s, signal_id=sig.id, now=now):
                    continue
                text, blocks = unanswered_nudge(c, sig.text, sig.author_name, sig.permalink, sig.channel_id, cfg)
                if c.owner_id:
                    tz = repo.user_tzs(s, team_id=team_id, users=[c.owner_id]).get(c.owner_id)
                    repo.queue_message(
                        s,
                        team_id=team_id,
                        user=c.owner_id,
                        kind="nudge",
                        dedupe_key=f"unanswered:{sig.id}",
                        payload=json.dumps({"text": text, "blocks": blocks}),
                        due_at=next_sending_time(now, tz),
                        now=now,
                    )
                    queued += 1
                    continue
                target = internal_channel_for(s, team_id, c.id, cfg)
                if target:
                    posts.append((target, text, blocks))
                else:
                    log.info("unanswered question of %s: no owner and no internal channel to tell", c.name)
        for channel, text, blocks in posts:
            queued += bool(self.slack.post(team_id, channel, text, blocks, what="an unanswered-question nudge"))
        return queued


def _rejected(row: ChannelInfo) -> set[int]:
    try:
        return set(json.loads(row.link_rejected)) if row.link_rejected else set()
    except ValueError:
        return set()


def internal_channel_for(s: Session, team_id: str, customer_id: int, cfg: ConnectSettings | None = None) -> str | None:
    """The customer's linked channel that is not shared with anyone outside, else the workspace's internal one."""
    links = [link.channel_id for link in repo.links_for_customer(s, team_id=team_id, customer_id=customer_id)]
    shared = {i.channel_id for i in cx.channels(s, team_id=team_id, ids=links) if i.is_ext_shared}
    for ch in links:
        if ch not in shared:
            return ch
    cfg = cfg or settings_for(s, team_id)
    return cfg.internal_channel


def adopt_orgs(s: Session, team_id: str, channel_id: str, customer_id: int, now: datetime) -> list[str]:
    """A shared channel was linked to a customer: its organisation that matches them (or its only one, when no
    one has claimed it) becomes theirs, so their people's words are first-hand. Third organisations stay theirs."""
    info = repo.channel_info(s, team_id=team_id, channel_id=channel_id)
    ids = [t for t in cx.connected(info) if t != team_id]
    if not ids:
        return []
    c = repo.customer_by_id(s, team_id=team_id, customer_id=customer_id)
    if c is None:
        return []
    teams = {t.org_team_id: t for t in cx.teams(s, team_id=team_id, org_team_ids=ids)}
    free = [o for o in ids if o not in teams or teams[o].customer_id is None]
    if any(teams.get(o) is not None and teams[o].customer_id == customer_id for o in ids):
        return []
    chosen: list[str] = []
    if len(ids) == 1 and free:
        chosen = free
    else:
        for o in free:
            t = teams.get(o)
            orgs: list[tuple[str, str | None, str | None, int | None]] = [
                (o, t.name if t else None, t.domain if t else None, None)
            ]
            if candidates([c], None, orgs, []):
                chosen.append(o)
    for o in chosen:
        cx.set_team_customer(s, team_id=team_id, org_team_id=o, customer_id=customer_id, now=now)
    if chosen:
        repo.bump_routing(s, team_id=team_id)
    return chosen


def link_channel(s: Session, team_id: str, channel_id: str, customer_id: int, user_id: str, now: datetime) -> str:
    """A person confirmed a proposal: link the channel (unless someone linked it meanwhile); what to say."""
    c = repo.customer_by_id(s, team_id=team_id, customer_id=customer_id)
    if c is None:
        return "That customer no longer exists; nothing was linked."
    prev = repo.channel_link(s, team_id=team_id, channel_id=channel_id)
    if prev is not None:
        whose = prev.customer.name if prev.customer is not None else "a watch channel"
        return f"<#{channel_id}> was already linked ({safe(whose)}); nothing changed."
    repo.set_channel_link(
        s, team_id=team_id, channel_id=channel_id, kind="customer", customer_id=c.id, user_id=user_id, now=now
    )
    adopt_orgs(s, team_id, channel_id, c.id, now)
    repo.bump_routing(s, team_id=team_id)
    return f":link: <#{channel_id}> is now *{safe(c.name)}*'s, linked by <@{user_id}>."


def reject(s: Session, team_id: str, channel_id: str, customer_ids: list[int], now: datetime) -> str:
    row = repo.channel_info(s, team_id=team_id, channel_id=channel_id)
    if row is None:
        return "I no longer know that channel."
    row.link_rejected = json.dumps(sorted(_rejected(row) | set(customer_ids)))
    return f"Noted: <#{channel_id}> is not theirs. `/loop link <customer>` in it links it by hand."


def ignore(s: Session, team_id: str, channel_id: str) -> str:
    row = repo.channel_info(s, team_id=team_id, channel_id=channel_id)
    if row is not None:
        row.link_ignored = True
    return f"I won't propose a customer for <#{channel_id}> again. `/loop link <customer>` in it still works."


def unanswered_nudge(
    c: Customer, text: str, author: str | None, link: str | None, channel_id: str, cfg: ConnectSettings
) -> tuple[str, list[Any]]:
    who = f" — {quote(author, 40)}" if author else ""
    where = f"<{link}|in <#{channel_id}>>" if link else f"in <#{channel_id}>"
    body = (
        f":hourglass: *{safe(c.name)}* asked {where} and no one from the team has answered for "
        f"{cfg.unanswered_hours:g} business hours:\n> 🗣 “{quote(text, 300)}”{who}"
    )
    why = (
        "Why: a question or request from the customer's own people with no reply in its thread or reaction from "
        "the team. Once per question. `/loop nudges unanswered 2h|off` changes it."
    )
    return f"{c.name} is waiting for an answer", to_dicts([section(body), context(why)])


# --- `/loop connect` and `/loop nudges unanswered` -------------------------------------------------------

CONNECT_USAGE = (
    "Usage: `/loop connect` shows the Slack Connect settings; `/loop connect here` (in an internal channel) sends "
    "link proposals and channel nudges there; `/loop connect hours 09:00-17:00 Europe/London mon-fri`; "
    "`/loop connect patterns ext-{customer}, {customer}-shared`"
)


def command(s: Session, team_id: str, channel_id: str, channel_shared: bool, rest: str, now: datetime) -> str:
    ws = repo.ensure_workspace(s, team_id=team_id, now=now)
    cfg = ConnectSettings.load(ws.connect_settings)
    text = rest.strip()
    low = text.casefold()
    if not text:
        return ":handshake: *Slack Connect in this workspace*\n" + cfg.describe() + "\n" + CONNECT_USAGE
    if low == "here":
        if channel_shared:
            raise UsageError(
                "This channel is shared with another organisation: proposals and nudges must go to an internal "
                "channel. Run `/loop connect here` in one."
            )
        cfg.internal_channel = channel_id
        ws.connect_settings = cfg.dump()
        return ":handshake: Link proposals and nudges without an owner now come to this channel."
    m = re.fullmatch(r"hours\s+(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?(?:\s+(\S+))?(?:\s+(\w{3})-(\w{3}))?", low)
    if m:
        start, end = int(m.group(1)), int(m.group(2))
        tz = text.split()[2] if m.group(3) else cfg.tz
        if not 0 <= start < end <= 24:
            raise UsageError(
                "Business hours go from an earlier to a later hour, e.g. `/loop connect hours 09:00-17:00`."
            )
        if m.group(3) and not valid_tz(tz):
            raise UsageError(f"“{safe(tz)}” is not an IANA time zone: write it like Europe/London or America/New_York.")
        days = cfg.days
        if m.group(4):
            if m.group(4) not in DAYS or m.group(5) not in DAYS:
                raise UsageError("Days are written mon-fri (three letters each).")
            a, b = DAYS.index(m.group(4)), DAYS.index(m.group(5))
            days = list(range(a, b + 1)) if a <= b else list(range(a, 7)) + list(range(0, b + 1))
        cfg.day_start, cfg.day_end, cfg.tz, cfg.days = start, end, tz, days
        ws.connect_settings = cfg.dump()
        return ":clock9: Business hours: " + cfg.describe().splitlines()[1].removeprefix("• Business hours: ")
    if low.startswith("patterns "):
        pats = [p.strip().casefold() for p in text[len("patterns ") :].split(",") if p.strip()]
        if not pats or any("{customer}" not in p for p in pats):
            raise UsageError(
                "Each pattern holds `{customer}`, e.g. `/loop connect patterns ext-{customer}, {customer}-shared`."
            )
        cfg.patterns = pats[:10]
        ws.connect_settings = cfg.dump()
        return ":label: Channel name patterns: " + ", ".join(f"`{p}`" for p in cfg.patterns)
    raise UsageError(CONNECT_USAGE)


def unanswered_command(s: Session, team_id: str, rest: str, now: datetime) -> str:
    """`/loop nudges unanswered 2h|off|on`."""
    ws = repo.ensure_workspace(s, team_id=team_id, now=now)
    cfg = ConnectSettings.load(ws.connect_settings)
    low = rest.strip().casefold()
    if low in ("off", "on"):
        cfg.unanswered = low == "on"
        ws.connect_settings = cfg.dump()
        return f":bell: Nudges for unanswered customer questions are {low}."
    m = re.fullmatch(r"(\d{1,3}(?:\.\d)?)\s*h(ours?)?", low)
    if not m or not 0.5 <= float(m.group(1)) <= 120:
        raise UsageError(
            "Usage: `/loop nudges unanswered 4h` (0.5 to 120 business hours) or `/loop nudges unanswered off`."
        )
    cfg.unanswered, cfg.unanswered_hours = True, float(m.group(1))
    ws.connect_settings = cfg.dump()
    return (
        f":bell: A customer's question with no answer from the team after {cfg.unanswered_hours:g} business hours "
        "gets one nudge to its owner."
    )


def auto_blocks(found: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """`/loop link auto`'s answer: a checkbox per channel with a match (ticked when the match is clear), one
    "Link ticked" button; channels with no match are named with what to do."""
    matched = [f for f in found if f["found"]]
    unmatched = [f for f in found if not f["found"]]
    if not found:
        text = "Every channel I'm in is linked or watched. Invite me to a customer's channel: I'll propose whose it is."
        return text, [section(text).to_dict()]
    text = (
        f":link: {len(found)} channel{'s' if len(found) != 1 else ''} I'm in {'are' if len(found) != 1 else 'is'} "
        "not linked. Ticked: a clear match. Untick what's wrong, tick what's right, then *Link ticked*."
    )
    blocks: list[dict[str, Any]] = [section(text).to_dict()]
    for n in range(0, min(len(matched), 40), 10):  # 10 options per checkbox group (Block Kit's limit)
        options, ticked = [], []
        for f in matched[n : n + 10]:
            best = f["found"][0]
            label = f"#{f['name'] or f['channel']} → {best.name}" + ("?" if ambiguous(f["found"]) else "")
            opt = {
                "text": {"type": "plain_text", "text": label[:75]},
                "description": {"type": "plain_text", "text": best.why[:75]},
                "value": f"{f['channel']}:{best.customer_id}",
            }
            options.append(opt)
            if not ambiguous(f["found"]):
                ticked.append(opt)
        el: dict[str, Any] = {"type": "checkboxes", "action_id": f"connect_auto_pick_{n // 10}", "options": options}
        if ticked:
            el["initial_options"] = ticked
        blocks.append({"type": "actions", "block_id": f"connect_auto_{n // 10}", "elements": [el]})
    if matched:
        blocks.append(
            {
                "type": "actions",
                "block_id": "connect_auto_go",
                "elements": [button("Link ticked", "connect_auto_link", "go", "primary").to_dict()],
            }
        )
    if unmatched:
        names = ", ".join(f"<#{f['channel']}>" for f in unmatched[:30])
        blocks.append(
            context(f"No customer matches {names}: `/loop link <customer>` in one links it by hand.").to_dict()
        )
    return text, blocks


# --- a shared channel's own digest, when the team asks for it -----------------------------------------------


def own_digest(s: Session, team_id: str, channel_id: str, now: datetime) -> tuple[str, list[Any]]:
    """`/loop digest own`: this week's messages of this channel only — nothing from any other channel, no
    milestones, decisions or notes of the team — for a channel shared with the customer, posted when asked."""
    from bot.weeks import week_at

    link = repo.channel_link(s, team_id=team_id, channel_id=channel_id)
    if link is None or link.kind != "customer" or link.customer_id is None:
        raise UsageError("This channel is not linked to a customer, so it has no signals of its own to show.")
    week = week_at(now)
    start, end = week.bounds("UTC")
    rows = [
        r
        for r in repo.signals_between(s, team_id=team_id, start=start, end=end, customer_ids=[link.customer_id])
        if r.channel_id == channel_id
    ]
    names = repo.display_names(s, team_id=team_id)
    head = f":bar_chart: *This week in this channel* ({week.label}): {len(rows)} message(s) recorded"
    if not rows:
        text = head + ". Nothing else is shown here: the team's notes stay internal."
        return text, [section(text).to_dict()]
    # plain quotes, oldest first: no kinds, churn flags or ranking here (the team's judgements stay internal)
    lines = [head + ":"]
    for r in sorted((r for r in rows if r.text), key=lambda r: r.posted_at)[-10:]:
        who = r.author_name or names.get(r.user_id or "") or "someone"
        own = "🗣 " if r.first_hand else ""
        lines.append(f"> {own}“{quote(r.text, 200)}” — {quote(who, 40)}, {r.posted_at:%b} {r.posted_at.day}")
    blocks = [section("\n".join(lines)[:2900]).to_dict()]
    blocks.append(
        context("Only this channel's own messages; nothing from other channels or the team's notes.").to_dict()
    )
    return head, blocks
