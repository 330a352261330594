"""Index outbox rows by operation and lease: a live message's row is claimed only when no row
of the same message is in flight, which the claim asks of the few rows with a live lease.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_claimed", "outbox", ["operation", "claimed_until"])


def downgrade() -> None:
    op.drop_index("ix_outbox_claimed", "outbox")
