"""Each deliverable version keeps the title and approval rule it was posted with.

They lived on the deliverable alone, so posting v2 under a new title or rule rewrote what v1's
message showed once it was marked superseded: "Homepage v1 (superseded) · any one approver"
for a version the client was asked to approve with every approver. Versions posted before
this upgrade take their deliverable's present terms, the best there is.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("title", sa.String(150), ""),
    ("rule", sa.String(8), "all"),
    ("required", sa.Integer(), "1"),
)


def upgrade() -> None:
    # Added with a default, as SQLite adds a NOT NULL column only so (batch mode would copy
    # the table and, with foreign keys on, cascade-delete its decisions: see 0012).
    for name, type_, default in _COLUMNS:
        op.add_column(
            "deliverable_versions",
            sa.Column(name, type_, nullable=False, server_default=default),
        )
    versions = sa.table(
        "deliverable_versions",
        sa.column("deliverable_id", sa.Integer),
        *(sa.column(name, type_) for name, type_, _ in _COLUMNS),
    )
    deliverables = sa.table(
        "deliverables",
        sa.column("id", sa.Integer),
        *(sa.column(name, type_) for name, type_, _ in _COLUMNS),
    )
    op.get_bind().execute(
        versions.update().values(
            {
                name: sa.select(deliverables.c[name])
                .where(deliverables.c.id == versions.c.deliverable_id)
                .scalar_subquery()
                for name, _, _ in _COLUMNS
            }
        )
    )
    if op.get_bind().dialect.name != "sqlite":
        for name, type_, _ in _COLUMNS:
            op.alter_column("deliverable_versions", name, existing_type=type_, server_default=None)


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN, which SQLite has had since 3.35 (no batch copy).
    for name, _, _ in _COLUMNS:
        op.drop_column("deliverable_versions", name)
