"""A PNG of the last weeks: signals per week by sentiment, and milestones achieved over time (matplotlib)."""

from __future__ import annotations

import io
from datetime import datetime

from sqlalchemy.orm import Session

from bot.digest import Digest
from bot.weeks import Week
from storage import repo

WEEKS = 8


def weekly_counts(
    session: Session, dg: Digest, weeks: int = WEEKS
) -> tuple[list[Week], list[tuple[int, int, int]], list[int]]:
    """(weeks, [(negative, neutral, positive) signals], [milestones achieved]) for the digest's customers."""
    ids = [c.customer_id for c in dg.customers] or [-1]
    ws = [dg.week.previous(n) for n in range(weeks - 1, -1, -1)]
    return (ws, *counts(session, dg.team_id, ids, ws, dg.tz))


def counts(
    session: Session, team_id: str, ids: list[int], ws: list[Week], tz: str
) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Per week: (negative, neutral, positive) signals, and milestones achieved, for some customers."""
    start, _ = ws[0].bounds(tz)
    _, end = ws[-1].bounds(tz)
    rows = repo.sentiments_between(session, team_id=team_id, customer_ids=ids, start=start, end=end)
    achieved = repo.achieved_between(session, team_id=team_id, customer_ids=ids, start=start, end=end)
    bounds = [w.bounds(tz) for w in ws]

    def index(at: datetime) -> int:
        return next(i for i, (a, b) in enumerate(bounds) if a <= at < b)

    sent = [[0, 0, 0] for _ in ws]
    for at, score in rows:
        sent[index(at)][0 if score < -0.1 else 2 if score > 0.1 else 1] += 1
    done = [0 for _ in ws]
    for when in achieved:
        done[index(when)] += 1
    return [(neg, neu, pos) for neg, neu, pos in sent], done


def render_png(session: Session, dg: Digest) -> bytes:
    ws, sent, done = weekly_counts(session, dg)
    return plot(ws, sent, done, f"Signals by sentiment and milestones achieved — up to week {dg.week.week}")


def plot(ws: list[Week], sent: list[tuple[int, int, int]], done: list[int], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"W{w.week}" for w in ws]
    neg, neu, pos = ([s[i] for s in sent] for i in range(3))
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.bar(labels, neg, color="#d9534f", label="negative")
    ax.bar(labels, neu, bottom=neg, color="#bbbbbb", label="neutral")
    ax.bar(labels, pos, bottom=[a + b for a, b in zip(neg, neu, strict=True)], color="#5cb85c", label="positive")
    ax.set_ylabel("signals per week")
    ax2 = ax.twinx()
    cumulative = [sum(done[: i + 1]) for i in range(len(done))]
    ax2.plot(labels, cumulative, color="#2c3e50", marker="o", label="milestones achieved (cumulative)")
    ax2.set_ylabel("milestones achieved")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
