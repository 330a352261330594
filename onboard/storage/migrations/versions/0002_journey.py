"""The journey: tasks and gates per client stage, the pinned card, stage timing, reminders.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("stage_entered_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("card_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("reminders_muted_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("completed_at", sa.DateTime(), nullable=True))
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("stage_key", sa.String(80), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("owner_role", sa.String(80), nullable=False),
        sa.Column("assignee", sa.String(32), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_by", sa.String(32), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name="fk_tasks_client_id_clients", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_tasks_client_stage", "tasks", ["client_id", "stage_key"])
    op.create_table(
        "gate_states",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("stage_key", sa.String(80), nullable=False),
        sa.Column("gate_key", sa.String(80), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gate_states"),
        sa.UniqueConstraint("client_id", "gate_key", name="uq_gate_states_client_id"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name="fk_gate_states_client_id_clients",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("gate_states")
    op.drop_table("tasks")
    with op.batch_alter_table("clients") as batch:
        for column in ("completed_at", "reminders_muted_until", "card_ts", "stage_entered_at"):
            batch.drop_column(column)
