"""An operator upgrades the database: the migrations build exactly the schema the code expects."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from onboard.storage.db import Database
from onboard.storage.models import Base
from onboard.storage.schema import alembic_config, upgrade


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    upgrade(db)  # a second upgrade is a no-op
    with db.engine.connect() as connection:
        # Types too on PostgreSQL, which enforces lengths ("GB-ENG" in a VARCHAR(2) fails);
        # SQLite never does, and 0012 leaves its declared length alone on purpose.
        postgresql = connection.dialect.name == "postgresql"
        context = MigrationContext.configure(connection, opts={"compare_type": postgresql})
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


def _add_client(connection: Connection, client: int, slug: str, country: str = "GB") -> None:
    connection.execute(
        text(
            "INSERT INTO clients (id, slug, name, tier, timezone, country, go_live,"
            " playbook_key, playbook, stage_key, status, account_manager, created_at)"
            " VALUES (:id, :slug, :slug, 'Gold', 'Europe/London', :country, '2027-01-15',"
            " 'tiny', '{}', 'kickoff', 'active', 'U1', '2026-11-23 09:00:00')"
        ),
        {"id": client, "slug": slug, "country": country},
    )


def _add_task(connection: Connection, task: int, client: int, number: int) -> None:
    connection.execute(
        text(
            "INSERT INTO tasks (id, client_id, stage_key, number, title, owner_role,"
            " reminders_sent, created_at)"
            " VALUES (:id, :client, 'kickoff', :number, 'A task', 'Engineer', 0,"
            " '2026-11-23 09:00:00')"
        ),
        {"id": task, "client": client, "number": number},
    )


def _numbers(db: Database) -> dict[int, tuple[int, int]]:
    """Each task's (client, number), by task id."""
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, client_id, number FROM tasks")).all()
    return {task: (client, number) for task, client, number in rows}


def _downgrade(db: Database, revision: str) -> None:
    config = alembic_config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_tasks_that_shared_a_number_are_renumbered_after_the_clients_highest(
    database_url: str,
) -> None:
    # Before adding a task locked the client's row, two tasks added at once on PostgreSQL
    # could get the same number; only the first of them could ever be ticked off.
    db = Database(database_url)
    upgrade(db, "0009")
    with db.engine.begin() as connection:
        _add_client(connection, 1, "acme")
        _add_client(connection, 2, "globex")
        # Acme: two tasks 3 and two tasks 2, its highest number 4.
        for task, number in ((1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 2)):
            _add_task(connection, task, 1, number)
        # Globex: three tasks 1 (numbers are per client: Acme's 1 is no clash).
        for task in (7, 8, 9):
            _add_task(connection, task, 2, 1)
    upgrade(db)
    # The first task to hold a number keeps it; later ones follow the client's highest, in
    # the order they were added.
    assert _numbers(db) == {
        1: (1, 1),
        2: (1, 2),
        3: (1, 3),
        4: (1, 5),
        5: (1, 4),
        6: (1, 6),
        7: (2, 1),
        8: (2, 2),
        9: (2, 3),
    }
    # The database now refuses a second task 3 for Acme, but Globex may have a task 4.
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        _add_task(connection, 10, 1, 3)
    with db.engine.begin() as connection:
        _add_task(connection, 10, 2, 4)


def test_a_downgrade_drops_the_rule_and_keeps_the_new_numbers(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db, "0009")
    with db.engine.begin() as connection:
        _add_client(connection, 1, "acme")
        for task in (1, 2):
            _add_task(connection, task, 1, 1)
    upgrade(db)
    _downgrade(db, "0009")
    assert _numbers(db) == {1: (1, 1), 2: (1, 2)}  # as renumbered
    # Without the rule a duplicate goes in again, and the next upgrade renumbers it.
    with db.engine.begin() as connection:
        _add_task(connection, 3, 1, 2)
    upgrade(db)
    assert _numbers(db) == {1: (1, 1), 2: (1, 2), 3: (1, 3)}


def _countries(db: Database) -> dict[str, str]:
    with db.engine.connect() as connection:
        return dict(connection.execute(text("SELECT slug, country FROM clients")).all())


def test_after_the_upgrade_a_client_is_placed_in_its_region_and_keeps_its_tasks(
    database_url: str,
) -> None:
    # An operator upgrades a database with a London client (its contact, its task) on it;
    # the account manager then says the client is in England, and a new client is in Texas.
    db = Database(database_url)
    upgrade(db, "0011")
    with db.engine.begin() as connection:
        _add_client(connection, 1, "acme")
        connection.execute(
            text(
                "INSERT INTO contacts (client_id, role, name, email)"
                " VALUES (1, 'primary', 'Carla', 'carla@acme.example')"
            )
        )
        _add_task(connection, 1, 1, 1)
    upgrade(db)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE clients SET country = 'GB-ENG' WHERE id = 1"))
        _add_client(connection, 2, "globex", country="US-TX")
    assert _countries(db) == {"acme": "GB-ENG", "globex": "US-TX"}
    with db.engine.connect() as connection:
        kept = [
            connection.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("contacts", "tasks")
        ]
    assert kept == [1, 1]


def test_a_downgrade_keeps_each_clients_country_without_its_region(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    with db.engine.begin() as connection:
        _add_client(connection, 1, "acme", country="GB-ENG")
        _add_client(connection, 2, "globex", country="DE-BY")
        _add_client(connection, 3, "initech", country="FR")
    _downgrade(db, "0011")
    assert _countries(db) == {"acme": "GB", "globex": "DE", "initech": "FR"}


def test_versions_posted_before_the_upgrade_keep_their_deliverables_terms(
    database_url: str,
) -> None:
    db = Database(database_url)
    upgrade(db, "0014")
    with db.engine.begin() as connection:
        _add_client(connection, 1, "acme")
        connection.execute(
            text(
                "INSERT INTO deliverables (id, client_id, title, rule, required, created_by,"
                " created_at) VALUES (1, 1, 'Homepage', 'n', 2, 'U1', '2026-11-23 09:00:00')"
            )
        )
        for version in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO deliverable_versions (id, deliverable_id, number, approvers,"
                    " status, posted_at) VALUES (:v, 1, :v, '[]', 'pending',"
                    " '2026-11-23 09:00:00')"
                ),
                {"v": version},
            )
    upgrade(db)
    with db.engine.connect() as connection:
        terms = connection.execute(
            text("SELECT number, title, rule, required FROM deliverable_versions ORDER BY id")
        ).all()
    assert [tuple(row) for row in terms] == [(1, "Homepage", "n", 2), (2, "Homepage", "n", 2)]
    # And back: the columns go, the versions stay.
    _downgrade(db, "0014")
    with db.engine.connect() as connection:
        kept = connection.execute(text("SELECT count(*) FROM deliverable_versions")).scalar()
    assert kept == 2
    upgrade(db)
