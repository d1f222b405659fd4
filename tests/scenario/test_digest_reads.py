"""The digest reads customers as plain rows into cards (storage.repo.customer_records, bot.cards.from_records):
the same customers, milestones and aliases, in the same order, as the ORM's list_customers gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.cards import CustomerCard, from_records
from storage import repo
from storage.models import Milestone

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def test_customer_records_give_the_cards_list_customers_gives(sf) -> None:  # noqa: ANN001
    with sf.begin() as s:
        for i, (name, segment) in enumerate(
            [("Zeta", None), ("acme", "smb"), ("Brightside", "enterprise"), ("Acme Two", "smb"), ("Other team", "smb")]
        ):
            team = "T2" if name == "Other team" else "T1"
            c = repo.add_customer(s, team_id=team, name=name, key=name.casefold(), segment=segment, now=NOW)
            for alias in [f"{name} Ltd", f"{name} Group"] if i % 2 else []:
                repo.add_alias(s, customer=c, alias=alias, key=alias.casefold())
            for pos in (3, 1, 2)[: i + 1]:
                s.add(
                    Milestone(
                        team_id=team,
                        customer_id=c.id,
                        position=pos,
                        title=f"{name} milestone {pos}",
                        status="achieved" if pos == 1 else "at_risk",
                        due_date=date(2026, 12, pos),
                        owner_id="U1" if pos == 2 else None,
                        expected_impact="fewer corrections" if pos == 1 else None,
                        ask="a case study" if pos == 1 else None,
                        ask_kind="advocacy" if pos == 1 else None,
                        risk_reason="blocked on IT" if pos == 3 else None,
                        achieved_at=NOW - timedelta(days=pos) if pos == 1 else None,
                        removed_at=NOW if pos == 3 and i == 3 else None,
                        status_changed_at=NOW - timedelta(days=10 * pos),
                        created_at=NOW,
                    )
                )
    with sf() as s:
        for ids in (None, [], [1, 3], [2, 5]):
            stored = repo.list_customers(s, team_id="T1", ids=ids)
            expected = [(CustomerCard.of(c), "T1", tuple(a.alias for a in c.aliases)) for c in stored]
            cards = from_records(repo.customer_records(s, team_id="T1", ids=ids))
            got = [
                (
                    CustomerCard(
                        *[
                            getattr(c, f)
                            for f in (
                                "id",
                                "name",
                                "name_key",
                                "segment",
                                "outcome_required",
                                "outcome_experience",
                                "created_at",
                                "milestones",
                            )
                        ]
                    ),
                    c.team_id,
                    c.aliases,
                )
                for c in cards
            ]
            assert got == expected
        everyone = from_records(repo.customer_records(s, team_id="T1"))
        assert [c.name for c in everyone] == ["Brightside", "acme", "Acme Two", "Zeta"]  # by segment, then name
        assert sum(len(c.milestones) for c in everyone) == 9 and any(c.aliases for c in everyone)
        assert everyone[1].milestones[0].ask == "a case study"  # what the digest's "achieved" line offers
