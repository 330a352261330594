"""A client's country may name its region: "GB-ENG", not only "GB".

Public holidays differ by region in many countries (England's Easter Monday and Late Summer
Bank Holiday, Bavaria's, Texas's), and the whole country's list leaves them out: a London
client got reminders and stand-ups on English bank holidays. ISO 3166-2 codes are at most
six characters ("CC-XXX"); the column takes ten.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    # SQLite never enforces a VARCHAR's length, so "GB-ENG" already fits there. Changing the
    # declared type would take batch mode, which copies `clients` and drops the original:
    # with foreign keys on (they are, and cannot be turned off inside the migration's
    # transaction) that drop deletes every client's contacts, tasks and answers in cascade.
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        return
    op.alter_column(
        "clients",
        "country",
        existing_type=sa.String(2),
        type_=sa.String(10),
        existing_nullable=False,
    )


def downgrade() -> None:
    # Two characters hold no region: each client keeps its country ("GB-ENG" → "GB").
    clients = sa.table("clients", sa.column("country", sa.String))
    op.get_bind().execute(
        clients.update()
        .where(clients.c.country.like("%-%"))
        .values(country=sa.func.substr(clients.c.country, 1, 2))
    )
    if _sqlite():
        return
    op.alter_column(
        "clients",
        "country",
        existing_type=sa.String(10),
        type_=sa.String(2),
        existing_nullable=False,
    )
