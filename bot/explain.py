"""One line of explanation the first time a digest section appears in a channel: a newcomer meets "success gap",
"progress vs impact" and "collecting without acting" with what they mean, once; later digests do without."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage import repo

EXPLANATIONS = {
    "impact": "Progress vs impact: two weeks after a milestone is achieved, the customer's signals about it before "
    "and after are compared — did they feel it?",
    "gap": "Success gap: what a customer keeps talking about that none of their milestones covers — a candidate "
    "for a new milestone.",
    "collecting": "Collecting without acting: three weeks of a customer's signals and no decision recorded — "
    "what are we learning, and what will we do about it?",
}


def sections_of(dg: Any) -> set[str]:
    """The explained sections this digest shows."""
    out = set()
    if any(sec.impact for sec in dg.customers):
        out.add("impact")
    if any(sec.gap for sec in dg.customers):
        out.add("gap")
    if dg.collecting:
        out.add("collecting")
    return out


def seen(s: Session, team_id: str, channel_id: str, week_label: str) -> set[str]:
    """The sections the channel's earlier posted digests showed (another week's)."""
    rows = repo.posted_sections(s, team_id=team_id, channel_id=channel_id, other_than_week=week_label)
    return {k for row in rows for k in row.split(",") if k}


def mark(s: Session, dg: Any) -> None:
    """Which sections to explain in this digest: those the channel's earlier digests never showed."""
    dg.explain = sections_of(dg) - seen(s, dg.team_id, dg.channel_id, dg.week.label)


def recorded(dg: Any) -> str:
    """What the digest's run records once posted."""
    return ",".join(sorted(sections_of(dg)))
