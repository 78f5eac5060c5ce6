"""Business context: assets, identities and business services, and each incident's priority.

The context tables are keyed by their lower-case name (host name, user name, service name); list
columns (addresses, aliases) are JSON. `incidents.priority` (P1..P4) and `incidents.priority_score`
(0..100) are empty for incidents opened before this revision. The old `critical_entities` table stays:
routing reads it beside these tables (see cases/routing.py).

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "context_assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=512), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("criticality", sa.Integer(), nullable=False),
        sa.Column("sensitivity", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("business_service", sa.String(length=256), nullable=False),
        sa.Column("crown_jewel", sa.Boolean(), nullable=False),
        sa.Column("exposure", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hostname"),
    )
    op.create_table(
        "context_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("criticality", sa.Integer(), nullable=False),
        sa.Column("sensitivity", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("business_service", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "business_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("criticality", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("priority_score", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("priority_score")
        batch_op.drop_column("priority")
    op.drop_table("business_services")
    op.drop_table("context_identities")
    op.drop_table("context_assets")
