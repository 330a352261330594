"""One number per task of a client: the number people type (`/onboard task done 3`) is unique.

Before adding tasks locked the client's row, two tasks added at once on PostgreSQL could get
the same number, and only the first could ever be ticked off. Each such pair is renumbered
first: the task that had the number first (the lowest id), the one people could tick, keeps
it; later ones take new numbers after the client's highest, in id order. Audit events keep the
numbers they were recorded with: the chain is never rewritten.

Revision ID: 0010
Revises: 0009
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.Integer),
        sa.column("client_id", sa.Integer),
        sa.column("number", sa.Integer),
    )
    # Only clients with a duplicate are read: on a healthy database this updates no rows.
    clashing = (
        sa.select(tasks.c.client_id)
        .group_by(tasks.c.client_id, tasks.c.number)
        .having(sa.func.count() > 1)
        .distinct()
    )
    rows = connection.execute(
        sa.select(tasks.c.id, tasks.c.client_id, tasks.c.number)
        .where(tasks.c.client_id.in_(clashing))
        .order_by(tasks.c.client_id, tasks.c.id)
    ).all()
    by_client: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for task, client, number in rows:
        by_client[client].append((task, number))
    for numbered in by_client.values():
        highest = max(number for _, number in numbered)
        taken: set[int] = set()
        for task, number in numbered:  # in id order: the first to hold a number keeps it
            if number in taken:
                highest += 1
                connection.execute(tasks.update().where(tasks.c.id == task).values(number=highest))
            else:
                taken.add(number)
    # SQLite cannot add a constraint to a table: batch mode copies it into a new one.
    with op.batch_alter_table("tasks") as batch:
        batch.create_unique_constraint("uq_tasks_client_id", ["client_id", "number"])


def downgrade() -> None:
    # Renumbered tasks keep their new numbers: which of them once shared one is not recorded.
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("uq_tasks_client_id", type_="unique")
