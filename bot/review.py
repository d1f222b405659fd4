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
from bot.kinds import KIND_ORDER, kind_count
from bot.render.blocks import MAX_BLOCKS, chunks, context, header, section, to_dicts
from bot.safety import quote, readable
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


@dataclass
class Review:
    customer: str
    quarter: Quarter
    outcome: str | None
    achieved: list[tuple[str, datetime, Any]] = field(default_factory=list)  # title, when, ImpactReview
    at_risk: list[tuple[str, str]] = field(default_factory=list)  # title, why
    kinds: dict[str, int] = field(default_factory=dict)
    kinds_before: dict[str, int] = field(default_factory=dict)
    themes: list[tuple[str, int, list[str]]] = field(default_factory=list)  # theme, signals, two quotes
    decisions: list[tuple[str, str, str | None]] = field(default_factory=list)  # decision, outcome, changed to
    told: list[tuple[str, bool]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    weeks: list = field(default_factory=list)
    signals: int = 0
    signals_before: int = 0


OWN_WORDS = "🗣 "  # Slack Connect: said by the customer's own people in their shared channel


def _own(r: object) -> bool:
    return bool(getattr(r, "first_hand", False))


def build(s: Session, c: Customer, quarter: Quarter, now: datetime) -> Review:
    start, end = quarter.bounds()
    p_start, p_end = quarter.previous().bounds()
    rv = Review(c.name, quarter, " | ".join(x for x in (c.outcome_required, c.outcome_experience) if x) or None)
    rows = repo.signals_between(s, c.team_id, start, end, [c.id])
    before = repo.signal_counts_by_customer(s, c.team_id, p_start, p_end).get(c.id, 0)
    public = [r for r in rows if not r.is_private]
    rv.signals, rv.signals_before = len(rows), before
    rv.kinds = dict(Counter(r.kind for r in rows))
    prev_rows = repo.signals_between(s, c.team_id, p_start, p_end, [c.id], columns=repo.IMPACT_COLUMNS)
    rv.kinds_before = dict(Counter(r.kind for r in prev_rows))
    names = repo.display_names(s, c.team_id)
    exclude = themes.words(c.name) + [w for a in c.aliases for w in themes.words(a.alias)]
    by_id = {r.id: r for r in public}
    for theme, ids in themes.themes([(r.id, r.text) for r in public], exclude=exclude, min_count=2, limit=5):
        # the customer's own words (first-hand, Slack Connect) lead, marked; then the newest
        newest = sorted((by_id[i] for i in ids), key=lambda r: (not _own(r), -r.posted_at.timestamp()))[:2]
        rv.themes.append((theme, len(ids), [OWN_WORDS * _own(r) + readable(r.text, names) for r in newest]))
    window = repo.signals_between(
        s,
        c.team_id,
        start - timedelta(days=IMPACT_DAYS),
        end + timedelta(days=IMPACT_DAYS),
        [c.id],
        columns=repo.IMPACT_COLUMNS,
    )
    for m in ms.live(c.milestones):
        if m.achieved_at and start <= m.achieved_at < end and m.status == ms.ACHIEVED:
            verdict = (
                impact.review(c, m, list(window), IMPACT_DAYS)
                if m.achieved_at + timedelta(days=IMPACT_DAYS) <= now
                else None
            )
            rv.achieved.append((m.title, m.achieved_at, verdict))
        elif m.status == ms.AT_RISK:
            rv.at_risk.append((m.title, m.risk_reason or "marked at risk"))
        elif ms.is_stalled(m, min(now, end), ms.segment_rules(c.segment).stall_days):
            rv.at_risk.append((m.title, f"stalled: no change for {ms.days_unchanged(m, min(now, end))} days"))
        elif ms.is_overdue(m, min(now, end).date()):
            rv.at_risk.append((m.title, f"overdue since {fmt_date(m.due_date)}"))
    for r in repo.learnings(s, c.team_id, customer_id=c.id, decisions_only=True, limit=200):
        if start <= r.created_at < end:
            state = {"held": "held", "changed": "changed", "still_open": "still open"}.get(r.outcome or "", "to review")
            rv.decisions.append((r.decision or "", state, r.changed_to))
    rv.told = [
        (t.summary, t.told_at is not None)
        for t in repo.outcomes_to_tell(s, c.team_id, [c.id], start)
        if t.created_at < end
    ]
    asked = [
        OWN_WORDS * _own(r) + readable(r.text, names)
        for r in sorted(public, key=lambda r: (not _own(r), -r.posted_at.timestamp()))
        if r.kind == "question"
    ][:4]
    rv.questions = [f"They asked: “{q}”" for q in asked]
    rv.questions += [
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


def _trend(now: int, before: int) -> str:
    if before == 0:
        return "new this quarter" if now else "none"
    change = (now - before) / before
    return f"{'+' if change >= 0 else ''}{change:.0%} on last quarter"


def lines(rv: Review, md: bool = False) -> list[tuple[str, list[str]]]:
    """The review's sections as (title, lines); `md` writes plain Markdown, else Slack mrkdwn (escaped)."""

    def q(t: str, n: int = 200) -> str:
        return t if md else quote(t, n)

    out: list[tuple[str, list[str]]] = []
    out.append(
        (
            "Milestones achieved",
            [
                f"• {q(t)} — {fmt_date(at)}"
                + (f": *{v.verdict}* ({v.evidence()})" if v else ": impact review not due yet")
                for t, at, v in rv.achieved
            ]
            or ["• none this quarter"],
        )
    )
    out.append(("At risk or stalled", [f"• {q(t)} — {q(why)}" for t, why in rv.at_risk] or ["• nothing"]))
    said = [
        f"{plural(rv.signals, 'signal')} ({_trend(rv.signals, rv.signals_before)}): "
        + (" · ".join(kind_count(k, rv.kinds[k]) for k in KIND_ORDER if rv.kinds.get(k)) or "none")
    ]
    for k in KIND_ORDER:
        if rv.kinds.get(k) or rv.kinds_before.get(k):
            said.append(f"• {k}: {rv.kinds.get(k, 0)} ({_trend(rv.kinds.get(k, 0), rv.kinds_before.get(k, 0))})")
    for theme, n, quotes in rv.themes:
        said.append(f"• *{q(theme, 60)}* — {plural(n, 'signal')}" + "".join(f"\n    > “{q(x, 160)}”" for x in quotes))
    out.append(("What they said", said))
    out.append(
        (
            "Decisions and whether they held",
            [f"• “{q(d)}” — *{state}*" + (f" → now “{q(ch)}”" if ch else "") for d, state, ch in rv.decisions]
            or ["• no decision recorded this quarter"],
        )
    )
    out.append(
        (
            "Outcomes they were told about",
            [f"• {'told' if done else 'not told yet'}: {q(t)}" for t, done in rv.told] or ["• none recorded"],
        )
    )
    out.append(("Open questions for the meeting", [f"• {q(x)}" for x in rv.questions] or ["• none"]))
    return out


def markdown(rv: Review) -> str:
    """The review as Markdown, to share outside Slack."""
    text = [f"# {rv.customer} — quarterly review {rv.quarter.label}", ""]
    if rv.outcome:
        text += [f"_Desired outcome: {rv.outcome}_", ""]
    for title, body in lines(rv, md=True):
        text += [f"## {title}", "", *[b.replace("*", "**") for b in body], ""]
    return "\n".join(text)


def messages(rv: Review) -> list[tuple[str, list[dict]]]:
    """The review as Slack messages: the first is posted, the rest continue in its thread."""
    fallback = f"{rv.customer}: quarterly review {rv.quarter.label}"
    blocks: list[Any] = [header(f"{rv.customer} — quarterly review {rv.quarter.label}"[:150])]
    if rv.outcome:
        blocks.append(context(f"_Desired outcome: {quote(rv.outcome)}_"))
    for title, body in lines(rv):
        blocks += [section(chunk) for chunk in chunks([f"*{title}*", *body])]
    out = []
    while blocks:
        out.append((fallback if not out else f"{fallback} (continued)", to_dicts(blocks[:MAX_BLOCKS])))
        blocks = blocks[MAX_BLOCKS:]
    return out


def quarter_of(d: date) -> Quarter:
    return Quarter(d.year, (d.month - 1) // 3 + 1)


def post(
    s: Session,
    client: Any,
    team_id: str,
    channel_id: str,
    c: Customer,
    quarter: Quarter,
    now: datetime,
    pacer: Any = None,
) -> str | None:
    """Post the review in a channel (the rest in its thread), with the Markdown file and the chart; the first ts."""
    from bot.chart import counts, plot

    rv = build(s, c, quarter, now)
    msgs = messages(rv)
    wait = pacer.wait if pacer is not None else (lambda _channel: None)
    wait(channel_id)
    first = client.chat_postMessage(channel=channel_id, text=msgs[0][0], blocks=msgs[0][1], unfurl_links=False)
    ts = first["ts"]
    for text, blocks in msgs[1:]:
        wait(channel_id)
        client.chat_postMessage(channel=channel_id, thread_ts=ts, text=text, blocks=blocks, unfurl_links=False)
    sent, done = counts(s, c.team_id, [c.id], rv.weeks, "UTC")
    wait(channel_id)
    client.files_upload_v2(
        channel=channel_id,
        thread_ts=ts,
        content=markdown(rv).encode("utf-8"),
        filename=f"{re.sub(r'[^A-Za-z0-9]+', '-', c.name)}-{quarter.label}.md",
        title=f"{c.name} — quarterly review {quarter.label} (Markdown)",
    )
    wait(channel_id)
    client.files_upload_v2(
        channel=channel_id,
        thread_ts=ts,
        content=plot(rv.weeks, sent, done, f"{c.name}: signals by week and milestones achieved, {quarter.label}"),
        filename=f"{re.sub(r'[^A-Za-z0-9]+', '-', c.name)}-{quarter.label}.png",
        title=f"{c.name} — signals and milestones, {quarter.label}",
    )
    return ts
