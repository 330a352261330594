"""Acks' writes on SQLite: those that wait together commit together, each with its own result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError

from onboard.storage.db import Database

Write = Callable[[Connection], str]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/group.db")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE kept (name TEXT PRIMARY KEY)"))
    yield database
    database.dispose()


def commits(db: Database) -> list[int]:
    seen: list[int] = []
    event.listen(db.engine, "commit", lambda _conn: seen.append(1))
    return seen


def keep(name: str) -> Write:
    def write(connection: Connection) -> str:
        connection.execute(text("INSERT INTO kept (name) VALUES (:n)"), {"n": name})
        return f"kept {name}"

    return write


def kept(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(text("SELECT name FROM kept ORDER BY name")))


def while_work_holds_the_turn(db: Database, writes: dict[str, Write]) -> dict[str, object]:
    """Each write from its own thread, all started while a transaction holds the write lock."""
    holding, release = threading.Event(), threading.Event()
    answers: dict[str, object] = {}

    def work() -> None:
        with db.transaction():
            holding.set()
            release.wait(5)

    def ack(name: str, write: Write) -> None:
        try:
            answers[name] = db.one_write(write)
        except Exception as error:
            answers[name] = error

    holder = threading.Thread(target=work)
    holder.start()
    holding.wait(5)
    acks = [threading.Thread(target=ack, args=item) for item in writes.items()]
    for thread in acks:
        thread.start()
    time.sleep(0.1)  # every ack is waiting
    release.set()
    for thread in [holder, *acks]:
        thread.join(5)
    return answers


def test_acks_waiting_behind_work_are_kept_in_one_commit(db: Database) -> None:
    seen = commits(db)

    answers = while_work_holds_the_turn(db, {name: keep(name) for name in "abcde"})

    assert answers == {name: f"kept {name}" for name in "abcde"}
    assert kept(db) == list("abcde")
    assert len(seen) == 2  # the work's, and one for the five acks


def test_a_write_that_fails_fails_alone(db: Database) -> None:
    answers = while_work_holds_the_turn(db, {"a": keep("a"), "again": keep("a"), "b": keep("b")})

    assert isinstance(answers["again"], Exception)
    assert {answers["a"], answers["b"]} == {"kept a", "kept b"}
    assert kept(db) == ["a", "b"]


def test_one_ack_alone_is_kept_at_once(db: Database) -> None:
    assert db.one_write(keep("solo")) == "kept solo"
    assert kept(db) == ["solo"]


def test_a_write_alone_that_fails_keeps_nothing_and_the_next_one_is_kept(db: Database) -> None:
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    db.one_write(keep("a"))

    def half_then_fail(connection: Connection) -> str:
        keep("b")(connection)
        raise ValueError("the write's own mistake")

    with pytest.raises(IntegrityError):
        db.one_write(keep("a"))  # its caller gets its error
    with pytest.raises(ValueError, match="own mistake"):
        db.one_write(half_then_fail)

    assert db.one_write(keep("c")) == "kept c"
    assert kept(db) == ["a", "c"]  # nothing of the two that failed
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]  # alone: none needed
