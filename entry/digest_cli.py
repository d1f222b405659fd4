"""`signalloop digest --channel C… [--week YYYY-Www] [--print]`."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError, Settings
from bot.render.terminal import digest_rich
from bot.services import utcnow
from entry.app import build_app
from entry.clidb import channel_week
from storage import repo


def _team(sf: sessionmaker[Session], team: str | None) -> str:
    if team:
        return team
    with sf() as s:
        teams = repo.team_ids(s)
    if len(teams) == 1:
        return teams[0]
    raise ConfigError(
        "--team is needed: "
        + (
            "no workspace is in the database yet"
            if not teams
            else "the database holds several workspaces: " + ", ".join(teams)
        )
    )


def run_digest_cli(settings: Settings, sf: sessionmaker[Session], args: argparse.Namespace) -> int:
    team = _team(sf, args.team)
    try:
        week = channel_week(sf, team, args.channel, args.week)
    except ValueError as e:
        print(f"signalloop digest: {e}", file=sys.stderr)
        return 2
    if args.print_:
        from bot.runner import DigestRunner

        runner = DigestRunner(settings, sf, utcnow, client_for=lambda t: None)  # type: ignore[arg-type, return-value]
        with sf() as s:
            dg = runner.build(s, team, args.channel, week)
            names = repo.display_names(s, team_id=team)
        Console().print(digest_rich(dg, names), highlight=False)
        return 0
    settings.require_slack()
    app, deps = build_app(settings, sf)
    assert deps.digest_runner is not None
    result = deps.digest_runner.post(team, args.channel, week, late=False, requested_by=None, client=app.client)
    if result.status == "posted":
        print(f"Posted the {week.label} digest in {args.channel} ({result.messages} messages).")
        return 0
    if result.status == "already":
        print(f"The {week.label} digest for {args.channel} was already posted; there is one per channel per week.")
        return 0
    print(f"signalloop digest: not posted: {result.error}", file=sys.stderr)
    return 1
