"""A customer's quarter, for the business review: `/loop review <customer> [2026-Q4]`, `signalloop review`.

Milestones achieved in the quarter with their impact verdicts and evidence; milestones at risk or stalled;
what the customer said by kind and theme, against the quarter before; decisions taken and whether they held;
outcomes the customer was told about; and open questions for the meeting. As Block Kit (what does not fit
continues in the thread, as a digest does), as Markdown to share outside Slack, and as a chart.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot import impact, themes
from bot import milestones as ms
from bot.errors import UsageError
from bot.kinds import KIND_ORDER
from bot.render.blocks import MAX_BLOCKS, chunks, context, header, section, to_dicts
from bot.safety import quote, readable
from bot.slack_out import Sent, SlackOut
from bot.text import fmt_date, plural
from bot.weeks import week_of
from storage import repo
from storage.models import Customer

IMPACT_DAYS = 14


@dataclass(frozen=True)
class Quarter:
    year: int
    q: int

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.q}"

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime(self.year, 3 * self.q - 2, 1, tzinfo=UTC)
        end = datetime(self.year + (self.q == 4), 1 if self.q == 4 else 3 * self.q + 1, 1, tzinfo=UTC)
        return start, end

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)


def parse_quarter(text: str | None, now: datetime) -> Quarter:
    if not text:
        return Quarter(now.year, (now.month - 1) // 3 + 1)
    m = re.fullmatch(r"(\d{4})[- ]?q([1-4])|q([1-4])[- ]?(\d{4})", text.strip().casefold())
    if not m:
        raise UsageError(f"“{text}” is not a quarter: write it as 2026-Q4.")
    return Quarter(int(m.group(1)), int(m.group(2))) if m.group(1) else Quarter(int(m.group(4)), int(m.group(3)))


@dataclass(frozen=True)
class Said:
    """One quote as the review shows it: near-identical signals folded into one (as the digest folds them)."""

    text: str
    author: str | None
    at: datetime
    count: int = 1
    others: tuple[str, ...] = ()
    own: bool = False  # Slack Connect: the customer's own people said it

    def who(self) -> str:
        people = [p for p in (self.author, *self.others) if p]
        people = people[:3]
        names = (", ".join(people[:-1]) + " and " + people[-1]) if len(people) > 1 else (people or ["someone"])[0]
        return f"{names} · {self.count}×, {fmt_date(self.at)}" if self.count > 1 else f"{names}, {fmt_date(self.at)}"


@dataclass
class Review:
    customer: str
    quarter: Quarter
    outcome: str | None
    as_of: datetime | None = None  # milestone states are as of this moment: the quarter's end, or now
    milestones: list[tuple[int, str, str, date | None]] = field(default_factory=list)  # position, title, status, due
    achieved: list[tuple[str, datetime, Any]] = field(default_factory=list)  # title, when, ImpactReview
    at_risk: list[tuple[str, str]] = field(default_factory=list)  # title, why
    kinds: dict[str, int] = field(default_factory=dict)
    kinds_before: dict[str, int] = field(default_factory=dict)
    themes: list[tuple[str, int, list[Said]]] = field(default_factory=list)  # theme, signals, quotes (each once)
    decisions: list[tuple[str, str, str | None]] = field(default_factory=list)  # decision, outcome, changed to
    told: list[tuple[str, bool]] = field(default_factory=list)
    asked: list[Said] = field(default_factory=list)  # the customer's questions, folded
    questions: list[str] = field(default_factory=list)  # open questions for the meeting
    weeks: list[Any] = field(default_factory=list)
    signals: int = 0
    signals_before: int = 0


OWN_WORDS = "🗣 "  # Slack Connect: said by the customer's own people in their shared channel


def _own(r: object) -> bool:
    return bool(getattr(r, "first_hand", False))


def _state_at(m: Any, when: datetime) -> tuple[str, datetime, str | None] | None:
    """A milestone's (status, since, reason) as it stood at `when`, from its history; None: not there yet."""
    if m.created_at >= when or (m.removed_at is not None and m.removed_at <= when):
        return None
    state: tuple[str, datetime, str | None] = (ms.PLANNED, m.created_at, None)
    for ev in sorted(m.history, key=lambda e: (e.at, e.id)):
        if ev.at >= when:
            break
        state = (ev.to_status, ev.at, ev.reason)
    return state


def _said(qs: list[Any], names: dict[str, str]) -> list[Said]:
    return [
        Said(readable(q.text, names), q.author, q.at, q.count, tuple(q.others), q.first_hand)
        for q in sorted(qs, key=lambda q: (not q.first_hand, -q.at.timestamp()))
    ]


