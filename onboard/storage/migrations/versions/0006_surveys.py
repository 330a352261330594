"""Satisfaction surveys and their answers (one per person, changeable until the survey closes).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("occasion", sa.String(20), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closes_at", sa.DateTime(), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        sa.UniqueConstraint("client_id", "occasion", name="uq_surveys_client_id"),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name="fk_surveys_client_id_clients", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_survey_answers"),
        sa.UniqueConstraint("survey_id", "user_id", name="uq_survey_answers_survey_id"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_survey_answers_survey_id_surveys",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("survey_answers")
    op.drop_table("surveys")
