"""Progress versus impact: did the customer feel an achieved milestone?

Some weeks after a milestone is achieved, the customer's signals about it — tied to it, or
whose words match its title or expected impact — are compared in equal windows before and
after: problems and churn-risk counts, mean sentiment, and the newest quotes after.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean

from bot import themes
from bot.cards import CustomerCard, MilestoneCard
from bot.safety import quote
from bot.text import plural
from storage.models import Customer, Milestone, Signal

# a stored customer and milestone, or their cards (a digest reads cards)
AnyCustomer = Customer | CustomerCard
AnyMilestone = Milestone | MilestoneCard

FELT, NOT_YET, REGRESSED, NO_EVIDENCE = "felt", "not yet felt", "regressed", "no evidence"
SENTIMENT_STEP = 0.15  # a change in mean sentiment smaller than this is "no change"
SHOW_FOR = timedelta(weeks=3)  # a review stays in the digest this long after it falls due


def _score(x: float | None) -> str:
    """A mean sentiment as shown: one decimal, signed, never "-0.0"; "–" when there were no signals."""
    if x is None:
        return "–"
    shown = f"{x:+.1f}"
    return "0.0" if shown in ("+0.0", "-0.0") else shown


@dataclass(frozen=True)
class ImpactReview:
    customer: str
    milestone_id: int
    position: int
    title: str
    achieved_at: datetime
    window_days: int
    verdict: str
    problems_before: int
    problems_after: int
    sentiment_before: float | None
    sentiment_after: float | None
    signals_before: int
    signals_after: int
    quotes: tuple[tuple[str, str | None, datetime, str | None], ...]  # text, author, when, permalink
    # problems as the verdict weighed them (the customer's own words count twice); None: as counted
    weighted_before: int | None = None
    weighted_after: int | None = None

    @property
    def question(self) -> str | None:
        if self.verdict != NOT_YET:
            return None
        return (
            f"What are we learning from “{self.title}” not changing {self.customer}'s experience, "
            "and what decision does it affect?"
        )

    def evidence(self) -> str:
        """The figures, worded as they moved, so a verdict never reads against them: "regressed" beside
        "sentiment -0.4 → -0.4" said nothing of what got worse; now each figure says up, down or about the same."""
        if self.verdict == NO_EVIDENCE:
            return f"no signals about it in the {self.window_days} days before or after — no evidence either way"
        weeks = plural(max(1, self.window_days // 7), "week")
        pb, pa = self.problems_before, self.problems_after
        wb = pb if self.weighted_before is None else self.weighted_before
        wa = pa if self.weighted_after is None else self.weighted_after
        moved = "up" if wa > wb else "down" if wa < wb else "unchanged"
        problems = f"problem signals {moved}: {pb} in the {weeks} before → {pa} after"
        if (wb, wa) != (pb, pa):
            problems += f" ({wb} → {wa} with the customer's own words counted twice)"
        sb, sa = self.sentiment_before, self.sentiment_after
        if sb is None or sa is None:
            mood = f"sentiment {_score(sb)} → {_score(sa)}"
        else:
            d = sa - sb
            how = "up" if d > SENTIMENT_STEP else "down" if d < -SENTIMENT_STEP else "about the same"
            mood = f"sentiment {how} ({_score(sb)} → {_score(sa)})"
        return f"{problems} · {mood} · {self.signals_before} → {plural(self.signals_after, 'signal')} about it"

    def line(self) -> str:
        """The digest's line, mrkdwn-safe."""
        emoji = {
            FELT: ":seedling:",
            NOT_YET: ":hourglass:",
            REGRESSED: ":small_red_triangle_down:",
            NO_EVIDENCE: ":grey_question:",
        }[self.verdict]
        text = (
            f"{emoji} *Progress vs impact:* “{quote(self.title)}” achieved {self.achieved_at:%b} "
            f"{self.achieved_at.day} — *{self.verdict}*: {self.evidence()}"
        )
        for body, author, when, link in self.quotes[:1]:
            who = f"{quote(author, 40)}, " if author else ""
            ref = f" <{link}|link>" if link and link.startswith("https://") else ""
            text += f"\n      > “{quote(body, 160)}” — {who}{when:%b} {when.day}{ref}"
        if self.question:
            text += f"\n      :thinking_face: _{quote(self.question)}_"
        return text


