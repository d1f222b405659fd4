"""The `signalloop` command line: run, demo, digest, import, db upgrade, manifest, purge."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from bot.config import ConfigError, Settings, load_settings

log = logging.getLogger("signalloop")


def _settings() -> Settings:
    return load_settings()


def _engine_and_sessions(settings: Settings, migrate: bool = True, existing: bool = False):  # noqa: ANN202
    from entry.clidb import engine_and_sessions

    return engine_and_sessions(settings, migrate=migrate, existing=existing)


def _channel(sf, team: str, value: str) -> str:  # noqa: ANN001
    """--channel as an id (C…) or a #name, from what the database knows; a channel it never saw is an error."""
    from storage import repo

    v = value.strip()
    with sf() as s:
        names = repo.channel_names(s, team_id=team)
        if m := re.fullmatch(r"<?#?([CGD][A-Z0-9]+)(\|[^>]*)?>?", v):
            cid = m.group(1)
            if (
                cid in names
                or repo.channel_link(s, team_id=team, channel_id=cid)
                or repo.schedule_for(s, team_id=team, channel_id=cid)
            ):
                return cid
            problem = f"--channel {v}: the database knows no such channel (not linked, watched, scheduled or seen)"
        else:
            name = v.lstrip("#").casefold()
            hits = sorted(cid for cid, n in names.items() if n.casefold() == name)
            if len(hits) == 1:
                return hits[0]
            problem = (
                f"--channel {v}: several channels were called #{name} ({', '.join(hits)}); give the id"
                if hits
                else f"--channel {v}: the database knows no channel called #{name}"
            )
    known = sorted(f"#{n}" for n in names.values())
    raise ConfigError(problem + (f"; known: {', '.join(known[:12])}" if known else "; give the channel's id (C…)"))


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    settings.require_slack()
    from bot.scheduler import start_scheduler
    from entry.app import build_app, http_handler, make_web_client, socket_mode_handler
    from entry.server import health_server, make_server
    from entry.socket_mode import SocketMode, check_app_token, check_bot_token

    # a refused token: one line naming the variable, and exit 2, before anything starts
    if settings.slack_bot_token:
        check_bot_token(make_web_client(settings))
    if settings.socket_mode:
        check_app_token(make_web_client(settings), settings.slack_app_token or "")
    # `run` applies pending migrations itself (several instances on PostgreSQL take turns on a lock)
    engine, sf = _engine_and_sessions(settings)
    app, deps = build_app(settings, sf)
    scheduler, deps.digest_jobs = start_scheduler(deps)
    # what start-up made (modules, the Slack and OpenAI clients' types, the app) lives as long as the process:
    # leave it out of the garbage collector's full passes, which would otherwise pause every request for it
    gc.collect()
    gc.freeze()
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if settings.socket_mode:
        socket_mode = SocketMode(socket_mode_handler(app, settings.slack_app_token or ""))
        health = health_server(engine, settings.port, socket_mode.connected, host=settings.host)
        health.serve_in_thread()
        socket_mode.start()
        log.info("signalloop health checks on :%d (GET /healthz)", settings.port)
        stop.wait()
        socket_mode.close()
        health.drain(timeout=1)
    else:
        server = make_server(
            http_handler(app), engine, settings.port, threads=settings.http_threads, host=settings.host
        )
        server.serve_in_thread()
        log.info(
            "signalloop listening on %s:%d (POST /slack/events, GET /healthz), %d threads",
            settings.host,
            settings.port,
            settings.http_threads,
        )
        stop.wait()
        log.info("stopping: finishing the requests in flight")
        server.drain()
    scheduler.shutdown(wait=False)
    deps.close()
    log.info("stopped")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from storage import db

    settings = _settings()
    if args.action == "upgrade":
        db.upgrade(settings.database_url)
        print("Database is at the newest schema.")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from entry.manifest import ManifestError, manifest

    try:
        doc = manifest(url=args.url, socket_mode=args.socket_mode, allow_http=args.allow_http)
    except ManifestError as e:
        print(f"signalloop manifest: {e}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2))
    return 0


def _team(args: argparse.Namespace, sf) -> str:  # noqa: ANN001
    from storage import repo

    if args.team:
        return args.team
    with sf() as s:
        teams = repo.team_ids(s)
    if len(teams) == 1:
        return teams[0]
    raise ConfigError(
        "--team is needed: "
        + (
            "no workspace is in the database yet (run the app once, or pass --team T…)"
            if not teams
            else "the database holds several workspaces: " + ", ".join(teams)
        )
    )


def cmd_import(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from bot.importer import ImportError_, count_messages, import_export, read_export
    from bot.services import utcnow

    settings = _settings()
    _, sf = _engine_and_sessions(settings, existing=True)
    team = _team(args, sf)
    try:
        z, chans, _ = read_export(args.export)
        total = count_messages(z, chans)
        z.close()
        with Progress(transient=True) as bar:
            task = bar.add_task("Importing", total=total)
            counts = import_export(args.export, team, sf, utcnow, lambda n: bar.advance(task, n))
    except ImportError_ as e:
        print(f"signalloop import: {e}", file=sys.stderr)
        return 2
    print(
        f"Imported {args.export}: {counts.channels} channels ({counts.channels_captured} linked or watched), "
        f"{counts.messages} messages read, {counts.signals_added} signals added, "
        f"{counts.already_present} already recorded."
    )
    if counts.channels_captured == 0:
        print(
            "No channel of the export is linked or watched: run `/loop link <customer>` or `/loop watch` "
            "in those channels first."
        )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """What would be deleted, always; the deletion itself only with --yes, in one transaction."""
    from bot import customers as cust
    from bot import purge
    from storage import repo

    settings = _settings()
    _, sf = _engine_and_sessions(settings, existing=True)
    team = _team(args, sf)
    with sf.begin() as s:
        t = purge.find(s, team, args.customer)
        if isinstance(t, cust.NoMatch):
            why = (
                cust.no_match_message(t).replace("*", "")
                if t.suggestions
                else f"no customer or alias is called “{args.customer}”: `signalloop export customers` lists them"
            )
            print(f"signalloop purge: {why}", file=sys.stderr)
            return 2
        if head := purge.resolved(t):
            print(head)
        print(f"{'Deleting' if args.yes else 'Would delete'} {t.customer.name} and everything stored about it:")
        for item in purge.items(t):
            print(f"  {item}")
        if not args.yes:
            print("Nothing was deleted: run it again with --yes to delete all of the above.")
            return 0
        repo.forget_customer(s, team_id=team, customer_id=t.customer.id)
    print(purge.done(t))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from entry.demo import run_demo

    return run_demo(args.db, chart=args.chart)


def cmd_digest(args: argparse.Namespace) -> int:
    from entry.digest_cli import run_digest_cli

    settings, sf, args.team = _data(args)
    args.channel = _channel(sf, args.team, args.channel)
    return run_digest_cli(settings, sf, args)


def cmd_llm(args: argparse.Namespace) -> int:
    from entry.llm_cli import run_preview

    settings, sf, team = _data(args)
    args.channel = _channel(sf, team, args.channel)
    return run_preview(settings, sf, team, args)


def _data(args: argparse.Namespace):  # noqa: ANN202
    settings = _settings()
    _, sf = _engine_and_sessions(settings, existing=True)
    return settings, sf, _team(args, sf)


def cmd_customers(args: argparse.Namespace) -> int:
    from entry.bulk_cli import run_import

    settings, sf, team = _data(args)
    return run_import(settings, sf, team, args)


def cmd_export(args: argparse.Namespace) -> int:
    from entry.bulk_cli import run_export

    _, sf, team = _data(args)
    return run_export(sf, team, args)


def cmd_review(args: argparse.Namespace) -> int:
    from entry.bulk_cli import run_review

    _, sf, team = _data(args)
    return run_review(sf, team, args)


def cmd_classify(args: argparse.Namespace) -> int:
    from entry.classify_cli import run_classify

    return run_classify(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="signalloop", description="Customer signals → a weekly learning loop.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="connect to Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP)").set_defaults(
        fn=cmd_run
    )

    d = sub.add_parser("demo", help="no Slack, no keys: a sample team and this week's digest")
    d.add_argument("--db", default="signalloop-demo.db", help="SQLite file to (re)create")
    d.add_argument("--chart", default="signalloop-demo-chart.png", help="where to write the chart PNG")
    d.set_defaults(fn=cmd_demo)

    g = sub.add_parser("digest", help="build a digest now and post it (or --print it)")
    g.add_argument("--channel", required=True, help="channel id (C0123ABC) or #name the app has seen")
    g.add_argument("--week", help="ISO week YYYY-Www (default: this week)")
    g.add_argument("--team", help="workspace id (needed when the database holds several)")
    g.add_argument("--print", dest="print_", action="store_true", help="print to the terminal, post nothing")
    g.set_defaults(fn=cmd_digest)

    i = sub.add_parser("import", help="backfill signals from a Slack export zip")
    i.add_argument("export", help="path to the Slack workspace export (.zip)")
    i.add_argument("--team", help="workspace id (needed when the database holds several)")
    i.set_defaults(fn=cmd_import)

    b = sub.add_parser("db", help="database schema")
    b.add_argument("action", choices=["upgrade"], help="apply schema migrations")
    b.set_defaults(fn=cmd_db)

    m = sub.add_parser("manifest", help="print the Slack app manifest (JSON)")
    m.add_argument("--url", help="public base URL for HTTP mode, e.g. https://signalloop.example.com")
    m.add_argument("--socket-mode", action="store_true", help="a Socket Mode app (no request URLs)")
    m.add_argument(
        "--allow-http", action="store_true", help="accept an http:// --url (a local tunnel only: Slack wants https)"
    )
    m.set_defaults(fn=cmd_manifest)

    c = sub.add_parser(
        "classify",
        help="kind, sentiment and why for messages (one JSON object per message)",
        description="Reads messages one per line on stdin, or from a file: CSV with a `text` column, "
        "JSONL with a `text` field, or plain lines. Prints one JSON object per message.",
    )
    c.add_argument("file", nargs="?", help="a .csv, .jsonl or text file (default: stdin)")
    c.add_argument("--column", help="the CSV column (or JSONL field) holding the message (default: text)")
    c.add_argument(
        "--format",
        choices=["auto", "lines", "csv", "jsonl"],
        default="auto",
        help="how to read the input (default: from the file's extension; lines on stdin)",
    )
    c.add_argument(
        "--export-corrections",
        action="store_true",
        help="print the kinds people corrected in Slack as labelled JSONL (from DATABASE_URL)",
    )
    c.add_argument("--team", help="with --export-corrections: one workspace only")
    c.set_defaults(fn=cmd_classify)

    cu = sub.add_parser("customers", help="customers from a CSV: `customers import file.csv [--dry-run]`")
    cu.add_argument("action", choices=["import"], help="create or update customers from a CSV file")
    cu.add_argument("file", help="the CSV: name, segment, aliases, outcome, experience, owner, channel, milestones")
    cu.add_argument("--dry-run", action="store_true", help="report what would change, row by row; write nothing")
    cu.add_argument(
        "--relink",
        action="store_true",
        help="move a channel's link away from another customer or a watch channel (refused without it)",
    )
    cu.add_argument("--team", help="workspace id (needed when the database holds several)")
    cu.set_defaults(fn=cmd_customers)

    ex = sub.add_parser("export", help="signals, customers, milestones or learnings as CSV or JSONL on stdout")
    ex.add_argument("what", choices=["signals", "customers", "milestones", "learnings"])
    ex.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ex.add_argument("--since", help="only from this date: YYYY-MM-DD, or 30d / 8w back from now")
    ex.add_argument("--customer", help="only this customer (name or alias)")
    ex.add_argument("--team", help="workspace id (needed when the database holds several)")
    ex.set_defaults(fn=cmd_export)

    rv = sub.add_parser("review", help="a customer's quarter for the business review (Markdown or JSON)")
    rv.add_argument("--customer", required=True, help="customer name or alias")
    rv.add_argument("--quarter", help="e.g. 2026-Q4 (default: this quarter)")
    rv.add_argument("--format", choices=["md", "json"], default="md")
    rv.add_argument("--chart", help="also write the chart of signals by week and milestones achieved to this PNG")
    rv.add_argument("--team", help="workspace id (needed when the database holds several)")
    rv.set_defaults(fn=cmd_review)

    lp = sub.add_parser("llm", help="the LLM step: `llm preview` prints the exact prompt it would send")
    lp.add_argument("action", choices=["preview"], help="print this week's prompt for a channel (nothing is sent)")
    lp.add_argument("--channel", required=True, help="channel id (C0123ABC) or #name the app has seen")
    lp.add_argument("--week", help="ISO week YYYY-Www (default: this week)")
    lp.add_argument("--team", help="workspace id (needed when the database holds several)")
    lp.set_defaults(fn=cmd_llm)

    pg = sub.add_parser("purge", help="delete a customer and everything stored about it (shows what first)")
    pg.add_argument("--customer", required=True, help="customer name or alias")
    pg.add_argument("--yes", action="store_true", help="delete; without it, only show what would be deleted")
    pg.add_argument("--team", help="workspace id (needed when the database holds several)")
    pg.set_defaults(fn=cmd_purge)
    return p


def config_error_exit() -> int:
    """2, the exit code of a configuration error; SIGNALLOOP_CONFIG_ERROR_EXIT changes it (docker-compose.yml sets
    0, so `restart: on-failure` does not restart what a restart cannot fix)."""
    value = os.environ.get("SIGNALLOOP_CONFIG_ERROR_EXIT", "2").strip()
    return int(value) if value.isdecimal() and int(value) < 256 else 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet = args.command in (
        "demo",
        "digest",
        "import",
        "manifest",
        "purge",
        "db",
        "classify",
        "llm",
        "customers",
        "export",
        "review",
    )
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else (logging.WARNING if quiet else logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # a Slack token in a debug log line of slack_sdk would leak it: keep that logger at INFO
    logging.getLogger("slack_sdk").setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not args.verbose:
        # a line for every job added (one per digest channel at start-up) and two a run (the outbox and the scans
        # run every second while signals arrive): bot.scheduler logs what the jobs are and what they did instead
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        return args.fn(args)
    except BrokenPipeError:
        # `signalloop export … | head -1`: the reader has gone; end quietly. Python's advice: point stdout at
        # devnull so the flush at exit does not fail again (https://docs.python.org/3/library/signal.html#note-on-sigpipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except ConfigError as e:
        print(f"signalloop: {e}", file=sys.stderr)
        return config_error_exit()
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e).splitlines()[0]
        print(f"signalloop: cannot reach the database (DATABASE_URL): {reason}", file=sys.stderr)
        # always 2, never SIGNALLOOP_CONFIG_ERROR_EXIT: a database that is down may be up again, so under
        # `restart: on-failure` the app is retried until it answers
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        # its connections closed as the command ends (entry.clidb is imported only by a command that opened some)
        if (clidb := sys.modules.get("entry.clidb")) is not None:
            clidb.close_engines()


if __name__ == "__main__":
    sys.exit(main())
