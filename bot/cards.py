"""Plain, frozen copies of a customer and its milestones: what the renderers (bot/render) are given.

A renderer never reads an ORM row: an attribute it touches could lazy-load (a query in the middle of building Block
Kit, after the session may be gone) and a row can change under it. The domain reads the rows and hands over a card
made at that boundary: `CustomerCard.of(row)`, `MilestoneCard.of(row)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from storage.models import Customer, Milestone


@dataclass(frozen=True, slots=True)
class MilestoneCard:
    id: int
    position: int
    title: str
    status: str
    due_date: date | None
    owner_id: str | None
    expected_impact: str | None
    risk_reason: str | None
    achieved_at: datetime | None
    status_changed_at: datetime
    removed_at: datetime | None

    @classmethod
    def of(cls, m: Milestone) -> MilestoneCard:
        return cls(
            m.id,
            m.position,
            m.title,
            m.status,
            m.due_date,
            m.owner_id,
            m.expected_impact,
            m.risk_reason,
            m.achieved_at,
            m.status_changed_at,
            m.removed_at,
        )


@dataclass(frozen=True, slots=True)
class CustomerCard:
    id: int
    name: str
    name_key: str
    segment: str | None
    outcome_required: str | None
    outcome_experience: str | None
    created_at: datetime
    # every milestone in position order, removed ones too (as Customer.milestones): bot.milestones.live() leaves
    # those out where they must not count
    milestones: tuple[MilestoneCard, ...]

    @classmethod
    def of(cls, c: Customer) -> CustomerCard:
        return cls(
            c.id,
            c.name,
            c.name_key,
            c.segment,
            c.outcome_required,
            c.outcome_experience,
            c.created_at,
            tuple(MilestoneCard.of(m) for m in c.milestones),
        )
