"""build_digest: the week of one channel, customer by customer, as plain data (no Slack)."""

from __future__ import annotations

import gc
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot import impact, themes
from bot import milestones as ms
from bot.cards import CustomerCard, MilestoneCard, from_records
from bot.kinds import KIND_RANK
from bot.weeks import Week
from storage import connect as connect_repo
from storage import repo
from storage.models import Customer, Learning, Signal

GAP_WEEKS = 3


@dataclass(frozen=True, slots=True)
class Quote:
    signal_id: int
    kind: str
    text: str
    author: str | None
    at: datetime
    permalink: str | None
    milestone: int | None  # position of the milestone it is tied to
    sentiment: float
    private: bool = False
    user_id: str | None = None
    others: tuple[str, ...] = ()  # who else said the same (near-identical signals, folded into this one)
    count: int = 1  # how many signals this quote stands for
    focus: bool = False  # matches the channel's focus
    first_hand: bool = False  # Slack Connect: the customer's own people said it (not a team member's report)


@dataclass(frozen=True)
class Move:
    position: int
    title: str
    from_status: str | None
    to_status: str
    at: datetime
    reason: str | None


@dataclass(frozen=True)
class Flag:
    kind: str  # at_risk | stalled | overdue
    position: int
    title: str
    detail: str  # why: reason, days without change, due date
    evidence: Quote | None = None


@dataclass(frozen=True)
class Achieved:
    position: int
    title: str
    at: datetime
    ask: str | None
    ask_kind: str | None


@dataclass(frozen=True)
class MilestoneState:
    """One line per milestone that needs saying this week, with its latest state."""

    position: int
    title: str
    state: str  # achieved | at_risk | overdue | stalled | started | reopened | back_on_track
    details: tuple[str, ...] = ()
    evidence: Quote | None = None
    ask: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class GapTheme:
    theme: str
    count: int  # signals this week
    weeks: int  # of the last GAP_WEEKS weeks in which the theme came up
    total: int  # signals over those weeks


@dataclass
class CustomerSection:
    customer_id: int
    name: str
    segment: str | None
    outcome_required: str | None
    outcome_experience: str | None
    achieved_count: int
    total: int
    next_position: int | None
    moves: list[Move] = field(default_factory=list)
    achieved: list[Achieved] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    quotes: list[Quote] = field(default_factory=list)  # ordered by what needs action
    private_count: int = 0  # signals from private channels, counted but not quoted here
    gap: list[GapTheme] = field(default_factory=list)
    gap_count: int = 0
    slowdown: ms.Slowdown | None = None
    impact: list[Any] = field(default_factory=list)  # progress-vs-impact reviews (bot.impact)
    narrative: str | None = None  # the LLM step's two sentences, when it ran and passed validation
    milestones: list[tuple[int, str, str]] = field(default_factory=list)  # (position, title, status)
    states: list[MilestoneState] = field(default_factory=list)  # one per milestone with news, latest state
    told: list[tuple[str, bool]] = field(default_factory=list)  # recent outcomes, and whether the customer was told
    focus: bool = False  # the customer's signals or themes match the channel's focus
    first_hand: int = 0  # signals this week in the customer's own words (Slack Connect)
    first_hand_weighted: dict[str, int] = field(default_factory=dict)  # per kind, first-hand counted twice
    # Slack Connect: their questions and requests the team has not answered: (text, author, permalink, hours waited)
    waiting: list[tuple[str, str | None, str | None, int]] = field(default_factory=list)

    @property
    def signal_count(self) -> int:
        return sum(self.kinds.values())


@dataclass(frozen=True)
class DecisionItem:
    learning_id: int
    decision: str
    learning: str
    owner_id: str | None
    review_on: date | None
    outcome: str | None
    created_at: datetime


