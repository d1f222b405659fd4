"""full-text search over signals: SQLite FTS5 kept in step by triggers, PostgreSQL tsvector with a GIN index

Revision ID: 0005_signal_search
Revises: 0004_loop_bookkeeping
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005_signal_search"
down_revision = "0004_loop_bookkeeping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # a generated column follows every insert, edit, correction and deletion (a deleted signal's text is
        # erased). The kind rides along as one lexeme no word can produce ("~kind:problem"), so `kind:` is
        # answered inside the GIN index instead of by reading every row the words match.
        op.execute(
            "ALTER TABLE signals ADD COLUMN search tsvector GENERATED ALWAYS AS "
            "(CASE WHEN coalesce(text, '') = '' THEN ''::tsvector ELSE "
            "to_tsvector('english', text || ' ' || coalesce(note, '')) "
            "|| array_to_tsvector(ARRAY['~kind:' || coalesce(kind, 'other')]) END) STORED"
        )
        op.execute("CREATE INDEX ix_signals_search ON signals USING gin (search)")
        return
    # porter: words match by their stems ("exports" finds "export"); the table holds no copy of the text
    op.execute(
        "CREATE VIRTUAL TABLE signals_fts USING fts5(text, note, content='signals', content_rowid='id', "
        "tokenize='porter unicode61')"
    )
    op.execute("INSERT INTO signals_fts(rowid, text, note) SELECT id, text, coalesce(note, '') FROM signals")
    op.execute(
        "CREATE TRIGGER signals_fts_insert AFTER INSERT ON signals BEGIN "
        "INSERT INTO signals_fts(rowid, text, note) VALUES (new.id, new.text, coalesce(new.note, '')); END"
    )
    op.execute(
        "CREATE TRIGGER signals_fts_delete AFTER DELETE ON signals BEGIN "
        "INSERT INTO signals_fts(signals_fts, rowid, text, note) VALUES ('delete', old.id, old.text, "
        "coalesce(old.note, '')); END"
    )
    op.execute(
        "CREATE TRIGGER signals_fts_update AFTER UPDATE OF text, note ON signals BEGIN "
        "INSERT INTO signals_fts(signals_fts, rowid, text, note) VALUES ('delete', old.id, old.text, "
        "coalesce(old.note, '')); "
        "INSERT INTO signals_fts(rowid, text, note) VALUES (new.id, new.text, coalesce(new.note, '')); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_signals_search")
        op.execute("ALTER TABLE signals DROP COLUMN IF EXISTS search")
        return
    for trigger in ("signals_fts_insert", "signals_fts_delete", "signals_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS signals_fts")
