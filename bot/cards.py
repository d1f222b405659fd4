"""Plain, frozen copies of a customer and its milestones: what the renderers (bot/render) are given.

A renderer never reads an ORM row: an attribute it touches could lazy-load (a query in the middle of building Block
Kit, after the session may be gone) and a row can change under it. The domain reads the rows and hands over a card
made at that boundary: `CustomerCard.of(row)`, `MilestoneCard.of(row)`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from storage.models import Customer, Milestone
from storage.repo import CustomerRecords


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
    ask: str | None = None  # suggested advocacy/expansion ask when achieved
    ask_kind: str | None = None

    @classmethod
    def of(cls, m: Milestone | Any) -> MilestoneCard:
        """The card of a milestone: its ORM row, or a plain row of the same columns (`repo.customer_records`)."""
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
            m.ask,
            m.ask_kind,
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
    team_id: str = ""
    aliases: tuple[str, ...] = ()  # given to `of` (from_records gives them; an ORM row's are not read)

    @classmethod
    def of(
        cls,
        c: Customer | Any,
        milestones: Iterable[MilestoneCard] | None = None,
        team_id: str = "",
        aliases: Iterable[str] = (),
    ) -> CustomerCard:
        """The card of a customer: its ORM row (its milestones read from it), or a plain row of the same columns
        with its milestones' cards, workspace and aliases given (`from_records`)."""
        return cls(
            c.id,
            c.name,
            c.name_key,
            c.segment,
            c.outcome_required,
            c.outcome_experience,
            c.created_at,
            tuple(MilestoneCard.of(m) for m in c.milestones) if milestones is None else tuple(milestones),
            team_id,
            tuple(aliases),
        )


def from_records(records: CustomerRecords) -> list[CustomerCard]:
    """Cards of the customers read as plain rows (`storage.repo.customer_records`), in their order, each with its
    milestones and aliases."""
    milestones: dict[int, list[MilestoneCard]] = defaultdict(list)
    for m in records.milestones:
        milestones[m.customer_id].append(MilestoneCard.of(m))
    aliases: dict[int, list[str]] = defaultdict(list)
    for customer_id, alias in records.aliases:
        aliases[customer_id].append(alias)
    return [CustomerCard.of(c, milestones.get(c.id, ()), c.team_id, aliases.get(c.id, ())) for c in records.customers]
