"""`signalloop customers import`, `signalloop export` and `signalloop review`: the team's data on the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot import bulk
from bot import customers as cust
from bot.config import Settings
from bot.errors import UsageError
from bot.services import utcnow


def _client(settings: Settings):  # noqa: ANN202
    if not settings.slack_bot_token:
        return None
    from entry.app import make_web_client

    return make_web_client(settings)


def run_import(settings: Settings, sf: sessionmaker[Session], team: str, args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except OSError as e:
        print(f"signalloop customers import: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        with sf() as s, s.begin():
            report = bulk.import_customers(
                s,
                team,
                text,
                bulk.Resolver(_client(settings)),
                None,
                utcnow(),
                dry_run=args.dry_run,
                relink=getattr(args, "relink", False),
            )
            if args.dry_run:
                s.rollback()
    except UsageError as e:
        print(f"signalloop customers import: {args.file}: {e}", file=sys.stderr)
        return 2
    print(f"{args.file}: {report.summary()}")
    for line in report.changes():
        print(f"  {line}")
    for line in report.lines():
        print(f"  {line}", file=sys.stderr)
    if report.errors and any(bulk.RELINK_HINT in why for _, why in report.errors):
        print("Links were left alone: re-run with --relink to move them.", file=sys.stderr)
    return 1 if report.errors else 0


def _customer(s: Session, team: str, name: str | None):  # noqa: ANN202
    if not name:
        return None
    found = cust.resolve_exact(s, team, name)
    if isinstance(found, cust.NoMatch):
        raise UsageError(cust.no_match_message(found).replace("*", ""))
    return found


def parse_since(value: str) -> datetime:
    """--since as search takes it: YYYY-MM-DD, or 30d / 8w back from now."""
    from bot.search import parse_since as search_since

    try:
        return search_since(value, utcnow())
    except UsageError:
        raise UsageError(f"“{value}” is not a date: write 2026-09-01, or 30d or 8w back from now") from None


def run_export(sf: sessionmaker[Session], team: str, args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            since = parse_since(args.since)
        except UsageError as e:
            print(f"signalloop export: --since {e}", file=sys.stderr)
            return 2
    try:
        with sf() as s:
            cols, rows = bulk.export_rows(s, team, args.what, since, _customer(s, team, args.customer))
            n = bulk.write(cols, rows, args.format, sys.stdout.write)
    except UsageError as e:
        print(f"signalloop export: {e}", file=sys.stderr)
        return 2
    print(f"{n} {args.what} exported", file=sys.stderr)
    return 0


def run_review(sf: sessionmaker[Session], team: str, args: argparse.Namespace) -> int:
    from bot import review

    now = utcnow()
    try:
        quarter = review.parse_quarter(args.quarter, now)
        with sf() as s:
            c = _customer(s, team, args.customer)
            rv = review.build(s, c, quarter, now)
            if args.chart:
                from bot.chart import counts, plot

                sent, done = counts(s, team, [c.id], rv.weeks, "UTC")
                with open(args.chart, "wb") as f:
                    f.write(plot(rv.weeks, sent, done, f"{c.name}: signals and milestones, {quarter.label}"))
    except UsageError as e:
        print(f"signalloop review: {e}", file=sys.stderr)
        return 2
    if args.format == "md":
        sys.stdout.write(review.markdown(rv))
    else:
        import json

        print(json.dumps(review.as_json(rv), ensure_ascii=False, indent=2))
    return 0
