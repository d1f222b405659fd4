"""A signal's times are stored the same way whichever path wrote them: SQLite compares datetimes as text, so the
group-commit writer's rows and the ORM's must share one format (and rows written before 0009 are rewritten)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from storage import db
from storage.models import Signal
from tests.conftest import Running

ORM_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")  # SQLAlchemy's SQLite DATETIME


def test_a_message_on_a_whole_second_is_stored_as_the_orm_stores_times(running: Running) -> None:
    d = running.driver
    d.command("/loop", "customer add Acme")
    d.command("/loop", "link Acme", channel="C1")
    assert d.message("C1", "The export failed again", ts="1763460000.000000").status == 200  # the writer's path
    d.command("/signal", "Acme the invoices are late")  # the ORM's path
    engine = running.sf.kw["bind"]
    on_the_second = datetime(2025, 11, 18, 10, 0, tzinfo=UTC)  # 1763460000
    with running.sf() as s:
        # the signal posted on that second is found by a query for that second, on either database
        assert s.scalars(select(Signal.text).where(Signal.posted_at == on_the_second)).all() == [
            "The export failed again"
        ]
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as c:
        stored = c.exec_driver_sql("SELECT posted_at, recorded_at FROM signals").all()
    assert len(stored) == 2
    assert all(ORM_TEXT.match(v) for row in stored for v in row), stored


def test_0009_rewrites_the_writers_old_sqlite_times(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, "0008_digest_run_sections")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        for i, (posted, edited) in enumerate(
            (
                ("2025-11-18 10:00:00+00:00", None),  # a whole second: microseconds left out
                ("2025-11-18 10:00:01.000100+00:00", "2025-11-19 08:00:00+00:00"),
                ("2025-11-18 10:00:02.500000", None),  # written by the ORM: unchanged
            )
        ):
            conn.execute(
                "INSERT INTO signals (team_id, channel_id, message_ts, text, customer_id, capture_path, kind, "
                "sentiment, is_private, posted_at, recorded_at, edited_at, classified_by, first_hand) "
                "VALUES ('T1', 'C1', ?, 'x', 1, 'channel', 'other', 0, 0, ?, ?, ?, 'rules', 0)",
                (f"1763460000.00000{i}", posted, posted, edited),
            )
    db.upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        rows = conn.execute("SELECT posted_at, recorded_at, edited_at FROM signals ORDER BY message_ts").fetchall()
    assert rows == [
        ("2025-11-18 10:00:00.000000", "2025-11-18 10:00:00.000000", None),
        ("2025-11-18 10:00:01.000100", "2025-11-18 10:00:01.000100", "2025-11-19 08:00:00.000000"),
        ("2025-11-18 10:00:02.500000", "2025-11-18 10:00:02.500000", None),
    ]
