"""The digest sections each posted digest showed, so a section is explained the first time a channel sees it

Revision ID: 0008_digest_run_sections
Revises: 0007_slack_connect
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_digest_run_sections"
down_revision = "0007_slack_connect"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # comma-separated section keys (gap, impact, collecting); NULL for runs posted before this revision
    op.add_column("digest_runs", sa.Column("sections", sa.String(100)))


def downgrade() -> None:
    op.drop_column("digest_runs", "sections")
