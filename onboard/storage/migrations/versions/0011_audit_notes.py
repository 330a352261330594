"""What people type for an audit event is kept beside the chain, where erasure reaches it.

Why a stage was forced or sent back and why a gate failed were stored in the events' details,
which the chain's hashes fix for good: erasing a client could not remove a reason naming its
people. New events keep the text in `audit_notes` and say only `has_note` in the chain. Events
recorded before this migration keep their text: rewriting them would break the chain.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_notes",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["seq"], ["audit_events.seq"], name="fk_audit_notes_seq_audit_events"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_notes"),
    )
    op.create_index("ix_audit_notes_client_id", "audit_notes", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_notes_client_id", table_name="audit_notes")
    op.drop_table("audit_notes")
