"""The transactional outbox: Slack calls written with the change that decided them.

Rows are keyed (unique), claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

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
) -> list[OutboxMessage]:
    """Take up to `limit` due rows for `worker` for `lease_seconds`; counts the attempt."""
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
    rows = list(session.scalars(due))
    for row in rows:
        row.claimed_by = worker
        row.claimed_until = now + dt.timedelta(seconds=lease_seconds)
        row.attempts += 1
    session.flush()
    return rows


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


def mark_retry(session: Session, row_id: int, error: str, at: dt.datetime) -> None:
    row = session.get_one(OutboxMessage, row_id)
    row.next_attempt_at, row.last_error = at, error[:500]
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
