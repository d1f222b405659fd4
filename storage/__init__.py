"""Persistence only: models, engine/session factory, queries, migrations."""
