"""Alembic environment: runs on the connection the store hands it (see store/database.py)."""

from __future__ import annotations

from alembic import context

from bastion.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic is only driven through Database.upgrade
    raise RuntimeError("run migrations with `bastion db upgrade`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
