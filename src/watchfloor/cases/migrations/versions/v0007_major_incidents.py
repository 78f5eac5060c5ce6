"""Major incidents: joins the auth, playbook-run and business-context branches, and adds their tables.

A merge revision: 0004, 0005 and 0006 were each written on top of 0003; this one depends on all three,
so `alembic heads` is one head again. Its own change is the major-incident tables (members, stakeholder
updates, per-audience deliveries with acknowledgements, review action items) and the tabletop-exercise
runs with their participants' responses.

Revision ID: 0007
Revises: 0004, 0005, 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision = "0007"
down_revision = ("0004", "0005", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "major_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("cadence_minutes", sa.Integer(), nullable=False),
        sa.Column("declared_by", sa.String(length=128), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_exercise", sa.Boolean(), nullable=False),
        sa.Column("lessons", sa.Text(), nullable=False),
        sa.Column("review", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=128), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_major_incidents_state", "major_incidents", ["state"])
    op.create_table(
        "major_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("major_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.ForeignKeyConstraint(["major_id"], ["major_incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("major_id", "incident_id"),
    )
    op.create_index("ix_major_members_major_id", "major_members", ["major_id"])
    op.create_index("ix_major_members_incident_id", "major_members", ["incident_id"])
    op.create_table(
        "major_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("major_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("doing", sa.Text(), nullable=False),
        sa.Column("need", sa.Text(), nullable=False),
        sa.Column("next_update_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["major_id"], ["major_incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_major_updates_major_id", "major_updates", ["major_id"])
    op.create_table(
        "major_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["update_id"], ["major_updates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("update_id", "audience"),
    )
    op.create_index("ix_major_deliveries_update_id", "major_deliveries", ["update_id"])
    op.create_table(
        "major_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("major_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_by", sa.String(length=128), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["major_id"], ["major_incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_major_actions_major_id", "major_actions", ["major_id"])
    op.create_table(
        "tabletop_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("scenario", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tabletop_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("inject", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["tabletop_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tabletop_responses_run_id", "tabletop_responses", ["run_id"])


def downgrade() -> None:
    """Revert this revision (back to the three branch heads)."""
    op.drop_table("tabletop_responses")
    op.drop_table("tabletop_runs")
    op.drop_table("major_actions")
    op.drop_table("major_deliveries")
    op.drop_table("major_updates")
    op.drop_table("major_members")
    op.drop_table("major_incidents")
