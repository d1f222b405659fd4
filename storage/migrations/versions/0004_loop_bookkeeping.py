"""the loop's bookkeeping: corrections, outcomes told, nudges, an outbox, routing versions, redaction, focus

Revision ID: 0004_loop_bookkeeping
Revises: 0003_signal_classified_by
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_loop_bookkeeping"
down_revision = "0003_signal_classified_by"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # APScheduler used to create this table itself, outside the migrations (and raced at start-up);
    # the scheduler now keeps its jobs in memory, rebuilt from digest_schedules
    op.execute("DROP TABLE IF EXISTS apscheduler_jobs")
    with op.batch_alter_table("workspaces") as b:
        b.add_column(sa.Column("llm_redact", sa.Boolean(), nullable=False, server_default=sa.true()))
        b.add_column(sa.Column("routing_version", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("nudge_settings", sa.Text()))
    with op.batch_alter_table("customers") as b:
        b.add_column(sa.Column("owner_id", sa.String(32)))
    with op.batch_alter_table("channel_links") as b:
        b.add_column(sa.Column("thread_replies", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("slack_users") as b:
        b.add_column(sa.Column("dm_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("milestones") as b:
        b.add_column(sa.Column("ask_sent_at", UTC_TS))
        b.add_column(sa.Column("removed_at", UTC_TS))
    with op.batch_alter_table("signals") as b:
        b.add_column(sa.Column("corrected_by", sa.String(32)))
        b.add_column(sa.Column("corrected_at", UTC_TS))
    with op.batch_alter_table("digest_schedules") as b:
        b.add_column(sa.Column("focus", sa.Text()))
    with op.batch_alter_table("digest_runs") as b:
        b.add_column(sa.Column("llm_detail", sa.Text()))
        b.add_column(sa.Column("redacted", sa.Integer()))
    with op.batch_alter_table("learnings") as b:
        b.add_column(sa.Column("changed_to", sa.Text()))
    op.create_table(
        "learning_signals",
        sa.Column("learning_id", sa.Integer(), sa.ForeignKey("learnings.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("signal_id", sa.Integer(), sa.ForeignKey("signals.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("due_at", UTC_TS, nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("sent_at", UTC_TS),
        sa.UniqueConstraint("team_id", "dedupe_key", name="uq_outbox_dedupe"),
    )
    op.create_index("ix_outbox_due", "outbox", ["sent_at", "due_at"])
    op.create_table(
        "nudges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("sent_to", sa.String(32)),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.UniqueConstraint("team_id", "subject", "kind", "period", name="uq_nudges_once"),
    )
    op.create_table(
        "customer_told",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outcome_key", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.String(32)),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("told_by", sa.String(32)),
        sa.Column("told_at", UTC_TS),
        sa.UniqueConstraint("team_id", "outcome_key", name="uq_customer_told_outcome"),
    )
    op.create_index("ix_customer_told_customer_id", "customer_told", ["customer_id"])
    op.create_table(
        "milestone_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("segment", sa.String(60), nullable=False),
        sa.Column("label", sa.String(120)),
        sa.Column("titles", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(32)),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.UniqueConstraint("team_id", "segment", name="uq_milestone_templates_segment"),
    )


def downgrade() -> None:
    for table in ("milestone_templates", "customer_told", "nudges", "outbox", "learning_signals"):
        op.drop_table(table)
    for table, cols in (("learnings", ["changed_to"]), ("digest_runs", ["llm_detail", "redacted"]),
                        ("digest_schedules", ["focus"]), ("signals", ["corrected_by", "corrected_at"]),
                        ("milestones", ["ask_sent_at", "removed_at"]), ("slack_users", ["dm_opt_out"]),
                        ("channel_links", ["thread_replies"]), ("customers", ["owner_id"]),
                        ("workspaces", ["llm_redact", "routing_version", "nudge_settings"])):
        with op.batch_alter_table(table) as b:
            for col in cols:
                b.drop_column(col)
