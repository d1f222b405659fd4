"""SQLite: the signals' times written by the group-commit writer in SQLAlchemy's text format

The writer's own SQLite path stored a datetime as Python's sqlite3 adapter writes it ('2026-12-07 09:30:00+00:00',
microseconds left out when zero), the ORM as '2026-12-07 09:30:00.000000'. SQLite compares them as text, so a signal
posted on a whole second compared before that same second written the other way (a week's first second, an
ordering). This rewrites the writer's rows in the ORM's format; PostgreSQL stores timestamptz and is unchanged.

Revision ID: 0009_sqlite_signal_times
Revises: 0008_digest_run_sections
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009_sqlite_signal_times"
down_revision = "0008_digest_run_sections"
branch_labels = None
depends_on = None

# the signals' datetime columns (storage.models.Signal), as the writer could have stored them
COLUMNS = (
    "posted_at",
    "recorded_at",
    "edited_at",
    "deleted_at",
    "corrected_at",
    "answered_at",
    "unanswered_nudged_at",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for col in COLUMNS:
        # 'YYYY-MM-DD HH:MM:SS+00:00' (25 characters) or 'YYYY-MM-DD HH:MM:SS.ffffff+00:00' (32), always UTC
        op.execute(
            f"UPDATE signals SET {col} = substr({col}, 1, 19) || '.' || "
            f"CASE WHEN length({col}) = 25 THEN '000000' ELSE substr({col}, 21, 6) END "
            f"WHERE {col} LIKE '%+00:00'"
        )


def downgrade() -> None:
    pass  # the ORM's format is read the same way by every version
