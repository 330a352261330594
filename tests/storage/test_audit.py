"""The audit chain holds every fact, and any change to a stored event is found."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import AuditEvent
from onboard.storage.schema import upgrade


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    upgrade(database)
    with database.transaction() as session:
        for n in range(5):
            audit.record(session, audit.Cause("U0ALICE", "T0HOME"), "client.created", client_id=n)
    return database


def test_an_untouched_chain_verifies(db: Database) -> None:
    with db.transaction() as session:
        assert audit.verify_database(session) == (5, None)


def test_the_database_refuses_to_change_or_delete_an_event(db: Database) -> None:
    for statement in ("UPDATE audit_events SET actor = 'U0EVE'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
            session.execute(text(statement))


def drop_triggers(db: Database) -> None:
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        ("UPDATE audit_events SET actor = 'U0EVE' WHERE seq = 3", 3, "content changed"),
        ("DELETE FROM audit_events WHERE seq = 2", 2, "missing"),
        ("DELETE FROM audit_events WHERE seq = 5", None, None),
    ],
)
def test_a_changed_or_missing_event_is_named(
    db: Database, tamper: str, seq: int | None, reason: str | None
) -> None:
    drop_triggers(db)
    with db.engine.begin() as conn:
        conn.execute(text(tamper))
    with db.transaction() as session:
        _, found = audit.verify_database(session)
    if seq is None:
        # Losing the newest event is invisible to the chain alone; issue #5 anchors the head.
        assert found is None
    else:
        assert found is not None and found.seq == seq and reason in found.reason


def test_a_transaction_waiting_for_a_row_never_holds_the_chain_from_the_one_holding_it(
    db: Database,
) -> None:
    """Two people act at once: one decision's transaction records its event and then wants
    a row the other's transaction holds, and the other records its own event next. Both
    commit, in one chain: the chain's lock is taken at commit, once a transaction's rows are
    written, so neither waits for the other holding what it needs (PostgreSQL called that a
    deadlock and aborted one of them)."""
    if db.is_sqlite:
        pytest.skip("SQLite runs one writing transaction at a time: none wait for each other")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE shared_row (id integer PRIMARY KEY, n integer)"))
        conn.execute(text("INSERT INTO shared_row VALUES (1, 0)"))
    recorded, row_held = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first_person() -> None:
        try:
            with db.transaction() as session:
                audit.record(session, audit.Cause("U0ALICE"), "gate.passed", client_id=1)
                recorded.set()
                row_held.wait(5)
                session.execute(text("UPDATE shared_row SET n = n + 1 WHERE id = 1"))
        except BaseException as failure:
            failures.append(failure)

    alice = threading.Thread(target=first_person)
    alice.start()
    assert recorded.wait(5)
    with db.transaction() as session:
        session.execute(text("UPDATE shared_row SET n = n + 1 WHERE id = 1"))
        row_held.set()
        time.sleep(0.3)  # Alice's transaction now waits for this row
        audit.record(session, audit.Cause("U0BOB"), "gate.failed", client_id=1, note="not yet")
    alice.join(10)

    assert failures == []
    with db.transaction() as session:
        assert session.scalar(text("SELECT n FROM shared_row")) == 2
        assert audit.verify_database(session) == (7, None)
        assert session.scalars(select(AuditEvent.actor).order_by(AuditEvent.seq)).all()[5:] == [
            "U0BOB",
            "U0ALICE",
        ]


def test_an_event_recorded_in_a_savepoint_rolled_back_never_joins_the_chain(db: Database) -> None:
    with db.transaction() as session:
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.record(session, audit.Cause("U0ALICE"), "client.created", client_id=7)
            raise RuntimeError("undone")
        with session.begin_nested():
            audit.record(session, audit.Cause("U0ALICE"), "client.created", client_id=8)
        audit.record(session, audit.Cause("U0ALICE"), "client.created", client_id=9)

    with db.transaction() as session:
        assert audit.verify_database(session) == (7, None)
        kept = session.scalars(select(AuditEvent.client_id).order_by(AuditEvent.seq)).all()
        assert kept[5:] == [8, 9]


def actions_in_chain(db: Database) -> list[str]:
    with db.transaction() as session:
        assert audit.verify_database(session)[1] is None
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_an_event_of_a_transaction_that_never_commits_never_joins_the_chain(
    db: Database,
) -> None:
    # Rolled back before the session ran any statement: recording begins the transaction.
    with db._sessions() as session:
        audit.record(session, audit.Cause("U0ALICE"), "rolled.back")
        session.rollback()
        audit.record(session, audit.Cause("U0ALICE"), "kept.first")
        session.commit()
    # Closed without a commit, then used again.
    session = db._sessions()
    session.execute(text("SELECT 1"))
    audit.record(session, audit.Cause("U0ALICE"), "closed.away")
    session.close()
    audit.record(session, audit.Cause("U0ALICE"), "kept.second")
    session.commit()
    session.close()

    assert actions_in_chain(db)[5:] == ["kept.first", "kept.second"]


def test_a_commit_hook_that_writes_after_the_append_is_stopped_at_once(db: Database) -> None:
    """Rows written after the append would be locked under the chain's lock, where the
    deadlock lies: a before_commit hook that writes must be registered to run first."""
    hooks = sessionmaker(db.engine)
    touched = {"n": 0}

    @event.listens_for(hooks, "before_commit")  # ordinary registration: after the append
    def count_commits(session: Session) -> None:
        touched["n"] += 1
        session.execute(text("UPDATE audit_notes SET text = text WHERE seq = 0"))

    refused = pytest.raises(RuntimeError, match="after the audit chain's append")
    with refused, hooks.begin() as session:
        audit.record(session, audit.Cause("U0ALICE"), "client.created")

    assert touched["n"] == 1
    assert actions_in_chain(db)[5:] == []  # the transaction was rolled back whole
