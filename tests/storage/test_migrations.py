"""An operator upgrades the database: the migrations build exactly the schema the code expects."""

from __future__ import annotations

import datetime as dt

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from onboard.storage.db import Database
from onboard.storage.models import Base
from onboard.storage.schema import upgrade


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    upgrade(db)  # a second upgrade is a no-op
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_tasks_reminded_before_the_upgrade_are_not_reminded_again_that_day(
    database_url: str,
) -> None:
    db = Database(database_url)
    upgrade(db, "0008")
    now = "2026-11-23 09:00:00"
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO clients (id, slug, name, tier, timezone, country, go_live,"
                " playbook_key, playbook, stage_key, status, account_manager, created_at)"
                " VALUES (1, 'acme', 'Acme', 'Gold', 'Europe/London', 'GB', '2027-01-15',"
                " 'tiny', '{}', 'kickoff', 'active', 'U1', :now)"
            ),
            {"now": now},
        )
        for task in (1, 2, 3):
            connection.execute(
                text(
                    "INSERT INTO tasks (id, client_id, stage_key, number, title, owner_role,"
                    " reminders_sent, created_at)"
                    " VALUES (:id, 1, 'kickoff', :id, 'A task', 'Engineer', 1, :now)"
                ),
                {"id": task, "now": now},
            )
        # The keys that reminders had when each task was a message of its own.
        today = dt.datetime.now(dt.UTC).date()
        long_ago = (today - dt.timedelta(days=30)).isoformat()
        keys = (f"task:1:due:{long_ago}", f"task:1:overdue:{today}", f"task:2:due:{long_ago}")
        for key in keys:
            connection.execute(
                text(
                    "INSERT INTO outbox (key, operation, payload, status, attempts,"
                    " next_attempt_at, created_at)"
                    " VALUES (:key, 'slack.call', '{}', 'sent', 1, :now, :now)"
                ),
                {"key": key, "now": now},
            )
    upgrade(db)
    with db.engine.connect() as connection:
        reminded = dict(connection.execute(text("SELECT id, reminded_on FROM tasks")).all())
    # Reminded today: not again today. A reminder long ago does not matter, and is not copied.
    assert {task: str(day) if day else None for task, day in reminded.items()} == {
        1: today.isoformat(),
        2: None,
        3: None,
    }
