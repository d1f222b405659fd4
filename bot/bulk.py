"""Customers in and out by the hundred: a CSV import (CLI or a Slack modal) and exports of everything.

The CSV has a header row; columns, any order, case-insensitive:
    name (required), segment, aliases (separated by ;), outcome (the outcome they need), experience (the
    experience they need it in), owner (a Slack user id, or an e-mail resolved with users.lookupByEmail),
    channel (a channel id, or #name), milestones (separated by ;, each "title" or "title due <date>", the date in
    any unambiguous form: 2026-12-31, 31 Dec 2026, Dec 31 2026, 31/12/2026)
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


DATE_FORMS = "2026-12-31, 31 Dec 2026, Dec 31 2026 or 31/12/2026"
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y")


def parse_due(value: str) -> date:
    """A due date in any unambiguous form: 2026-12-31, 31 Dec 2026, Dec 31 2026, December 31st, 2026, 31/12/2026
    (31 > 12, so day first). 03/04/2027 could be March or April: an error that says which forms work."""
    v = " ".join(value.replace(",", " ").split())
    v = re.sub(r"\b(\d{1,2})(st|nd|rd|th)\b", r"\1", v, flags=re.I)
    v = re.sub(r"\bSept\b", "Sep", v, flags=re.I)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(v, fmt).date()
        except ValueError:
            pass
    if m := re.fullmatch(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", v):
        a, b, year = (int(x) for x in m.groups())
        if a != b and a <= 12 and b <= 12:
            raise UsageError(
                f"due “{value}” is ambiguous (day/month or month/day?): "
                "write it as 2026-12-31, 31 Dec 2026 or Dec 31 2026"
            )
        day, month = (a, b) if a > 12 or a == b else (b, a)
        try:
            return date(year, month, day)
        except ValueError:
            raise UsageError(f"due “{value}” is not a real date") from None
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", v):
        raise UsageError(f"due “{value}” is not a real date")
    raise UsageError(f"due “{value}” is not a date: write it as {DATE_FORMS}")


def split_milestone(item: str) -> tuple[str, date | None]:
    """“Champion replaced due 31/12/2026” → (“Champion replaced”, 2026-12-31); a “due …” without a digit (“Due
    diligence done”) is part of the title."""
    text = item.strip()
    m = re.fullmatch(r"(.+?)\s+due\s*:?\s+(.*\d.*)", text, flags=re.I | re.S)
    if m is None:
        return text.strip('"“”'), None
    return m.group(1).strip().strip('"“”'), parse_due(m.group(2).strip())


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
    problems: list[str] = field(default_factory=list)
    owner_id: str | None = None
    channel_id: str | None = None


@dataclass
class RowResult:
    """What one row does (or would do): created, updated, unchanged or left out, with each change spelled out."""

    line: int
    name: str
    action: str  # created | updated | unchanged | left out
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False
    rows: list[RowResult] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        parts = [
            f"{self.created} {verb} created".replace("  ", " "),
            f"{self.updated} {verb} updated".replace("  ", " "),
            f"{self.unchanged} unchanged",
        ]
        head = ("Dry run: " if self.dry_run else "") + ", ".join(parts)
        moved = sum(1 for r in self.rows if r.action != "left out" and any(c.startswith("moves ") for c in r.changes))
        if moved:
            head += f"; {moved} link{'s' if moved != 1 else ''} {'would be ' if self.dry_run else ''}moved"
        if self.errors:
            head += f"; {len(self.errors)} row{'s' if len(self.errors) != 1 else ''} left out"
        warned = sum(1 for r in self.rows if r.warnings)
        if warned:
            head += f"; {warned} warning{'s' if warned != 1 else ''}"
        return head

    def lines(self) -> list[str]:
        """The rows left out, with every reason."""
        return [f"line {n}: {why}" for n, why in self.errors]

    def changes(self) -> list[str]:
        """Row by row, what changes (or would): every created or updated row, and every warning."""
        out = []
        for r in self.rows:
            if r.action in ("created", "updated"):
                verb = f"would be {r.action}" if self.dry_run else r.action
                out.append(f"line {r.line} {r.name}: {verb}: " + "; ".join(r.changes))
            for w in r.warnings:
                out.append(f"line {r.line} {r.name}: warning: {w}")
        return out


class Resolver:
    """Owners by e-mail and channels by #name: channel names the database knows first, then the Web API (once)."""

    def __init__(self, client: WebClient | None) -> None:
        self.client = client
        self._emails: dict[str, str | None] = {}
        self._channels: dict[str, str] | None = None
        self._known: dict[str, str] = {}
        self.names: dict[str, str] = {}  # channel id -> name, for the report

    def learn(self, s: Session, team_id: str) -> None:
        """The channel names the app has already seen (no Slack call needed for those)."""
        self.names = repo.channel_names(s, team_id=team_id)
        self._known = {}
        for cid, name in self.names.items():
            self._known.setdefault(name.casefold(), cid)

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
        if name in self._known:
            return self._known[name]
        if self.client is None:
            raise UsageError(
                f"channel #{name}: the database does not know that name; give the channel's id (C…), "
                "or set SLACK_BOT_TOKEN to look it up"
            )
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
        self.names.setdefault(self._channels[name], name)
        return self._channels[name]

    def label(self, channel_id: str) -> str:
        name = self.names.get(channel_id)
        return f"#{name} ({channel_id})" if name else channel_id


