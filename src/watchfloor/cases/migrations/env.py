"""Alembic environment: runs on the connection `watchfloor.cases.db` hands over, with the cases models."""

from __future__ import annotations

from alembic import context

from watchfloor.cases.models import Base

__all__: list[str] = []

_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("watchfloor migrations run through watchfloor.cases.db.open_database only")
context.configure(connection=_connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
