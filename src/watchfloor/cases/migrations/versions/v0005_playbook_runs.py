"""Playbook runs: one row per run (playbook, version, trigger, incident, state) and one per step.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("playbook", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("waiting_step", sa.String(length=128), nullable=True),
        sa.Column("approval_tier", sa.Integer(), nullable=True),
        sa.Column("approval_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approvals", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    with op.batch_alter_table("playbook_runs", schema=None) as batch_op:
        batch_op.create_index("ix_playbook_runs_state", ["state", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_playbook_runs_playbook"), ["playbook"], unique=False)
        batch_op.create_index(batch_op.f("ix_playbook_runs_incident_id"), ["incident_id"], unique=False)
    op.create_table(
        "playbook_step_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempt_log", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["playbook_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("playbook_step_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_playbook_step_runs_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("playbook_step_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playbook_step_runs_run_id"))
    op.drop_table("playbook_step_runs")
    with op.batch_alter_table("playbook_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playbook_runs_incident_id"))
        batch_op.drop_index(batch_op.f("ix_playbook_runs_playbook"))
        batch_op.drop_index("ix_playbook_runs_state")
    op.drop_table("playbook_runs")
