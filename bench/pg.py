"""A throwaway PostgreSQL schema for a benchmark: made fresh, dropped after."""

from __future__ import annotations

import os
import socket
import time

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def fresh_pg_schema() -> str:
    from sqlalchemy import text

    from storage import db

    schema = f"bench_{int(time.time())}"
    eng = db.make_engine(PG)
    with eng.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    return f"{PG}?options=-csearch_path%3D{schema}"


def drop_pg_schema(url: str) -> None:
    from sqlalchemy import text

    from storage import db

    schema = url.rsplit("%3D", 1)[1]
    eng = db.make_engine(PG)
    with eng.begin() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    eng.dispose()