def read_rows(text: str) -> tuple[list[Row], list[tuple[int, str]]]:
    """Parse the CSV: every row (each with the problems found in it), and (line, why) for rows unreadable whole."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError("The file is empty: the first line must name the columns, e.g. name,segment,owner") from None
    except csv.Error as e:
        raise UsageError(f"The file is not a CSV the import can read ({e})") from None
    cols = [ALIASES.get(h.strip().casefold(), h.strip().casefold()) for h in header]
    unknown = [h for h in cols if h and h not in COLUMNS]
    if "name" not in cols:
        raise UsageError(f"The header has no `name` column; columns: {', '.join(COLUMNS)}")
    if unknown:
        raise UsageError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; columns: {', '.join(COLUMNS)}"
        )
    rows: list[Row] = []
    errors: list[tuple[int, str]] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            errors.append((reader.line_num, f"cannot be read as CSV ({e})"))
            break
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
        rows.append(_row(line, data))
    return rows, errors


def _row(line: int, d: dict[str, str]) -> Row:
    """One row, with every problem found in it (not only the first)."""
    problems: list[str] = []
    name = cust.clean_name(d.get("name", ""))
    try:
        check_name(name, "", RESERVED)
    except UsageError as e:
        problems.append(str(e) or "the name is missing")
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
        problems.append(f"segment “{row.segment}” must be one word (letters, digits, - or _)")
    for alias in (a for a in (d.get("aliases") or "").split(";") if a.strip()):
        alias = cust.clean_name(alias)
        try:
            check_name(alias, "", RESERVED)
            row.aliases.append(alias)
        except UsageError as e:
            problems.append(f"alias “{alias}”: {e}")
    for item in (m for m in (d.get("milestones") or "").split(";") if m.strip()):
        try:
            title, due = split_milestone(item)
        except UsageError as e:
            problems.append(f"milestone “{item.strip()[:60]}”: {e}")
            continue
        if not title:
            problems.append(f"milestone “{item.strip()[:60]}” has no title")
        elif len(title) > ms.MAX_TITLE:
            problems.append(f"a milestone title is {len(title)} characters; keep it under {ms.MAX_TITLE}")
        else:
            row.milestones.append((title, due))
    if row.outcome and len(row.outcome) > 1000:
        problems.append("the outcome is longer than 1000 characters")
    row.problems = problems
    return row


RELINK_HINT = "pass --relink (or tick “Move links” in the modal) to move it"


def import_customers(
    s: Session,
    team_id: str,
    text: str,
    resolver: Resolver,
    actor: str | None,
    now: datetime,
    dry_run: bool = False,
    relink: bool = False,
) -> ImportReport:
    """Create or update the CSV's customers; the caller's transaction commits (or, for a dry run, rolls back).

    A link that would move away from a watch channel or from another customer is refused unless `relink`;
    two rows naming one customer, or one channel, are both left out; every problem of a row is reported."""
    rows, errors = read_rows(text)
    report = ImportReport(errors=list(errors), dry_run=dry_run)
    repo.ensure_workspace(s, team_id=team_id, now=now)
    resolver.learn(s, team_id)
    for row in rows:
        if row.owner:
            try:
                row.owner_id = resolver.owner(row.owner)
            except UsageError as e:
                row.problems.append(str(e))
        if row.channel:
            try:
                row.channel_id = resolver.channel(row.channel)
            except UsageError as e:
                row.problems.append(str(e))
    _duplicates(s, team_id, rows, resolver)
    segments = set(ms.templates_for(s, team_id)) | {
        c.segment for c in repo.list_customers(s, team_id=team_id) if c.segment
    }
    for row in rows:
        result = RowResult(row.line, row.name, "left out")
        if row.segment and row.segment not in segments:
            result.warnings.append(
                f"segment “{row.segment}” is new: no milestone template (known: {', '.join(sorted(segments))})"
            )
        plan = _check(s, team_id, row, resolver, relink)
        if row.problems:
            report.errors.append((row.line, "; ".join(row.problems)))
            result.warnings = []
            report.rows.append(result)
            continue
        assert plan is not None
        result.action, result.changes = _apply(s, team_id, row, plan, resolver, actor, now)
        if row.segment:
            segments.add(row.segment)
        setattr(report, result.action, getattr(report, result.action) + 1)
        report.rows.append(result)
    if report.created or report.updated:
        repo.bump_routing(s, team_id=team_id)
    report.errors.sort()
    return report


def _duplicates(s: Session, team_id: str, rows: list[Row], resolver: Resolver) -> None:
    """Two rows naming one customer (by name or alias), or one channel: both are left out, each saying why."""
    by_customer: dict[Any, list[Row]] = {}
    by_channel: dict[str, list[Row]] = {}
    for row in rows:
        if row.name:
            k = cust.key(row.name)
            c = repo.customer_by_key(s, team_id=team_id, key=k) or repo.alias_owner(s, team_id=team_id, key=k)
            by_customer.setdefault(c.id if c is not None else k, []).append(row)
        if row.channel_id:
            by_channel.setdefault(row.channel_id, []).append(row)
    for group in by_customer.values():
        for row in group if len(group) > 1 else []:
            others = ", ".join(str(o.line) for o in group if o is not row)
            row.problems.append(f"“{row.name}” is also on line {others}: keep one row per customer")
    for cid, group in by_channel.items():
        for row in group if len(group) > 1 else []:
            others = ", ".join(str(o.line) for o in group if o is not row)
            row.problems.append(f"channel {resolver.label(cid)} is also on line {others}: a channel has one customer")


@dataclass
class _Plan:
    owner: str | None
    channel: str | None
    new_aliases: list[str]
    moved_from: str | None = None  # "the watch channel" | "Other Customer"


def _check(s: Session, team_id: str, row: Row, resolver: Resolver, relink: bool) -> _Plan | None:
    """Everything that could refuse a row, before anything of it is written: a row goes in whole or not at all."""
    if not row.name:
        return None
    key = cust.key(row.name)
    c = repo.customer_by_key(s, team_id=team_id, key=key)
    if c is None and (other := repo.alias_owner(s, team_id=team_id, key=key)) is not None:
        row.problems.append(f"“{row.name}” is already an alias of {other.name}: use that name, or remove the alias")
    new_aliases: list[str] = []
    for alias in row.aliases:
        akey = cust.key(alias)
        other = repo.customer_by_key(s, team_id=team_id, key=akey) or repo.alias_owner(s, team_id=team_id, key=akey)
        if other is None:
            if akey != key and akey not in {cust.key(a) for a in new_aliases}:
                new_aliases.append(alias)
        elif c is None or other.id != c.id:
            row.problems.append(f"alias “{alias}” already names {other.name}")
    plan = _Plan(row.owner_id, row.channel_id, new_aliases)
    if row.channel_id:
        link = repo.channel_link(s, team_id=team_id, channel_id=row.channel_id)
        if link is not None and link.kind == "watch":
            plan.moved_from = "the watch channel"
        elif link is not None and link.customer_id is not None and (c is None or link.customer_id != c.id):
            plan.moved_from = link.customer.name if link.customer else "another customer"
        if plan.moved_from and not relink:
            where = (
                f"{resolver.label(row.channel_id)} is a watch channel"
                if link is not None and link.kind == "watch"
                else f"{resolver.label(row.channel_id)} is linked to {plan.moved_from}"
            )
            row.problems.append(f"{where}: {RELINK_HINT}")
    return plan


def _short(value: Any) -> str:
    if value in (None, ""):
        return "—"
    text = str(value)
    return f"“{text[:57]}…”" if len(text) > 60 else f"“{text}”"


def _due(due: date | None) -> str:
    return f" (due {due.isoformat()})" if due else ""


def _apply(
    s: Session, team_id: str, row: Row, plan: _Plan, resolver: Resolver, actor: str | None, now: datetime
) -> tuple[str, list[str]]:
    owner, channel = plan.owner, plan.channel
    key = cust.key(row.name)
    c = repo.customer_by_key(s, team_id=team_id, key=key)
    created = c is None
    changes: list[str] = []
    if c is None:
        c = repo.add_customer(s, team_id=team_id, name=row.name, key=key, segment=row.segment, now=now)
        changes.append("new customer")
        templates = ms.templates_for(s, team_id)
        if row.segment in templates and not row.milestones:
            added = ms.instantiate_template(c, templates[row.segment], now, actor)
            for m in added:
                s.add(m)
            if added:
                changes.append(f"{len(added)} milestones from the {row.segment} template")
        s.flush()
        s.refresh(c)
    for attr, label, value in (
        ("segment", "segment", row.segment),
        ("outcome_required", "outcome", row.outcome),
        ("outcome_experience", "experience", row.experience),
        ("owner_id", "owner", owner),
    ):
        old = getattr(c, attr)
        if value is not None and old != value:
            setattr(c, attr, value)
            changes.append(f"{label} {_short(value)}" if created else f"{label} {_short(old)} → {_short(value)}")
        elif created and attr == "segment" and value:
            changes.append(f"segment {_short(value)}")
    for alias in plan.new_aliases:
        repo.add_alias(s, customer=c, alias=alias, key=cust.key(alias))
        changes.append(f"alias {_short(alias)}")
    if channel:
        link = repo.channel_link(s, team_id=team_id, channel_id=channel)
        if link is None or link.kind != "customer" or link.customer_id != c.id:
            repo.set_channel_link(
                s, team_id=team_id, channel_id=channel, kind="customer", customer_id=c.id, user_id=actor, now=now
            )
            if plan.moved_from:
                changes.append(f"moves the link of {resolver.label(channel)} from {plan.moved_from}")
            else:
                changes.append(f"links {resolver.label(channel)}")
    have = {m.title.casefold() for m in ms.live(c.milestones)}
    for title, due in row.milestones:
        if title.casefold() not in have:
            m = ms.new_milestone(c, repo.next_position(s, customer=c), title, now, actor, due=due, reason="imported")
            s.add(m)
            s.flush()
            s.refresh(c)
            have.add(title.casefold())
            changes.append(f"milestone {_short(title)}{_due(due)}")
    s.flush()
    if created:
        return "created", changes
    return ("updated" if changes else "unchanged"), changes


# --- exports --------------------------------------------------------------------------------


def export_rows(
    s: Session, team_id: str, what: str, since: datetime | None, customer: Customer | None
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """(columns, rows) of one export: signals, customers (the import's own format), milestones or learnings."""
    cid = customer.id if customer else None
    names = {c.id: c.name for c in repo.list_customers(s, team_id=team_id)}
    if what == "customers":
        cols = list(COLUMNS)

        def gen() -> Iterator[dict[str, Any]]:
            links: dict[int, str] = {}
            for link in repo.channel_links(s, team_id=team_id):
                if link.kind == "customer" and link.customer_id is not None:
                    links.setdefault(link.customer_id, link.channel_id)
            for c in repo.list_customers(s, team_id=team_id):
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
            for m in repo.milestones_for_team(s, team_id=team_id):
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
            for r in repo.list_learnings(s, team_id=team_id, customer_id=cid, limit=100_000):
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

    def signal_rows() -> Iterator[dict[str, Any]]:
        for r in repo.signals_for_export(s, team_id=team_id, since=since, customer_id=cid):
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

    return cols, signal_rows()


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
