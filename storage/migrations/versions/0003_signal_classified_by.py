"""who classified a signal's kind and sentiment: the rules, or the model (optional LLM classification)

Revision ID: 0003_signal_classified_by
Revises: 0002_oauth_stores
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_signal_classified_by"
down_revision = "0002_oauth_stores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rules: the rules' answer (the model not asked yet); model: the model's answer; kept: the model was
    # asked and gave no valid answer, so the rules' answer stays and it is not asked again
    with op.batch_alter_table("signals") as batch:
        batch.add_column(sa.Column("classified_by", sa.String(8), nullable=False, server_default="rules"))


def downgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        batch.drop_column("classified_by")
