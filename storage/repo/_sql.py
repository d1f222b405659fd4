"""Dialect helpers the area modules share: an INSERT that can skip or update on conflict, rows matched."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched. Session.execute is typed to return a Result; for those statements it
    returns a CursorResult, which carries rowcount (the cast says what the type system cannot know)."""
    return cast("CursorResult[Any]", result).rowcount


def dialect_insert(session: Session, model: type) -> Any:
    """A dialect insert that supports ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def upsert(session: Session, model: type, keys: list[str], values: dict[str, Any], update: list[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE: two requests racing on the same row both succeed."""
    stmt = dialect_insert(session, model).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    session.execute(stmt)


def dialect_key(name: str) -> str:
    return "postgresql" if name == "postgresql" else "sqlite"
