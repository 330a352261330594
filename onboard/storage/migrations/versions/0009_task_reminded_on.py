"""Tasks remember the local date of their last reminder, for one reminder message a day each.

A day's reminders are one message per person (or channel); a task that falls due later that
day gets a message of its own, and is in no other message that day.

Revision ID: 0009
Revises: 0008
"""

import datetime as dt
import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The key each reminder had when every task was a message of its own.
OLD_KEY = re.compile(r"task:(\d+):(?:due|overdue):(\d{4}-\d{2}-\d{2})")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("reminded_on", sa.Date(), nullable=True))
    # A task already reminded today, before the upgrade, is not reminded again today. Only
    # "today" matters (a client's today is at most a day off UTC's), so a year of old keys
    # updates no rows.
    connection = op.get_bind()
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    last: dict[int, dt.date] = {}
    for (key,) in connection.execute(sa.text("SELECT key FROM outbox WHERE key LIKE 'task:%'")):
        found = OLD_KEY.fullmatch(key)
        if found and (day := dt.date.fromisoformat(found[2])) >= since:
            task = int(found[1])
            last[task] = max(day, last.get(task, day))
    tasks = sa.table("tasks", sa.column("id", sa.Integer), sa.column("reminded_on", sa.Date))
    for task, day in last.items():
        connection.execute(tasks.update().where(tasks.c.id == task).values(reminded_on=day))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("reminded_on")
