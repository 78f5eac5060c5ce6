"""Queue indexes: every filter and sort of the queue list served from an index, not a table scan.

Measured with `bench/incidents_queue.py` (100,000 incidents, 1,000,000 alerts; docs/performance.md):
before these, the assignee and exercise filters read every open incident from the table, and every
sort other than "tier then severity" sorted the whole matching set in a temporary B-tree. Each index
below starts with the filter's equality columns and ends with the sort columns and the id, so the ids
of a page come from the index alone, already in order (SQLite walks an `IN` list of states as one
ordered range per state).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

__all__: list[str] = []

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES: dict[str, list[str]] = {
    "ix_incidents_state_severity": ["state", "severity_rank", "id"],
    "ix_incidents_queue_severity": ["queue", "state", "severity_rank", "id"],
    "ix_incidents_state_id": ["state", "id"],
    "ix_incidents_state_last_alert": ["state", "last_alert_at", "id"],
    "ix_incidents_assignee_queue": ["assignee", "state", "severity_rank", "id"],
    "ix_incidents_exercise_queue": ["is_exercise", "state", "severity_rank", "id"],
}


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for name in reversed(INDEXES):
            batch_op.drop_index(name)