def build(s: Session, c: Customer, quarter: Quarter, now: datetime) -> Review:
    from bot import digest

    start, end = quarter.bounds()
    p_start, p_end = quarter.previous().bounds()
    rv = Review(c.name, quarter, " | ".join(x for x in (c.outcome_required, c.outcome_experience) if x) or None)
    rv.as_of = as_of = min(now, end)
    rows = repo.signals_between(s, team_id=c.team_id, start=start, end=end, customer_ids=[c.id])
    before = repo.signal_counts_by_customer(s, team_id=c.team_id, start=p_start, end=p_end).get(c.id, 0)
    public = [r for r in rows if not r.is_private]
    rv.signals, rv.signals_before = len(rows), before
    rv.kinds = dict(Counter(r.kind for r in rows))
    prev_rows = repo.signals_between(
        s, team_id=c.team_id, start=p_start, end=p_end, customer_ids=[c.id], columns=repo.IMPACT_COLUMNS
    )
    rv.kinds_before = dict(Counter(r.kind for r in prev_rows))
    names = repo.display_names(s, team_id=c.team_id)
    name_words = frozenset(themes.words(c.name) + [w for a in c.aliases for w in themes.words(a.alias)])
    # every quote once: near-identical signals fold into one line (as in the digest), and a folded quote shown
    # under one heading is not shown again under another
    quotes = {q.signal_id: q for q in (digest._quote(r, {}, names, None) for r in public)}
    shown: set[str] = set()

    def fresh(ids: list[int], kinds: tuple[str, ...] | None = None, n: int = 2) -> list[Said]:
        picked = [quotes[i] for i in ids if i in quotes and (kinds is None or quotes[i].kind in kinds)]
        out = []
        for q in digest.fold(picked, name_words):
            key = digest._fold_key(q.text, name_words)
            if key not in shown:
                shown.add(key)
                out.append(q)
        return _said(out, names)[:n]

    # the customer's questions first: they are what the meeting should answer
    question_ids = [r.id for r in sorted(public, key=lambda r: (not _own(r), -r.posted_at.timestamp()))]
    rv.asked = fresh(question_ids, ("question",), 4)
    # themes by the digest's own rules (bot.digest.gap_themes: the same candidates, stop words and names left out)
    phrases = themes.candidates([r.text for r in public if r.text]) if len(public) >= 2 else []
    for theme, ids in digest.gap_themes(c, public, phrases)[:5]:
        rv.themes.append((theme, len(ids), fresh(sorted(ids, key=lambda i: -quotes[i].at.timestamp()))))
    window = repo.signals_between(
        s,
        team_id=c.team_id,
        start=start - timedelta(days=IMPACT_DAYS),
        end=end + timedelta(days=IMPACT_DAYS),
        customer_ids=[c.id],
        columns=repo.IMPACT_COLUMNS,
    )
    rules = ms.segment_rules(c.segment)
    for m in sorted(c.milestones, key=lambda m: m.position):
        state = _state_at(m, as_of)
        if state is None:
            continue
        status, since, reason = state
        rv.milestones.append((m.position, m.title, status, m.due_date))
        if status == ms.ACHIEVED and start <= since < end:
            verdict = (
                impact.review(c, m, list(window), IMPACT_DAYS)
                if m.achieved_at and since + IMPACT_DAYS_TD <= now
                else None
            )
            rv.achieved.append((m.title, since, verdict))
        elif status == ms.AT_RISK:
            rv.at_risk.append((m.title, reason or m.risk_reason or "marked at risk"))
        elif status == ms.IN_PROGRESS and as_of - since > timedelta(days=rules.stall_days):
            rv.at_risk.append((m.title, f"stalled: no change for {(as_of - since).days} days"))
        elif status != ms.ACHIEVED and m.due_date is not None and m.due_date < as_of.date():
            rv.at_risk.append((m.title, f"overdue since {fmt_date(m.due_date)}"))
    for r in repo.list_learnings(s, team_id=c.team_id, customer_id=c.id, decisions_only=True, limit=200):
        if start <= r.created_at < end:
            said = {"held": "held", "changed": "changed", "still_open": "still open"}.get(r.outcome or "", "to review")
            rv.decisions.append((r.decision or "", said, r.changed_to))
    rv.told = [
        (t.summary, t.told_at is not None)
        for t in repo.outcomes_to_tell(s, team_id=c.team_id, customer_ids=[c.id], since=start)
        if t.created_at < end
    ]
    rv.questions = [
        f"“{t}” was achieved, and they have not felt it yet: what would they notice?"
        for t, _, v in rv.achieved
        if v is not None and v.verdict == impact.NOT_YET
    ]
    rv.questions += [
        f"Decision still open: “{d}” — has it held?"
        for d, state, _ in rv.decisions
        if state in ("still open", "to review")
    ]
    rv.weeks = [
        week_of(start.date() + timedelta(weeks=i)) for i in range(13) if start.date() + timedelta(weeks=i) < end.date()
    ]
    return rv


