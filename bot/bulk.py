"""Customers in and out by the hundred: a CSV import (CLI or a Slack modal) and exports of everything.

The CSV has a header row; columns, any order, case-insensitive:
    name (required), segment, aliases (separated by ;), outcome (the outcome they need), experience (the
    experience they need it in), owner (a Slack user id, or an e-mail resolved with users.lookupByEmail),
    channel (a channel id, or #name), milestones (separated by ;, each "title" or "title due YYYY-MM-DD")
Importing is idempotent: a row names its customer, an existing customer is updated, a second run changes
nothing. Every bad row is reported with its line number and why, and left out whole (everything that could
refuse a row is checked before any of it is written); the good rows are imported in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot import customers as cust
from bot import milestones as ms
from bot.commands.customers import RESERVED
from bot.commands.parsing import check_name
from bot.errors import UsageError
from storage import repo
from storage.models import Customer

COLUMNS = ("name", "segment", "aliases", "outcome", "experience", "owner", "channel", "milestones")
ALIASES = {
    "customer": "name",
    "desired outcome": "outcome",
    "outcome need": "outcome",
    "need": "outcome",
    "outcome_need": "outcome",
    "outcome_experience": "experience",
    "linked channel": "channel",
    "owner email": "owner",
    "owner_email": "owner",
}
MAX_ROWS = 5000


@dataclass
class Row:
    line: int
    name: str
    segment: str | None = None
    aliases: list[str] = field(default_factory=list)
    outcome: str | None = None
    experience: str | None = None
    owner: str | None = None
    channel: str | None = None
    milestones: list[tuple[str, date | None]] = field(default_factory=list)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        parts = [
            f"{self.created} {verb} created".replace("  ", " "),
            f"{self.updated} {verb} updated".replace("  ", " "),
            f"{self.unchanged} unchanged",
        ]
        head = ("Dry run: " if self.dry_run else "") + ", ".join(parts)
        if self.errors:
            head += f"; {len(self.errors)} row{'s' if len(self.errors) != 1 else ''} left out"
        return head

    def lines(self) -> list[str]:
        return [f"line {n}: {why}" for n, why in self.errors]


class Resolver:
    """Owners by e-mail and channels by #name, through the Web API (once each)."""

    def __init__(self, client: WebClient | None) -> None:
        self.client = client
        self._emails: dict[str, str | None] = {}
        self._channels: dict[str, str] | None = None

    def owner(self, value: str) -> str:
        v = value.strip()
        if m := re.fullmatch(r"<?@?([UW][A-Z0-9]+)(\|[^>]*)?>?", v):
            return m.group(1)
        if "@" in v and "." in v.split("@")[-1]:
            if self.client is None:
                raise UsageError(f"owner {v}: an e-mail needs SLACK_BOT_TOKEN to be looked up (or give a user id)")
            if v not in self._emails:
                try:
                    self._emails[v] = self.client.users_lookupByEmail(email=v)["user"]["id"]
                except SlackApiError as e:
                    err = e.response.get("error") if e.response is not None else "error"
                    self._emails[v] = None if err == "users_not_found" else f"!{err}"
            found = self._emails[v]
            if found is None:
                raise UsageError(f"owner {v}: nobody in the workspace has that e-mail")
            if found.startswith("!"):
                raise UsageError(f"owner {v}: Slack answered {found[1:]}")
            return found
        raise UsageError(f"owner “{v}” is neither a Slack user id (U…) nor an e-mail")

    def channel(self, value: str) -> str:
        v = value.strip()
        if m := re.fullmatch(r"<?#?([CG][A-Z0-9]{2,})(\|[^>]*)?>?", v):
            return m.group(1)
        name = v.lstrip("#").casefold()
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", name):
            raise UsageError(f"channel “{v}” is neither a channel id (C…) nor a #name")
        if self.client is None:
            raise UsageError(f"channel #{name}: a name needs SLACK_BOT_TOKEN to be looked up (or give the id)")
        if self._channels is None:
            self._channels = {}
            cursor = None
            while True:
                res = self.client.conversations_list(
                    limit=1000, cursor=cursor, exclude_archived=True, types="public_channel,private_channel"
                )
                self._channels.update({c["name"]: c["id"] for c in res.get("channels") or []})
                cursor = (res.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        if name not in self._channels:
            raise UsageError(f"channel #{name}: no such channel (or the app is not in it)")
        return self._channels[name]


def read_rows(text: str) -> tuple[list[Row], list[tuple[int, str]]]:
    """Parse the CSV: the rows that read well, and (line, why) for the others."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError("The file is empty: the first line must name the columns, e.g. name,segment,owner") from None
    cols = [ALIASES.get(h.strip().casefold(), h.strip().casefold()) for h in header]
    unknown = [h for h in cols if h and h not in COLUMNS]
    if "name" not in cols:
        raise UsageError(f"The header has no `name` column; columns: {', '.join(COLUMNS)}")
    if unknown:
        raise UsageError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; columns: {', '.join(COLUMNS)}"
        )
    rows, errors = [], []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append((line, f"more than {MAX_ROWS} rows: import the rest in another file"))
            break
        if len(values) > len(cols):
            errors.append((line, f"{len(values)} values for {len(cols)} columns (a comma inside a value needs quotes)"))
            continue
        data = {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(cols)}
        try:
            rows.append(_row(line, data))
        except UsageError as e:
            errors.append((line, str(e)))
    return rows, errors


def _row(line: int, d: dict[str, str]) -> Row:
    name = cust.clean_name(d.get("name", ""))
    check_name(name, "", RESERVED)
    row = Row(
        line,
        name,
        segment=(d.get("segment") or "").casefold() or None,
        outcome=d.get("outcome") or None,
        experience=d.get("experience") or None,
        owner=d.get("owner") or None,
        channel=d.get("channel") or None,
    )
    if row.segment and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,59}", row.segment):
        raise UsageError(f"segment “{row.segment}” must be one word (letters, digits, - or _)")
    for alias in (a for a in (d.get("aliases") or "").split(";") if a.strip()):
        alias = cust.clean_name(alias)
        check_name(alias, "", RESERVED)
        row.aliases.append(alias)
    for item in (m for m in (d.get("milestones") or "").split(";") if m.strip()):
        mm = re.fullmatch(r"\s*(.+?)(?:\s+due\s+(\d{4}-\d{2}-\d{2}))?\s*", item)
        assert mm is not None
        title = mm.group(1).strip().strip('"“”')
        if len(title) > ms.MAX_TITLE:
            raise UsageError(f"a milestone title is {len(title)} characters; keep it under {ms.MAX_TITLE}")
        due = None
        if mm.group(2):
            try:
                due = date.fromisoformat(mm.group(2))
            except ValueError:
                raise UsageError(f"“{mm.group(2)}” is not a real date (milestone “{title}”)") from None
        row.milestones.append((title, due))
    if row.outcome and len(row.outcome) > 1000:
        raise UsageError("the outcome is longer than 1000 characters")
    return row


def import_customers(
    s: Session, team_id: str, text: str, resolver: Resolver, actor: str | None, now: datetime, dry_run: bool = False
) -> ImportReport:
    """Create or update the CSV's customers; the caller's transaction commits (or, for a dry run, rolls back)."""
    rows, errors = read_rows(text)
    report = ImportReport(errors=list(errors), dry_run=dry_run)
    seen: dict[str, int] = {}
    repo.ensure_workspace(s, team_id, now)
    for row in rows:
        key = cust.key(row.name)
        if key in seen:
            report.errors.append((row.line, f"“{row.name}” is already on line {seen[key]}"))
            continue
        seen[key] = row.line
        try:
            plan = _check(s, team_id, row, resolver)
        except UsageError as e:
            report.errors.append((row.line, str(e)))
            continue
        outcome = _apply(s, team_id, row, plan, actor, now)
        setattr(report, outcome, getattr(report, outcome) + 1)
    if report.created or report.updated:
        repo.bump_routing(s, team_id)
    report.errors.sort()
    return report


@dataclass
class _Plan:
    owner: str | None
    channel: str | None
    new_aliases: list[str]


def _check(s: Session, team_id: str, row: Row, resolver: Resolver) -> _Plan:
    """Everything that could refuse a row, before anything of it is written: a row goes in whole or not at all."""
    owner = resolver.owner(row.owner) if row.owner else None
    channel = resolver.channel(row.channel) if row.channel else None
    key = cust.key(row.name)
    c = repo.customer_by_key(s, team_id, key)
    if c is None and repo.alias_owner(s, team_id, key) is not None:
        raise UsageError(f"“{row.name}” is already another customer's alias")
    new_aliases = []
    for alias in row.aliases:
        akey = cust.key(alias)
        other = repo.customer_by_key(s, team_id, akey) or repo.alias_owner(s, team_id, akey)
        if other is None:
            if akey != key and akey not in {cust.key(a) for a in new_aliases}:
                new_aliases.append(alias)
        elif c is None or other.id != c.id:
            raise UsageError(f"alias “{alias}” already names {other.name}")
    return _Plan(owner, channel, new_aliases)


def _apply(s: Session, team_id: str, row: Row, plan: _Plan, actor: str | None, now: datetime) -> str:
    owner, channel = plan.owner, plan.channel
    key = cust.key(row.name)
    c = repo.customer_by_key(s, team_id, key)
    created = c is None
    changed = False
    if c is None:
        c = repo.add_customer(s, team_id, row.name, key, row.segment, now)
        templates = ms.templates_for(s, team_id)
        if row.segment in templates and not row.milestones:
            for m in ms.instantiate_template(c, templates[row.segment], now, actor):
                s.add(m)
        s.flush()
        s.refresh(c)
    for attr, value in (
        ("segment", row.segment),
        ("outcome_required", row.outcome),
        ("outcome_experience", row.experience),
        ("owner_id", owner),
    ):
        if value is not None and getattr(c, attr) != value:
            setattr(c, attr, value)
            changed = True
    for alias in plan.new_aliases:
        repo.add_alias(s, c, alias, cust.key(alias))
        changed = True
    if channel:
        link = repo.channel_link(s, team_id, channel)
        if link is None or link.kind != "customer" or link.customer_id != c.id:
            repo.set_channel_link(s, team_id, channel, "customer", c.id, actor, now)
            changed = True
    have = {m.title.casefold() for m in ms.live(c.milestones)}
    for title, due in row.milestones:
        if title.casefold() not in have:
            m = ms.new_milestone(c, repo.next_position(s, c), title, now, actor, due=due, reason="imported")
            s.add(m)
            s.flush()
            s.refresh(c)
            have.add(title.casefold())
            changed = True
    s.flush()
    return "created" if created else ("updated" if changed else "unchanged")


# --- exports --------------------------------------------------------------------------------


def export_rows(
    s: Session, team_id: str, what: str, since: datetime | None, customer: Customer | None
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """(columns, rows) of one export: signals, customers (the import's own format), milestones or learnings."""
    cid = customer.id if customer else None
    names = {c.id: c.name for c in repo.list_customers(s, team_id)}
    if what == "customers":
        cols = list(COLUMNS)

        def gen() -> Iterator[dict[str, Any]]:
            links: dict[int, str] = {}
            for link in repo.channel_links(s, team_id):
                if link.kind == "customer" and link.customer_id is not None:
                    links.setdefault(link.customer_id, link.channel_id)
            for c in repo.list_customers(s, team_id):
                if cid is not None and c.id != cid:
                    continue
                yield {
                    "name": c.name,
                    "segment": c.segment or "",
                    "aliases": "; ".join(a.alias for a in c.aliases),
                    "outcome": c.outcome_required or "",
                    "experience": c.outcome_experience or "",
                    "owner": c.owner_id or "",
                    "channel": links.get(c.id, ""),
                    "milestones": "; ".join(
                        m.title + (f" due {m.due_date.isoformat()}" if m.due_date else "")
                        for m in ms.live(c.milestones)
                    ),
                }

        return cols, gen()
    if what == "milestones":
        cols = ["customer", "position", "title", "status", "due_date", "owner", "achieved_at", "expected_impact"]

        def gen() -> Iterator[dict[str, Any]]:
            for m in repo.milestones_for_team(s, team_id):
                if m.removed_at is not None or (cid is not None and m.customer_id != cid):
                    continue
                yield {
                    "customer": names.get(m.customer_id, ""),
                    "position": m.position,
                    "title": m.title,
                    "status": m.status,
                    "due_date": m.due_date.isoformat() if m.due_date else "",
                    "owner": m.owner_id or "",
                    "achieved_at": m.achieved_at.isoformat() if m.achieved_at else "",
                    "expected_impact": m.expected_impact or "",
                }

        return cols, gen()
    if what == "learnings":
        cols = ["created_at", "learning", "decision", "customers", "owner", "review_on", "outcome", "changed_to"]

        def gen() -> Iterator[dict[str, Any]]:
            for r in repo.learnings(s, team_id, customer_id=cid, limit=100_000):
                if since is not None and r.created_at < since:
                    continue
                yield {
                    "created_at": r.created_at.isoformat(),
                    "learning": r.text,
                    "decision": r.decision or "",
                    "customers": "; ".join(names.get(lc.customer_id, "") for lc in r.customers),
                    "owner": r.owner_id or "",
                    "review_on": r.review_on.isoformat() if r.review_on else "",
                    "outcome": r.outcome or "",
                    "changed_to": r.changed_to or "",
                }

        return cols, gen()
    cols = ["posted_at", "customer", "kind", "sentiment", "text", "author", "channel", "permalink", "corrected_by"]

    def gen() -> Iterator[dict[str, Any]]:
        for r in repo.signals_for_export(s, team_id, since, cid):
            yield {
                "posted_at": r.posted_at.isoformat(),
                "customer": names.get(r.customer_id, ""),
                "kind": r.kind,
                "sentiment": r.sentiment,
                "text": r.text,
                "author": r.author_name or "",
                "channel": r.channel_id,
                "permalink": r.permalink or "",
                "corrected_by": r.corrected_by or "",
            }

    return cols, gen()


def write(cols: list[str], rows: Iterable[dict[str, Any]], fmt: str, out: Callable[[str], Any]) -> int:
    n = 0
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        out(buf.getvalue())
        for r in rows:
            buf.seek(0)
            buf.truncate()
            w.writerow(r)
            out(buf.getvalue())
            n += 1
        return n
    for r in rows:
        out(json.dumps(r, ensure_ascii=False) + "\n")
        n += 1
    return n
