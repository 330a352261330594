"""Index audit events by action: the digest replays the journey's transitions from the chain.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_action", "audit_events", ["action", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_action", "audit_events")
