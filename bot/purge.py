"""Deleting a customer (`signalloop purge`, `/loop forget`): show exactly what would go, then delete it all at once.

Both say which customer a name resolved to (an alias names its customer), list every kind of row that would be
deleted with its count, and delete only when confirmed (`--yes`, or the confirm button), in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot import customers as cust
from bot.text import plural
from storage import repo
from storage.models import Customer


@dataclass
class Target:
    customer: Customer
    via_alias: str | None  # the alias the name matched, when it was not the customer's own name
    footprint: repo.Footprint


def find(s: Session, team_id: str, name: str) -> Target | cust.NoMatch:
    found = cust.resolve_exact(s, team_id, name)
    if isinstance(found, cust.NoMatch):
        return found
    via = None if cust.key(name) == found.name_key else cust.clean_name(name)
    return Target(found, via, repo.customer_footprint(s, team_id=team_id, customer_id=found.id))


def resolved(t: Target) -> str | None:
    """“Harbor” is an alias of Harbor Logistics: said before anything else, so nobody deletes the wrong one."""
    return f"“{t.via_alias}” is an alias of {t.customer.name}." if t.via_alias else None


def items(t: Target, channel: str = "{}") -> list[str]:
    """What would be deleted, one line per kind of row (`channel` formats a channel id: `<#{}>` in Slack)."""
    fp, c = t.footprint, t.customer
    links = ", ".join(channel.format(cid) + (" (watch)" if kind == "watch" else "") for cid, kind in fp.links)
    return [
        f"the customer {c.name}" + (f" (segment {c.segment})" if c.segment else ""),
        plural(len(fp.aliases), "alias", "aliases") + (f": {', '.join(fp.aliases)}" if fp.aliases else ""),
        plural(len(fp.links), "channel link")
        + (f": {links} (the channels stay; they stop recording)" if links else ""),
        plural(fp.milestones, "milestone") + " and their history",
        plural(fp.signals, "signal"),
        plural(fp.learnings, "learning") + " naming it",
        plural(fp.outbox, "outbox row") + " (messages queued or sent about it)",
        plural(fp.nudges, "nudge record") + ", " + plural(fp.told, "outcome to tell", "outcomes to tell"),
    ]


def done(t: Target) -> str:
    fp = t.footprint
    return (
        f"Deleted {t.customer.name}: {plural(fp.signals, 'signal')}, {plural(fp.milestones, 'milestone')}, "
        f"{plural(fp.learnings, 'learning')}, {plural(len(fp.aliases), 'alias', 'aliases')}, "
        f"{plural(len(fp.links), 'channel link')}, {plural(fp.outbox, 'outbox row')}."
    )


def forget_by_id(s: Session, team_id: str, value: str) -> str | None:
    """Delete the customer a confirm button named and everything stored about it; what was deleted, or None
    when it is already gone."""
    c = cust.by_id(s, team_id, value)
    if c is None:
        return None
    t = Target(c, None, repo.customer_footprint(s, team_id=team_id, customer_id=c.id))
    repo.forget_customer(s, team_id=team_id, customer_id=c.id)
    return done(t)
