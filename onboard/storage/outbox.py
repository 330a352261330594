"""The transactional outbox: Slack calls written with the change that decided them.

Rows are keyed (unique), claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
Rows of a live message (one message, refreshed from the state current when sent) are claimed
one message at a time across workers: see `claim`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from onboard.storage.models import OutboxMessage

# A row queued without `not_before` is due at once by any clock: a replica whose clock runs a
# little behind the one that queued it (or a test's fixed clock) does not leave it waiting.
AT_ONCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def enqueue(
    session: Session,
    key: str,
    operation: str,
    payload: dict[str, Any],
    *,
    client_id: int | None = None,
    not_before: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Add a row unless one with `key` exists; True when this call added it."""
    now = now or dt.datetime.now(dt.UTC)
    values = {
        "key": key,
        "operation": operation,
        "payload": payload,
        "client_id": client_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or AT_ONCE,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        # RETURNING, not rowcount: psycopg reports -1 rows for ON CONFLICT DO NOTHING.
        .returning(OutboxMessage.id)
    )
    return session.execute(statement).first() is not None


LEASE_SECONDS = 60  # a claimed row nobody finished in this long is claimed again


def claim(
    session: Session,
    worker: str,
    now: dt.datetime,
    *,
    limit: int = 20,
    lease_seconds: float = LEASE_SECONDS,
    one_at_a_time: Collection[str] = (),
) -> list[OutboxMessage]:
    """Take up to `limit` due rows for `worker` for `lease_seconds`; counts the attempt.

    `one_at_a_time`: operations whose rows with the same payload refresh one live message.
    Such a row is not claimed while another row of its message is claimed with a live lease:
    two workers each rendering and sending the message could have the older view land last
    (a deliverable shown waiting, with its buttons, once approved). It is left pending, and
    the next round after that refresh ends claims it, rendering the state current then.
    """
    due = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if one_at_a_time:
        # In the query, not after it: a burst queued behind a slow refresh must not fill the
        # batch and hold up every other row.
        due = due.where(
            or_(
                OutboxMessage.operation.not_in(one_at_a_time),
                ~_in_flight(session, OutboxMessage, now),
            )
        )
    rows = list(session.scalars(due))
    if one_at_a_time and session.get_bind().dialect.name == "postgresql":
        live = [r for r in rows if r.operation in one_at_a_time]
        if live:
            first = _first(session, live, now)
            rows = [r for r in rows if r.operation not in one_at_a_time or r.id in first]
    for row in rows:
        row.claimed_by = worker
        row.claimed_until = now + dt.timedelta(seconds=lease_seconds)
        row.attempts += 1
    session.flush()
    return rows


def _in_flight(session: Session, row: type[OutboxMessage], now: dt.datetime) -> ColumnElement[bool]:
    """Whether a row of the same live message as `row` is claimed with a live lease."""
    other = aliased(OutboxMessage)
    if session.get_bind().dialect.name == "postgresql":
        # `json` has no `=`; jsonb compares values, whatever the key order or spacing.
        same = other.payload.cast(postgresql.JSONB) == row.payload.cast(postgresql.JSONB)
    else:  # the stored text: one code path queues a message's rows, so it is alike
        same = other.payload == row.payload
    return exists().where(
        other.operation == row.operation,
        same,
        other.status == "pending",
        other.claimed_until >= now,
    )


def _first(session: Session, rows: list[OutboxMessage], now: dt.datetime) -> set[int]:
    """On PostgreSQL: the IDs of `rows` this claim may take, no other claim taking their
    message.

    Two claims running together do not see each other's leases (not committed yet), and
    SKIP LOCKED lets each take a different row of one message. So a claim takes a lock on
    each message until it commits (re-entrant: sibling rows in one claim take it again), and
    then looks again for a lease committed meanwhile. Busy: the row is left for a later
    round, not waited for. Two round trips for the whole batch, not two a row.
    """
    # Two messages whose keys collide only wait for each other's claims: harmless.
    keys = {row.id: _message_lock(row) for row in rows}
    locked = session.execute(
        text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) k"),
        {"keys": sorted(set(keys.values()))},
    ).all()
    held = {key for key, ok in locked if ok}
    mine = [row_id for row_id, key in keys.items() if key in held]
    if not mine:
        return set()
    this = aliased(OutboxMessage)
    taken = session.scalars(
        select(this.id).where(this.id.in_(mine), _in_flight(session, this, now))
    ).all()
    return set(mine) - set(taken)


def _message_lock(row: OutboxMessage) -> int:
    identity = f"outbox:{row.operation}:{json.dumps(row.payload, sort_keys=True)}"
    return int.from_bytes(
        hashlib.blake2b(identity.encode(), digest_size=8).digest(), "big", signed=True
    )


def renew(
    session: Session,
    row_id: int,
    worker: str,
    now: dt.datetime,
    lease_seconds: float = LEASE_SECONDS,
) -> bool:
    """Extend `worker`'s lease on a row it still holds; False when the lease ran out (another
    worker may have claimed the row since) or the row is no longer pending."""
    renewed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_by == worker,
            OutboxMessage.claimed_until > now,
        )
        .values(claimed_until=now + dt.timedelta(seconds=lease_seconds))
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def mark_sent(session: Session, row_id: int, result: dict[str, Any], now: dt.datetime) -> None:
    row = session.get_one(OutboxMessage, row_id)
    row.status, row.result, row.sent_at = "sent", result, now
    row.claimed_by = row.claimed_until = row.last_error = None


def mark_retry(
    session: Session, row_id: int, error: str, at: dt.datetime, *, counted: bool = True
) -> None:
    """`counted`: False gives back the attempt its claim counted (it only waited its turn)."""
    row = session.get_one(OutboxMessage, row_id)
    row.next_attempt_at, row.last_error = at, error[:500]
    if not counted:
        row.attempts -= 1
    row.claimed_by = row.claimed_until = None


def mark_failed(session: Session, row_id: int, error: str) -> None:
    row = session.get_one(OutboxMessage, row_id)
    row.status, row.last_error = "failed", error[:500]
    row.claimed_by = row.claimed_until = None


def waiting(session: Session, now: dt.datetime) -> tuple[int, float]:
    """How many rows wait to be sent, and the oldest one's age in seconds."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == "pending"
        )
    ).one()
    if oldest is None:  # aware: min() keeps the column's UTC type
        return 0, 0.0
    return int(count), max(0.0, (now - oldest).total_seconds())
