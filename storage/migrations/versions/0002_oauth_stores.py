"""slack_sdk's OAuth installation and state store tables (multi-workspace installs)

Revision ID: 0002_oauth_stores
Revises: 0001_initial
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

revision = "0002_oauth_stores"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# the tables exactly as slack_sdk's stores define them, so the stores find what they expect
_metadata = sa.MetaData()
SQLAlchemyInstallationStore.build_installations_table(_metadata, "slack_installations")
SQLAlchemyInstallationStore.build_bots_table(_metadata, "slack_bots")
SQLAlchemyOAuthStateStore.build_oauth_states_table(_metadata, "slack_oauth_states")


def upgrade() -> None:
    _metadata.create_all(op.get_bind())


def downgrade() -> None:
    _metadata.drop_all(op.get_bind())
