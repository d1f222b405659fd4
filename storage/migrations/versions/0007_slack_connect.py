"""Slack Connect: what a channel is shared with, the connected organisations, first-hand signals, answers

Revision ID: 0007_slack_connect
Revises: 0006_slack_mismatches
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_slack_connect"
down_revision = "0006_slack_mismatches"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy): SQLite keeps the signals table, its full-text triggers with it
    op.add_column("channel_info", sa.Column("is_ext_shared", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("channel_info", sa.Column("is_shared", sa.Boolean(), nullable=False, server_default=sa.false()))
    # JSON list of the team ids the channel is connected to (conversations.info's connected_team_ids)
    op.add_column("channel_info", sa.Column("connected_team_ids", sa.Text()))
    # whether Slack itself said (conversations.info); a name from a command payload alone is not knowledge
    op.add_column("channel_info", sa.Column("checked_at", UTC_TS))
    op.add_column("channel_info", sa.Column("is_member", sa.Boolean(), nullable=False, server_default=sa.false()))
    # auto-link: proposed once; "Ignore" stops proposals; "Not this customer" remembers whom not to propose
    op.add_column("channel_info", sa.Column("link_proposed_at", UTC_TS))
    op.add_column("channel_info", sa.Column("link_ignored", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("channel_info", sa.Column("link_rejected", sa.Text()))
    op.add_column("workspaces", sa.Column("connect_settings", sa.Text()))
    op.add_column("signals", sa.Column("author_team_id", sa.String(32)))
    op.add_column("signals", sa.Column("first_hand", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("signals", sa.Column("answered_at", UTC_TS))
    op.add_column("signals", sa.Column("answered_by", sa.String(32)))
    op.add_column("signals", sa.Column("unanswered_nudged_at", UTC_TS))
    op.create_table(
        "connected_teams",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("org_team_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("domain", sa.String(200)),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True),
        sa.Column("updated_at", UTC_TS, nullable=False),
    )
    # the unanswered-questions job reads first-hand questions and requests not answered yet
    op.create_index("ix_signals_unanswered", "signals", ["team_id", "first_hand", "answered_at"])


def downgrade() -> None:
    op.drop_index("ix_signals_unanswered", "signals")
    op.drop_table("connected_teams")
    for col in ("unanswered_nudged_at", "answered_by", "answered_at", "first_hand", "author_team_id"):
        with op.batch_alter_table("signals") as b:
            b.drop_column(col)
    with op.batch_alter_table("workspaces") as b:
        b.drop_column("connect_settings")
    with op.batch_alter_table("channel_info") as b:
        for col in (
            "link_rejected",
            "link_ignored",
            "link_proposed_at",
            "is_member",
            "checked_at",
            "connected_team_ids",
            "is_shared",
            "is_ext_shared",
        ):
            b.drop_column(col)
