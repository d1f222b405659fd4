"""The command line's database: DATABASE_URL checked and explained in one line, never a new empty database for a
command that reads data."""

from __future__ import annotations

import os

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError, Settings
from bot.services import utcnow
from bot.weeks import Week, parse_week, week_at
from storage import repo

# the engines this command opened: entry.cli.main closes them as the command ends (close_engines)
_opened: list[Engine] = []


def _where(settings: Settings) -> str:
    if "database_url" in settings.model_fields_set:
        return "from DATABASE_URL"
    return "DATABASE_URL is not set, so the default sqlite:///signalloop.db"


def engine_and_sessions(settings: Settings, migrate: bool = True, existing: bool = False):  # noqa: ANN202
    """An engine on DATABASE_URL. `existing`: the command reads data, so a database that is not there is an
    error naming where it looked, never a new empty file."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from storage import db

    url = make_url(settings.database_url)
    if existing and url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or not os.path.exists(path):
            raise ConfigError(
                f"no database at {os.path.abspath(path) if path else '(in memory)'} ({_where(settings)}): "
                "point DATABASE_URL at the app's database, or create one with `signalloop db upgrade`"
            )
    try:
        engine = db.make_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.digest_workers
        )
    except ImportError as e:
        raise ConfigError(
            f"DATABASE_URL needs a database driver that is not installed ({str(e).splitlines()[0]}): "
            "signalloop ships sqlite and postgresql+psycopg"
        ) from None
    except (ArgumentError, NoSuchModuleError) as e:
        raise ConfigError(f"DATABASE_URL cannot be used: {str(e).splitlines()[0]}") from None
    _opened.append(engine)
    if existing and not inspect(engine).has_table("workspaces"):
        engine.dispose()
        raise ConfigError(
            f"the database {url.render_as_string(hide_password=True)} ({_where(settings)}) holds no signalloop "
            "data: point DATABASE_URL at the app's database, or create the tables with `signalloop db upgrade`"
        )
    if migrate:
        db.upgrade(settings.database_url)
    return engine, db.make_session_factory(engine)


def close_engines() -> None:
    """Close the database connections the command opened, rather than leave them to the process's exit."""
    while _opened:
        _opened.pop().dispose()


def channel_week(sf: sessionmaker[Session], team: str, channel: str, week: str | None) -> Week:
    """The week a command asks for (`--week 2026-W47`), else this week in the channel's schedule's zone (UTC when
    it has none); ValueError on a malformed week."""
    with sf() as s:
        row = repo.schedule_for(s, team_id=team, channel_id=channel)
        tz = row.tz if row else "UTC"
    return parse_week(week) if week else week_at(utcnow(), tz)