IMPACT_DAYS_TD = timedelta(days=IMPACT_DAYS)
STATUS_WORDS = {"planned": "planned", "in_progress": "in progress", "at_risk": "at risk", "achieved": "achieved"}


def _change(now: int, before: int) -> str:
    change = (now - before) / before
    return f"{'+' if change >= 0 else ''}{change:.0%} on last quarter"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#])")


def _md(text: str) -> str:
    """Customer words as Markdown text: no character of theirs turns into formatting (GitHub and Slack alike)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def lines(rv: Review, md: bool = False) -> list[tuple[str, list[str]]]:
    """The review's sections as (title, lines); `md` writes Markdown (GitHub), else Slack mrkdwn (escaped)."""

    def q(t: str, n: int = 200) -> str:
        return _md(t) if md else quote(t, n)

    def b(t: str) -> str:
        return f"**{t}**" if md else f"*{t}*"

    bullet = "- " if md else "• "
    # a quote under a list item: indented in Markdown (GitHub nests it), at the line's start in Slack's mrkdwn
    nest = "  > " if md else "> "

    def said(x: Said, n: int = 160) -> str:
        return f"“{(OWN_WORDS if x.own else '')}{q(x.text, n)}” — {q(x.who(), 80)}"

    out: list[tuple[str, list[str]]] = []
    end = rv.quarter.bounds()[1]
    if rv.as_of is None:
        state = ""
    elif rv.as_of >= end:
        last = end - timedelta(days=1)
        state = f"at the quarter's end, {fmt_date(last)} {last.year}"
    else:
        state = f"as of {fmt_date(rv.as_of)} {rv.as_of.year}"
    out.append(
        (
            f"Milestones ({state})" if state else "Milestones",
            [
                f"{bullet}{pos}. {q(t)} — {STATUS_WORDS.get(st, st)}" + (f", due {fmt_date(due)}" if due else "")
                for pos, t, st, due in rv.milestones
            ]
            or [f"{bullet}none"],
        )
    )
    out.append(
        (
            "Milestones achieved",
            [
                f"{bullet}{q(t)} — {fmt_date(at)}"
                + (f": {b(v.verdict)} ({q(v.evidence(), 400)})" if v else ": impact review not due yet")
                for t, at, v in rv.achieved
            ]
            or [f"{bullet}none this quarter"],
        )
    )
    out.append(("At risk or stalled", [f"{bullet}{q(t)} — {q(why)}" for t, why in rv.at_risk] or [f"{bullet}nothing"]))
    new = rv.signals_before == 0 and rv.signals > 0
    head = plural(rv.signals, "signal")
    if new:
        head += " — all new this quarter (none the quarter before)"
    elif rv.signals_before:
        head += f" ({_change(rv.signals, rv.signals_before)})"
    said_lines = [head]
    for k in KIND_ORDER:
        now_k, before_k = rv.kinds.get(k, 0), rv.kinds_before.get(k, 0)
        if now_k or before_k:
            said_lines.append(f"{bullet}{k}: {now_k}" + (f" ({_change(now_k, before_k)})" if before_k else ""))
    for theme, n, quotes in rv.themes:
        said_lines.append(f"{bullet}{b(q(theme, 60))} — {plural(n, 'signal')}")
        said_lines += [nest + said(x) for x in quotes]
    out.append(("What they said", said_lines))
    out.append(
        (
            "Decisions and whether they held",
            [f"{bullet}“{q(d)}” — {b(state)}" + (f" → now “{q(ch)}”" if ch else "") for d, state, ch in rv.decisions]
            or [f"{bullet}no decision recorded this quarter"],
        )
    )
    out.append(
        (
            "Outcomes they were told about",
            [f"{bullet}{'told' if done else 'not told yet'}: {q(t)}" for t, done in rv.told]
            or [f"{bullet}none recorded"],
        )
    )
    meeting = [f"{bullet}They asked: {said(x)}" for x in rv.asked] + [f"{bullet}{q(x)}" for x in rv.questions]
    out.append(("Open questions for the meeting", meeting or [f"{bullet}none"]))
    return out


def markdown(rv: Review) -> str:
    """The review as Markdown (GitHub's, which Slack shows as a file): headings, lists, quotes; ends in a newline."""
    text = [f"# {_md(rv.customer)} — quarterly review {rv.quarter.label}", ""]
    if rv.outcome:
        text += [f"_Desired outcome: {_md(rv.outcome)}_", ""]
    for title, body in lines(rv, md=True):
        text += [f"## {title}", "", *body, ""]
    return "\n".join(text).rstrip("\n") + "\n"