@dataclass
class Digest:
    team_id: str
    channel_id: str
    week: Week
    tz: str
    start: datetime
    end: datetime
    scope: str  # customer | watch | portfolio
    signal_count: int = 0
    people: int = 0
    last_week_count: int = 0
    achieved_count: int = 0
    at_risk_count: int = 0
    decisions: list[DecisionItem] = field(default_factory=list)
    customers: list[CustomerSection] = field(default_factory=list)
    quiet: list[tuple[str, int, str | None]] = field(default_factory=list)  # name, weeks, in-progress title
    collecting: list[tuple[str, int]] = field(default_factory=list)  # name, signals over 3 weeks
    late: bool = False
    themes: list[Any] = field(default_factory=list)  # cross-customer themes from the LLM step
    llm_note: str | None = None
    # model, prompt version, status: recorded on the digest run
    llm_meta: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    focus: str | None = None  # the team's question for this channel (`/loop digest focus`)
    churn: list[tuple[str, int]] = field(default_factory=list)  # customers with churn-risk signals this week
    # a watch channel's customers heard in the weeks before and silent this week: (name, signals last week)
    silent: list[tuple[str, int]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # user and channel ids -> names, for quotes and owners
    explain: set[str] = field(default_factory=set)  # sections shown here for the first time (bot.explain)


def scope_customers(
    session: Session,
    team_id: str,
    channel_id: str,
    start: datetime,
    end: datetime,
    portfolio: bool,
    heard_since: datetime | None = None,
) -> tuple[str, list[CustomerCard]]:
    """Who the channel's digest covers: its customer, the customers heard in a watch channel, or all; only
    those customers are loaded (with their milestones and aliases), as cards."""
    heard_since = heard_since or start

    def cards(ids: Iterable[int] | None = None) -> list[CustomerCard]:
        return from_records(repo.customer_records(session, team_id=team_id, ids=ids))

    if portfolio:
        return "portfolio", cards()
    link = repo.channel_link(session, team_id=team_id, channel_id=channel_id)
    if link is not None and link.kind == "customer":
        return "customer", cards([link.customer_id] if link.customer_id is not None else [])
    if link is not None and link.kind == "watch":
        # the customers heard here in the weeks the digest looks back on: a quiet week still reports them
        return "watch", cards(
            repo.signals_channels(session, team_id=team_id, channel_id=channel_id, start=heard_since, end=end)
        )
    return "portfolio", cards()


def _quote(sig: Signal, positions: dict[int, int], names: dict[str, str], focus: Focus | None) -> Quote:
    author = sig.author_name or names.get(sig.user_id or "")
    text = sig.text + (f" ({sig.note})" if sig.note else "")
    return Quote(
        sig.id,
        sig.kind,
        text,
        author,
        sig.posted_at,
        sig.permalink,
        positions.get(sig.milestone_id or -1),
        sig.sentiment,
        sig.is_private,
        sig.user_id,
        focus=bool(focus and focus.matches(text)),
        first_hand=bool(getattr(sig, "first_hand", False)),
    )


class Focus:
    """The team's focus for a channel, matched by word stems ("onboarding friction" finds "onboard")."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.stems = themes.stems(text)

    def matches(self, text: str) -> bool:
        return bool(self.stems & themes.stems(text))


_PREFIX = re.compile(r"^\s*[\w&'. -]{2,60}:\s+")
SAME_ENOUGH = 90  # rapidfuzz token-set ratio at which two signals say the same thing


_FOLD_WORD = re.compile(r"[a-z0-9']+")


def _fold_key(text: str, name_words: frozenset[str]) -> str:
    """A message as compared for sameness: no "Customer:" prefix, no customer name, lower case, words only."""
    # the prefix ends with a colon: most messages have none, and the pattern is slow to rule out
    t = _PREFIX.sub("", text) if ":" in text and _PREFIX.match(text) else text
    return " ".join([w for w in _FOLD_WORD.findall(t.casefold()) if w not in name_words])


def fold(quotes: list[Quote], name_words: frozenset[str], limit: int = 300) -> list[Quote]:
    """Near-identical quotes appear once, with how many and who (the newest of them stands for the rest).

    The same ask from three people, or a message cross-posted with a "Customer:" prefix, is one line. Only
    the first `limit` quotes are compared pairwise; beyond that only identical text folds.
    """
    from rapidfuzz import fuzz, process

    groups: list[list[Quote]] = []
    exact: dict[str, int] = {}
    # per kind, the keys long enough to compare and their groups: rapidfuzz scans a list in C
    comparable: dict[str, tuple[list[str], list[int]]] = {}
    for i, q in enumerate(quotes):
        key = _fold_key(q.text, name_words)
        at = exact.get(key)
        keys, owners = comparable.setdefault(q.kind, ([], []))
        if at is None and i < limit and len(key) >= 12 and keys:
            best = process.extractOne(key, keys, scorer=fuzz.token_set_ratio, score_cutoff=SAME_ENOUGH)
            if best is not None:
                at = owners[best[2]]
        if at is None:
            exact[key] = len(groups)
            if len(key) >= 12:
                keys.append(key)
                owners.append(len(groups))
            groups.append([q])
        else:
            groups[at].append(q)
    out = []
    for g in groups:
        if len(g) == 1:
            out.append(g[0])
            continue
        # the words shown are the customer's own when any of the group are (Slack Connect: first-hand), else the newest
        newest = max(g, key=lambda q: (q.first_hand, q.at))
        who = []
        for q in sorted(g, key=lambda q: q.at):
            if q.author and q.author not in who and q.author != newest.author:
                who.append(q.author)
        out.append(
            replace(
                newest,
                others=tuple(who),
                count=len(g),
                focus=any(q.focus for q in g),
                milestone=newest.milestone or next((q.milestone for q in g if q.milestone), None),
                first_hand=any(q.first_hand for q in g),
            )
        )
    return out


def by_priority(quotes: list[Quote]) -> list[Quote]:
    """What the team asked to focus on first, then the customer's own words (Slack Connect: first-hand, ahead of
    a team member's report of them), then churn risk, problems, requests…; newest first within a kind."""
    newest_first = sorted(quotes, key=lambda q: q.at, reverse=True)  # signals arrive newest first: O(n)
    return sorted(newest_first, key=lambda q: (not q.focus, not q.first_hand, KIND_RANK.get(q.kind, 9)))


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a digest is built.

    A build allocates a few hundred thousand short-lived objects (rows, quotes, sections); each batch of
    allocations makes the collector rescan the heap, about a quarter of the build time with a large week.
    Reference counting still frees everything; cycles are collected when the pause ends. Safe across threads.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def build_digest(
    session: Session,
    team_id: str,
    channel_id: str,
    week: Week,
    now: datetime,
    tz: str = "UTC",
    portfolio: bool = False,
    start_override: datetime | None = None,
    impact_days: int = 14,
    focus: str | None = None,
) -> Digest:
    """The digest of `week` for a channel; reads the week (and three before it for trends), not the history."""
    with gc_paused():
        return _build_digest(session, team_id, channel_id, week, now, tz, portfolio, start_override, impact_days, focus)


def _build_digest(
    session: Session,
    team_id: str,
    channel_id: str,
    week: Week,
    now: datetime,
    tz: str,
    portfolio: bool,
    start_override: datetime | None,
    impact_days: int,
    focus_text: str | None,
) -> Digest:
    start, end = week.bounds(tz)
    week_start = start
    if start_override is not None and start_override < start:
        start = start_override  # signals posted after last week's digest went out
    as_of = min(now, end)
    hist_start, _ = week.previous(GAP_WEEKS - 1).bounds(tz)
    scope, custs = scope_customers(session, team_id, channel_id, start, end, portfolio, hist_start)
    ids = [c.id for c in custs]
    dg = Digest(team_id, channel_id, week, tz, start, end, scope)
    dg.focus = focus_text
    focus = Focus(focus_text) if focus_text else None

    signals = repo.signals_between(session, team_id=team_id, start=start, end=end, customer_ids=ids)
    # people's and channels' names, for quotes, owners and the mentions inside quotes (bot.directory fills them)
    dg.names = names = repo.display_names(session, team_id=team_id)
    prev_start, _ = week.previous().bounds(tz)
    last_week = repo.signal_counts_by_customer(session, team_id=team_id, start=prev_start, end=start)
    dg.last_week_count = sum(last_week.get(i, 0) for i in ids)
    # the weeks before this one: only what trends need (who, when, tied or not, words), not whole signals
    history = list(repo.signal_trail(session, team_id=team_id, start=hist_start, end=start, customer_ids=ids)) + list(
        signals
    )
    moves = repo.milestone_events_between(session, team_id=team_id, start=start, end=end)
    last_signal = repo.last_signal_at(session, team_id=team_id, ids=None if scope == "portfolio" else ids)
    decided = repo.decision_dates(session, team_id=team_id, since=hist_start)
    medians = segment_medians(repo.achieved_by_segment(session, team_id=team_id))

    by_customer: dict[int, list[Signal]] = defaultdict(list)
    for s in signals:
        by_customer[s.customer_id].append(s)
    hist_by_customer: dict[int, list[Signal]] = defaultdict(list)
    for s in history:
        hist_by_customer[s.customer_id].append(s)
    moves_by_ms: dict[int, list[Any]] = defaultdict(list)
    for ev in moves:
        moves_by_ms[ev.milestone_id].append(ev)

    reviews = impact_reviews(session, custs, as_of, impact_days, channel_id, known=signals, known_since=start)
    # the success gap's candidate phrases, read once for every customer of this digest (bot.themes)
    untied = [s.text for s in history if s.milestone_id is None and s.text]
    phrases = themes.candidates(untied) if len(untied) >= 2 else []
    told: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    for t in repo.outcomes_to_tell(session, team_id=team_id, customer_ids=ids, since=start - timedelta(days=7)):
        told[t.customer_id].append((t.summary, t.told_at is not None))
    # Slack Connect: the customers' questions and requests still waiting for the team's answer (two weeks back)
    waiting: dict[int, list[tuple[str, str | None, str | None, int]]] = defaultdict(list)
    for w in connect_repo.waiting(session, team_id=team_id, since=as_of - timedelta(days=14), customer_ids=ids):
        if w.posted_at <= as_of:
            hours = int((as_of - w.posted_at).total_seconds() // 3600)
            waiting[w.customer_id].append((w.text, w.author_name or names.get(w.user_id or ""), w.permalink, hours))
    churn_weight: dict[str, int] = {}
    people: set[str] = set()
    for c in custs:
        sec = customer_section(
            c,
            by_customer.get(c.id, []),
            hist_by_customer.get(c.id, []),
            moves_by_ms,
            as_of,
            channel_id,
            medians.get(c.segment or ""),
            hist_start,
            names,
            focus,
            phrases,
        )
        sec.impact = reviews.get(c.id, [])
        sec.told = told.get(c.id, [])
        sec.waiting = waiting.get(c.id, [])
        if sec.kinds.get("churn-risk"):
            dg.churn.append((c.name, sec.kinds["churn-risk"]))
            # churn flags in the customer's own words come first: first-hand counts twice
            churn_weight[c.name] = sec.kinds["churn-risk"] + sec.first_hand_weighted.get("churn-risk", 0)
        status = ms.customer_status(c, as_of, last_signal.get(c.id))
        people.update(s.user_id or s.author_name or "?" for s in by_customer.get(c.id, []))
        dg.signal_count += sec.signal_count
        dg.achieved_count += len(sec.achieved)
        dg.at_risk_count += sum(1 for f in sec.flags if f.kind == "at_risk")
        if status.quiet:
            live = next((m for m in c.milestones if m.status in (ms.IN_PROGRESS, ms.AT_RISK)), None)
            since = status.last_signal or c.created_at
            dg.quiet.append((c.name, max(1, (as_of - since).days // 7), live.title if live else None))
        if c.id not in decided and _heard_in(hist_by_customer.get(c.id, []), hist_start, GAP_WEEKS):
            dg.collecting.append((c.name, len(hist_by_customer[c.id])))
        if sec.signal_count or sec.moves or sec.flags or sec.impact or sec.told or sec.waiting or scope == "customer":
            dg.customers.append(sec)
        elif scope == "watch" and not status.quiet:
            dg.silent.append((c.name, last_week.get(c.id, 0)))
    dg.people = len(people)
    dg.customers.sort(key=lambda s: (not s.focus, -_urgency(s), s.name.casefold()))
    dg.churn.sort(key=lambda x: (-churn_weight.get(x[0], x[1]), -x[1], x[0].casefold()))
    dg.decisions = decisions_for_review(session, team_id, channel_id, week_start, ids)
    return dg


def impact_reviews(
    session: Session,
    custs: list[CustomerCard],
    now: datetime,
    days: int,
    channel_id: str,
    known: Sequence[Any] = (),
    known_since: datetime | None = None,
) -> dict[int, list[Any]]:
    """Progress-vs-impact reviews due this week, per customer: one read of the review windows for all.

    `known`: the live signals of these customers already read (newest first) from `known_since` on, with the
    columns a review reads (the digest's week); only the part of the windows before them is read again."""
    w = timedelta(days=days)
    due = {
        c.id: c
        for c in custs
        for m in c.milestones
        if m.achieved_at is not None
        and m.status == ms.ACHIEVED
        and m.achieved_at + w <= now < m.achieved_at + w + impact.SHOW_FOR
    }
    if not due:
        return {}
    first = now - w - impact.SHOW_FOR - w
    by_customer: dict[int, list[Any]] = defaultdict(list)
    read_until = now
    if known_since is not None and known_since < now:
        read_until = max(first, known_since)
        for sig in known:
            if sig.customer_id in due and first <= sig.posted_at < now:
                by_customer[sig.customer_id].append(sig)
    if first < read_until:
        for sig in repo.signals_between(
            session,
            team_id=custs[0].team_id,
            start=first,
            end=read_until,
            customer_ids=list(due),
            columns=repo.IMPACT_COLUMNS,
        ):
            by_customer[sig.customer_id].append(sig)
    return {cid: impact.due_reviews(c, by_customer.get(cid, []), now, days, channel_id) for cid, c in due.items()}


def _week_index(at: datetime, hist_start: datetime) -> int:
    return int((at - hist_start).total_seconds() // (7 * 86400))


def _heard_in(signals: list[Any], hist_start: datetime, weeks: int) -> bool:
    """Whether the signals fall in at least `weeks` different weeks (counted from hist_start); stops when they do."""
    seen: set[int] = set()
    for s in signals:
        seen.add(_week_index(s.posted_at, hist_start))
        if len(seen) >= weeks:
            return True
    return False


def _urgency(sec: CustomerSection) -> int:
    # a churn risk or a problem in the customer's own words (first-hand) counts twice a team member's report of it
    weighted = sec.first_hand_weighted
    return (
        (sec.kinds.get("churn-risk", 0) + weighted.get("churn-risk", 0)) * 5
        + sum(3 for f in sec.flags if f.kind == "at_risk")
        + len(sec.flags)
        + sec.kinds.get("problem", 0)
        + weighted.get("problem", 0)
    )


def segment_medians(achieved: dict[str, list[list[datetime]]]) -> dict[str, float | None]:
    """Segment -> the median days between consecutive milestones across its customers."""
    return {seg: ms.segment_median_gap(lists) for seg, lists in achieved.items()}


def customer_section(
    c: CustomerCard,
    week_signals: list[Signal],
    history: list[Signal],
    moves_by_ms: dict[int, list[Any]],
    now: datetime,
    channel_id: str,
    median: float | None,
    hist_start: datetime,
    names: dict[str, str],
    focus: Focus | None = None,
    phrases: list[str] | None = None,
) -> CustomerSection:
    live_milestones = ms.live(c.milestones)
    positions = {m.id: m.position for m in live_milestones}
    done, total = ms.progress(live_milestones)
    nxt = ms.next_milestone(live_milestones)
    sec = CustomerSection(
        c.id,
        c.name,
        c.segment,
        c.outcome_required,
        c.outcome_experience,
        done,
        total,
        nxt.position if nxt else None,
        milestones=[(m.position, m.title, m.status) for m in live_milestones],
    )
    rules = ms.segment_rules(c.segment)
    today = now.date()
    quotable = [s for s in week_signals if not s.is_private or s.channel_id == channel_id]
    sec.private_count = len(week_signals) - len(quotable)
    sec.kinds = dict(Counter(s.kind for s in week_signals))
    own_words = [s for s in week_signals if getattr(s, "first_hand", False)]
    sec.first_hand = len(own_words)
    sec.first_hand_weighted = dict(Counter(s.kind for s in own_words))
    name_words = frozenset(themes.words(c.name) + [w for a in _alias_names(c) for w in themes.words(a)])
    sec.quotes = by_priority(fold([_quote(s, positions, names, focus) for s in quotable], name_words))
    sec.focus = any(q.focus for q in sec.quotes)
    evidence_for = _evidence(sec.quotes)
    for m in live_milestones:
        for ev in moves_by_ms.get(m.id, []):
            if ev.from_status != ev.to_status:
                sec.moves.append(Move(m.position, m.title, ev.from_status, ev.to_status, ev.at, ev.reason))
        if (
            m.status == ms.ACHIEVED
            and m.achieved_at
            and any(ev.to_status == ms.ACHIEVED for ev in moves_by_ms.get(m.id, []))
        ):
            sec.achieved.append(Achieved(m.position, m.title, m.achieved_at, m.ask, m.ask_kind))
        evidence = evidence_for.get(m.position)
        if m.status == ms.AT_RISK:
            sec.flags.append(Flag("at_risk", m.position, m.title, _risk_detail(m, now, today), evidence))
        elif ms.is_stalled(m, now, rules.stall_days):
            sec.flags.append(
                Flag("stalled", m.position, m.title, f"no change for {ms.days_unchanged(m, now)} days", evidence)
            )
        if m.due_date is not None and ms.is_overdue(m, today) and m.status != ms.AT_RISK:
            sec.flags.append(
                Flag(
                    "overdue",
                    m.position,
                    m.title,
                    f"due {m.due_date:%b} {m.due_date.day}, {ms.days_overdue(m, today)} days ago",
                    evidence,
                )
            )
    started = c.created_at
    sec.slowdown = (
        ms.slowdown([m.achieved_at for m in live_milestones if m.achieved_at], started, now, median)
        if any(m.status != ms.ACHIEVED for m in live_milestones) and live_milestones
        else None
    )
    sec.states = milestone_states(sec, live_milestones, now, names)
    sec.gap, sec.gap_count = success_gap(c, week_signals, history, hist_start, focus, phrases)
    sec.focus = sec.focus or any(focus.matches(g.theme) for g in sec.gap) if focus else False
    return sec


_MOVED = {"planned": "started", "achieved": "reopened", "at_risk": "back_on_track"}


def milestone_states(
    sec: CustomerSection, milestones: list[MilestoneCard], now: datetime, names: dict[str, str]
) -> list[MilestoneState]:
    """One line per milestone with news this week, in its latest state: an achieved milestone is not also
    listed as started; at risk shows the reason typed with it; every line names the owner."""
    flags: dict[int, list[Flag]] = defaultdict(list)
    for f in sec.flags:
        flags[f.position].append(f)
    achieved = {a.position: a for a in sec.achieved}
    moved: dict[int, Move] = {}
    for mv in sec.moves:
        if mv.to_status == ms.IN_PROGRESS and mv.from_status in _MOVED:
            moved[mv.position] = mv  # the latest move of each milestone wins
    today = now.date()
    out = []
    for m in milestones:
        owner = names.get(m.owner_id or "") or ("someone" if m.owner_id else None)
        details: list[str] = []
        evidence = next((f.evidence for f in flags.get(m.position, []) if f.evidence), None)
        if m.position in achieved and m.status == ms.ACHIEVED:
            a = achieved[m.position]
            state, at, ask = "achieved", a.at, a.ask
        elif m.position in flags:
            kinds = {f.kind for f in flags[m.position]}
            state = "at_risk" if "at_risk" in kinds else "overdue" if "overdue" in kinds else "stalled"
            at, ask = None, None
            if state == "at_risk" and m.risk_reason:
                details.append(m.risk_reason)
            if m.due_date:
                late = ms.days_overdue(m, today)
                details.append(f"due {m.due_date:%b} {m.due_date.day}" + (f", {late} days ago" if late > 0 else ""))
            unchanged = ms.days_unchanged(m, now)
            if unchanged >= 1:
                details.append(f"no change for {unchanged} day{'s' if unchanged != 1 else ''}")
        elif m.position in moved and m.status == ms.IN_PROGRESS:
            state, at, ask = _MOVED[moved[m.position].from_status or "planned"], moved[m.position].at, None
        else:
            continue
        if owner:
            details.append(f"owner {owner}")
        out.append(MilestoneState(m.position, m.title, state, tuple(details), evidence, ask, at))
    return out


def _risk_detail(m: MilestoneCard, now: datetime, today: date) -> str:
    parts = []
    if m.due_date:
        parts.append(f"due {m.due_date:%b} {m.due_date.day}")
    parts.append(f"no change for {ms.days_unchanged(m, now)} days")
    return " · ".join(parts)


def _evidence(quotes: list[Quote]) -> dict[int, Quote]:
    """Per milestone position, the newest problem quote tied to it, to say why it is flagged."""
    out: dict[int, Quote] = {}
    for q in quotes:
        if q.milestone is not None and q.kind in ("churn-risk", "problem"):
            if q.milestone not in out or q.at > out[q.milestone].at:
                out[q.milestone] = q
    return out


def _alias_names(c: Customer | CustomerCard) -> list[str]:
    """A card holds its aliases' names; a stored customer, its alias rows."""
    return list(c.aliases) if isinstance(c, CustomerCard) else [a.alias for a in c.aliases]


def gap_themes(
    c: Customer | CustomerCard, untied: list[Any], phrases: list[str] | None = None
) -> list[tuple[str, list[int]]]:
    """(theme, signal ids) of what a customer's untied signals talk about, most shared first."""
    exclude = themes.words(c.name) + [w for a in _alias_names(c) for w in themes.words(a)]
    return themes.themes([(s.id, s.text) for s in untied], exclude=exclude, min_count=2, limit=8, phrases=phrases)


def success_gap(
    c: CustomerCard,
    week_signals: list[Signal],
    history: list[Signal],
    hist_start: datetime,
    focus: Focus | None = None,
    phrases: list[str] | None = None,
) -> tuple[list[GapTheme], int]:
    """What the customer talks about that no milestone covers: signals tied to no milestone, by theme."""
    untied_week = [s for s in week_signals if s.milestone_id is None]
    if len(untied_week) == 0:
        return [], 0
    untied_hist = [s for s in history if s.milestone_id is None]
    found = gap_themes(c, untied_hist, phrases)
    week_ids = {s.id for s in untied_week}
    when = {s.id: s.posted_at for s in untied_hist}
    out = []
    for theme, ids in found:
        this_week = sum(1 for i in ids if i in week_ids)
        if not this_week:
            continue
        weeks = len({_week_index(when[i], hist_start) for i in ids})
        out.append(GapTheme(theme, this_week, weeks, len(ids)))
    out.sort(key=lambda g: (not (focus and focus.matches(g.theme)), -g.weeks, -g.total, g.theme))
    return out[:4], len(untied_week)


def gap_signal_ids(session: Session, c: Customer, theme: str, now: datetime, tz: str = "UTC") -> list[int]:
    """The untied signals behind one success-gap theme of a customer (the weeks the digest looks at)."""
    from bot.weeks import week_at

    hist_start, _ = week_at(now, tz).previous(GAP_WEEKS - 1).bounds(tz)
    rows = [
        r
        for r in repo.signal_trail(
            session, team_id=c.team_id, start=hist_start, end=now + timedelta(days=1), customer_ids=[c.id]
        )
        if r.milestone_id is None
    ]
    return themes.matching([(r.id, r.text) for r in rows], theme)


def decisions_for_review(
    session: Session, team_id: str, channel_id: str, week_start: datetime, customer_ids: list[int]
) -> list[DecisionItem]:
    """Decisions recorded before this week, not yet held or changed (up to five weeks back): those made in this
    channel, and those about any customer this digest covers, wherever they were recorded."""
    rows: list[Learning] = list(
        repo.decisions_to_review(
            session,
            team_id=team_id,
            channel_id=channel_id,
            before=week_start,
            since=week_start - timedelta(weeks=5),
            customer_ids=customer_ids,
        )
    )
    return [
        DecisionItem(r.id, r.decision or "", r.text, r.owner_id, r.review_on, r.outcome, r.created_at) for r in rows
    ]
