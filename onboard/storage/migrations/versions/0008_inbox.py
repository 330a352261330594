"""The inbox: Slack requests acked and not yet handled, kept until their work is done.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("request_ts", sa.String(20), nullable=True),
        sa.Column("request_id", sa.String(32), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_due", "inbox", ["not_before"])


def downgrade() -> None:
    op.drop_index("ix_inbox_due", "inbox")
    op.drop_table("inbox")
