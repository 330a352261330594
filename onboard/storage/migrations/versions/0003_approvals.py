"""Approvals: client approvers, deliverables, their versions and one decision per approver.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _client_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["client_id"], ["clients.id"], name=f"fk_{table}_client_id_clients", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "approvers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("added_by", sa.String(32), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvers"),
        sa.UniqueConstraint("client_id", "user_id", name="uq_approvers_client_id"),
        _client_fk("approvers"),
    )
    op.create_table(
        "deliverables",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(150), nullable=False),
        sa.Column("gate_key", sa.String(80), nullable=True),
        sa.Column("rule", sa.String(8), nullable=False),
        sa.Column("required", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliverables"),
        _client_fk("deliverables"),
    )
    op.create_table(
        "deliverable_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deliverable_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("link", sa.String(3000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("approvers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("nudged_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliverable_versions"),
        sa.UniqueConstraint(
            "deliverable_id", "number", name="uq_deliverable_versions_deliverable_id"
        ),
        sa.ForeignKeyConstraint(
            ["deliverable_id"],
            ["deliverables.id"],
            name="fk_deliverable_versions_deliverable_id_deliverables",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.UniqueConstraint("version_id", "approver", name="uq_decisions_version_id"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["deliverable_versions.id"],
            name="fk_decisions_version_id_deliverable_versions",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    for table in ("decisions", "deliverable_versions", "deliverables", "approvers"):
        op.drop_table(table)