def keywords(m: AnyMilestone, customer: AnyCustomer) -> set[str]:
    """Content words of the milestone's title and expected impact, minus the customer's own name."""
    exclude = themes.stems(customer.name)
    return (themes.stems(m.title) | themes.stems(m.expected_impact or "")) - exclude


def is_about(sig: Signal, m: AnyMilestone, words: set[str], stems: dict[int, set[str]] | None = None) -> bool:
    return sig.milestone_id == m.id or _mentions(sig, words, stems)


def _mentions(sig: Signal, words: set[str], stems: dict[int, set[str]] | None) -> bool:
    """The signal's words share two stems with the milestone's (one when it has no more than two)."""
    if stems is not None:
        if sig.id not in stems:
            stems[sig.id] = themes.stems(sig.text)
        mine = stems[sig.id]
    else:
        mine = themes.stems(sig.text)
    shared = mine & words
    return len(shared) >= 2 or (len(words) <= 2 and bool(shared))


PROBLEMS = ("problem", "churn-risk")
FIRST_HAND_WEIGHT = 2


def review(
    customer: AnyCustomer,
    m: AnyMilestone,
    signals: list[Signal],
    window_days: int,
    channel_id: str | None = None,
    stems: dict[int, set[str]] | None = None,
) -> ImpactReview:
    """Compare the customer's signals about m in equal windows before and after it was achieved."""
    assert m.achieved_at is not None
    at = m.achieved_at
    w = timedelta(days=window_days)
    words = keywords(m, customer)
    # `signals` are live ones (deleted signals are never read for a review); the bounds and ids are read once,
    # not per signal (ORM attributes)
    first, last, cid, mid = at - w, at + w, customer.id, m.id
    about = [
        s
        for s in signals
        if s.customer_id == cid
        and first <= s.posted_at < last
        and (s.milestone_id == mid or _mentions(s, words, stems))
    ]
    before = [s for s in about if s.posted_at < at]
    after = [s for s in about if at <= s.posted_at]

    def problems(xs: list[Signal]) -> int:
        return sum(1 for s in xs if s.kind in PROBLEMS)

    def weighted(xs: list[Signal]) -> int:
        # the customer's own words (first-hand, Slack Connect) weigh twice a team member's report of them
        return sum(FIRST_HAND_WEIGHT if getattr(s, "first_hand", False) else 1 for s in xs if s.kind in PROBLEMS)

    pb, pa = problems(before), problems(after)
    wb, wa = weighted(before), weighted(after)
    sb = round(mean(s.sentiment for s in before), 2) if before else None
    sa = round(mean(s.sentiment for s in after), 2) if after else None
    if not before and not after:
        verdict = NO_EVIDENCE
    else:
        ds = sa - sb if sa is not None and sb is not None else 0.0
        worse = wa > wb or ds < -SENTIMENT_STEP
        better = wa < wb or ds > SENTIMENT_STEP
        verdict = REGRESSED if worse and not better else FELT if better and not worse else NOT_YET
    # private channels' text is quoted only in their own channel
    newest = sorted(
        (s for s in after if not s.is_private or s.channel_id == channel_id), key=lambda s: s.posted_at, reverse=True
    )
    quotes = tuple((s.text, s.author_name, s.posted_at, s.permalink) for s in newest[:2] if s.text)
    return ImpactReview(
        customer.name,
        m.id,
        m.position,
        m.title,
        at,
        window_days,
        verdict,
        pb,
        pa,
        sb,
        sa,
        len(before),
        len(after),
        quotes,
        wb,
        wa,
    )


def due_reviews(
    customer: AnyCustomer, signals: list[Signal], now: datetime, window_days: int, channel_id: str | None = None
) -> list[ImpactReview]:
    """Reviews of the customer's achieved milestones whose after-window has closed (shown for three weeks)."""
    out = []
    stems: dict[int, set[str]] = {}
    w = timedelta(days=window_days)
    ordered = sorted(signals, key=lambda s: s.posted_at)  # each review reads only its windows' slice
    times = [s.posted_at for s in ordered]
    for m in customer.milestones:
        if m.status != "achieved" or m.achieved_at is None:
            continue
        due = m.achieved_at + w
        if due <= now < due + SHOW_FOR:
            window = ordered[bisect_left(times, m.achieved_at - w) : bisect_left(times, due)]
            out.append(review(customer, m, window, window_days, channel_id, stems))
    return out
