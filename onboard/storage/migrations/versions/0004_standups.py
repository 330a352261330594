"""Hypercare: each client's window and stand-up settings, prompts, answers, days off, away days.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _client_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["client_id"], ["clients.id"], name=f"fk_{table}_client_id_clients", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "hypercare",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("stage_key", sa.String(80), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("standup_time", sa.String(5), nullable=True),
        sa.Column("cutoff_time", sa.String(5), nullable=True),
        sa.Column("reminder_minutes", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("responders", sa.JSON(), nullable=True),
        sa.Column("sdm", sa.String(32), nullable=True),
        sa.Column("review_cadence", sa.String(12), nullable=True),
        sa.Column("bau_started_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hypercare"),
        sa.UniqueConstraint("client_id", name="uq_hypercare_client_id"),
        _client_fk("hypercare"),
    )
    op.create_table(
        "standup_prompts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("expected", sa.JSON(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_standup_prompts"),
        sa.UniqueConstraint("client_id", "day", "kind", name="uq_standup_prompts_client_id"),
        _client_fk("standup_prompts"),
    )
    op.create_table(
        "standup_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("yesterday", sa.Text(), nullable=False),
        sa.Column("today", sa.Text(), nullable=False),
        sa.Column("blockers", sa.Text(), nullable=True),
        sa.Column("health", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_standup_answers"),
        sa.UniqueConstraint("prompt_id", "user_id", name="uq_standup_answers_prompt_id"),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["standup_prompts.id"],
            name="fk_standup_answers_prompt_id_standup_prompts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "standup_days_off",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("added_by", sa.String(32), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_standup_days_off"),
        sa.UniqueConstraint("client_id", "day", name="uq_standup_days_off_client_id"),
        _client_fk("standup_days_off"),
    )
    op.create_table(
        "standup_away",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("added_by", sa.String(32), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_standup_away"),
        _client_fk("standup_away"),
    )
    op.create_index("ix_standup_away_client", "standup_away", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_standup_away_client", table_name="standup_away")
    for table in (
        "standup_away",
        "standup_days_off",
        "standup_answers",
        "standup_prompts",
        "hypercare",
    ):
        op.drop_table(table)
