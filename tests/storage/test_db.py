"""The database's connections and turns.

SQLite's one writer at a time: an ack keeping its request goes before queued work.
PostgreSQL's pooled connections: pinged before use only when they sat idle.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from onboard.storage import db as db_module
from onboard.storage.db import Database, _Turns


def test_an_urgent_writer_goes_before_those_already_waiting() -> None:
    turns = _Turns()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn(False):
            holding.set()
            release.wait(5)

    def write(name: str, urgent: bool) -> None:
        with turns.turn(urgent):
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    work = [threading.Thread(target=write, args=(f"work {n}", False)) for n in range(3)]
    for thread in work:
        thread.start()
    time.sleep(0.05)  # the work is queued first
    ack = threading.Thread(target=write, args=("ack", True))
    ack.start()
    time.sleep(0.05)
    release.set()
    for thread in [holder, *work, ack]:
        thread.join(5)

    assert order[0] == "ack"
    assert sorted(order[1:]) == ["work 0", "work 1", "work 2"]


def test_a_writer_may_take_its_turn_again_inside_its_turn() -> None:
    turns = _Turns()
    with turns.turn(False), turns.turn(True):
        pass
    done = threading.Event()

    def other() -> None:
        with turns.turn(False):
            done.set()

    threading.Thread(target=other).start()
    assert done.wait(5)  # the turn was given back whole


@pytest.fixture
def postgres() -> Iterator[Database]:
    url = os.environ.get("ONBOARD_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connections: set ONBOARD_TEST_DATABASE_URL=postgresql://…")
    database = Database(url.replace("postgresql://", "postgresql+psycopg://", 1), connections=1)
    yield database
    database.dispose()


def backend(database: Database) -> int:
    with database.transaction() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def restart_closes(pid: int) -> None:
    """What a server restart does to a pooled connection: the server ends its backend."""
    url = os.environ["ONBOARD_TEST_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_closed_while_idle_in_the_pool_is_replaced_before_use(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.05)
    first = backend(postgres)
    restart_closes(first)
    time.sleep(0.1)

    assert backend(postgres) != first  # no error: the ping found it dead


def test_an_idle_connection_that_answers_the_ping_is_used_as_it_was(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.05)
    first = backend(postgres)
    time.sleep(0.1)

    # The ping leaves no transaction open: the next use may be one autocommitted statement
    # (an ack's inbox row), which cannot start inside a transaction.
    pid = postgres.one_write(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar())
    assert pid == first


def test_a_connection_in_constant_use_is_not_pinged_and_fails_once_if_it_died(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The price of sparing busy connections a round trip: one failure, then the pool is new.
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 3600)
    first = backend(postgres)
    restart_closes(first)

    with pytest.raises(DBAPIError) as failed:
        backend(postgres)
    assert failed.value.connection_invalidated
    assert backend(postgres) != first


def test_a_postgresql_server_that_never_answers_is_given_up_on_not_waited_for() -> None:
    # A listening socket that never speaks: the TCP connection opens, PostgreSQL's start-up
    # answer never comes (a server hung or cut off mid-failover).
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        database = Database(f"postgresql+psycopg://onboard@127.0.0.1:{port}/onboard")
        answered: list[bool] = []
        asking = threading.Thread(target=lambda: answered.append(database.ping()), daemon=True)
        asking.start()
        asking.join(60)  # not a timing test: without a connect timeout it would never return
        database.dispose()
    assert answered == [False]


def test_a_database_errors_text_leaves_out_what_people_typed(tmp_path: Path) -> None:
    # Such errors are logged (Bolt logs a listener's exception): the values stay out.
    database = Database(f"sqlite:///{tmp_path / 'typed.db'}")
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE answers (id INTEGER PRIMARY KEY, answer TEXT)"))
    typed = "Carla Rivera (carla.rivera@acme.example) will add you"
    with pytest.raises(DBAPIError) as failed, database.engine.begin() as connection:
        for _ in range(2):  # the second insert breaks the primary key
            connection.execute(text("INSERT INTO answers VALUES (1, :a)"), {"a": typed})
    assert "INSERT INTO answers" in str(failed.value) and typed not in str(failed.value)
    database.dispose()
