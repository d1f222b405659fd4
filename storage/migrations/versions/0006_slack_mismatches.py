"""what real Slack needs kept: a capture modal's message too long for its metadata, minutes of events Slack held back

Revision ID: 0006_slack_mismatches
Revises: 0005_signal_search
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_slack_mismatches"
down_revision = "0005_signal_search"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "capture_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("draft_key", sa.String(40), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("user_id", sa.String(32)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.UniqueConstraint("team_id", "draft_key", name="uq_capture_drafts_key"),
    )
    op.create_index("ix_capture_drafts_created_at", "capture_drafts", ["created_at"])
    op.create_table(
        "event_gaps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("start_at", UTC_TS, nullable=False),
        sa.Column("noticed_at", UTC_TS, nullable=False),
        sa.Column("done_at", UTC_TS),
        sa.UniqueConstraint("team_id", "start_at", name="uq_event_gaps_start"),
    )


def downgrade() -> None:
    op.drop_table("event_gaps")
    op.drop_index("ix_capture_drafts_created_at", table_name="capture_drafts")
    op.drop_table("capture_drafts")