def as_json(rv: Review) -> dict[str, Any]:
    """The review as a structured document (its schema is in the README, "Quarterly review")."""

    def quote_doc(x: Said) -> dict[str, Any]:
        return {
            "text": x.text,
            "author": x.author,
            "posted_at": x.at.isoformat(),
            "count": x.count,
            "also_from": list(x.others),
            "customer_own_words": x.own,
        }

    start, end = rv.quarter.bounds()
    return {
        "customer": rv.customer,
        "quarter": rv.quarter.label,
        "period": {"start": start.date().isoformat(), "end": (end - timedelta(days=1)).date().isoformat()},
        "as_of": rv.as_of.isoformat() if rv.as_of else None,
        "desired_outcome": rv.outcome,
        "milestones": [
            {"position": p, "title": t, "status": st, "due_date": due.isoformat() if due else None}
            for p, t, st, due in rv.milestones
        ],
        "achieved": [
            {
                "title": t,
                "achieved_at": at.isoformat(),
                "verdict": v.verdict if v else None,
                "evidence": v.evidence() if v else "impact review not due yet",
                "figures": (
                    {
                        "problems_before": v.problems_before,
                        "problems_after": v.problems_after,
                        "sentiment_before": v.sentiment_before,
                        "sentiment_after": v.sentiment_after,
                        "signals_before": v.signals_before,
                        "signals_after": v.signals_after,
                        "window_days": v.window_days,
                    }
                    if v
                    else None
                ),
            }
            for t, at, v in rv.achieved
        ],
        "at_risk": [{"title": t, "why": why} for t, why in rv.at_risk],
        "signals": {"this_quarter": rv.signals, "previous_quarter": rv.signals_before},
        "kinds": {
            k: {"this_quarter": rv.kinds.get(k, 0), "previous_quarter": rv.kinds_before.get(k, 0)}
            for k in KIND_ORDER
            if rv.kinds.get(k) or rv.kinds_before.get(k)
        },
        "themes": [{"theme": t, "signals": n, "quotes": [quote_doc(x) for x in qs]} for t, n, qs in rv.themes],
        "decisions": [{"decision": d, "state": st, "changed_to": ch} for d, st, ch in rv.decisions],
        "told": [{"outcome": t, "told": done} for t, done in rv.told],
        "questions": {"asked": [quote_doc(x) for x in rv.asked], "for_the_meeting": rv.questions},
    }


def messages(rv: Review) -> list[tuple[str, list[dict[str, Any]]]]:
    """The review as Slack messages: the first is posted, the rest continue in its thread."""
    fallback = f"{rv.customer}: quarterly review {rv.quarter.label}"
    blocks: list[Any] = [header(f"{rv.customer} — quarterly review {rv.quarter.label}"[:150])]
    if rv.outcome:
        blocks.append(context(f"_Desired outcome: {quote(rv.outcome)}_"))
    for title, body in lines(rv):
        blocks += [section(chunk) for chunk in chunks([f"*{title}*", *body])]
    out: list[tuple[str, list[dict[str, Any]]]] = []
    while blocks:
        out.append((fallback if not out else f"{fallback} (continued)", to_dicts(blocks[:MAX_BLOCKS])))
        blocks = blocks[MAX_BLOCKS:]
    return out


def quarter_of(d: date) -> Quarter:
    return Quarter(d.year, (d.month - 1) // 3 + 1)


def post(
    s: Session,
    slack: SlackOut,
    team_id: str,
    channel_id: str,
    c: Customer,
    quarter: Quarter,
    now: datetime,
) -> Sent:
    """Post the review in a channel (the rest in its thread), with the Markdown file and the chart; the first
    message's result (its error when Slack refused it, and then nothing else is sent)."""
    from bot.chart import counts, plot

    rv = build(s, c, quarter, now)
    msgs = messages(rv)
    first = slack.post(team_id, channel_id, msgs[0][0], msgs[0][1], what=f"the review of {c.name}")
    if not first.ok or first.ts is None:
        return first
    ts = first.ts
    for text, blocks in msgs[1:]:
        slack.post(team_id, channel_id, text, blocks, thread_ts=ts, what="a review continuation")
    sent, done = counts(s, c.team_id, [c.id], rv.weeks, "UTC")
    stem = f"{re.sub(r'[^A-Za-z0-9]+', '-', c.name)}-{quarter.label}"
    slack.upload(
        team_id,
        channel_id,
        markdown(rv).encode("utf-8"),
        f"{stem}.md",
        f"{c.name} — quarterly review {quarter.label} (Markdown)",
        thread_ts=ts,
        what="the review's Markdown",
    )
    slack.upload(
        team_id,
        channel_id,
        plot(rv.weeks, sent, done, f"{c.name}: signals by week and milestones achieved, {quarter.label}"),
        f"{stem}.png",
        f"{c.name} — signals and milestones, {quarter.label}",
        thread_ts=ts,
        what="the review's chart",
    )
    return first
