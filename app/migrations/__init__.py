"""Alembic migration scripts (run them with `app.models.migrate` or `alembic` from the repo root)."""
