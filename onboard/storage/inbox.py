"""The inbox's SQL: acked Slack requests kept until their work is done, claimed with a lease.

A row is written before Slack gets its answer and deleted when the work is done. A row whose
lease ran out (its process died) is claimed again, `FOR UPDATE SKIP LOCKED` on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from onboard.storage.models import AckedRequest

# Built once, its columns named by each call's parameters: a statement made per call with
# `.values(body=…, …)` (and its cache key, to find it compiled) cost SQLAlchemy about half
# this insert's CPU, on the ack's path.
_PUT = insert(AckedRequest.__table__).returning(AckedRequest.__table__.c.id)


def put(
    db: Connection,
    body: dict[str, Any],
    *,
    request_ts: str | None,
    request_id: str | None,
    now: dt.datetime,
    not_before: dt.datetime,
    claimed_by: str | None,
    lease: dt.timedelta,
) -> int:
    """Keep a request, its row's ID; claimed by `claimed_by` when that process will do the
    work itself. One Core statement on a connection (`Database.one_write`): it is on the
    ack's path."""
    row = {
        "body": body,
        "request_ts": request_ts,
        "request_id": request_id,
        "received_at": now,
        "not_before": not_before,
        "claimed_by": claimed_by,
        "claimed_until": now + lease if claimed_by else None,
        "attempts": 1 if claimed_by else 0,
    }
    return int(db.execute(_PUT, row).scalar_one())


def claim(
    session: Session, worker: str, now: dt.datetime, *, limit: int, lease: dt.timedelta
) -> list[AckedRequest]:
    """Up to `limit` due requests nobody holds (never claimed, or their lease ran out)."""
    due = (
        select(AckedRequest)
        .where(
            AckedRequest.not_before <= now,
            or_(AckedRequest.claimed_until.is_(None), AckedRequest.claimed_until < now),
        )
        .order_by(AckedRequest.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.scalars(due))
    for row in rows:
        row.claimed_by, row.claimed_until = worker, now + lease
        row.attempts += 1
    session.flush()
    return rows


def renew(
    session: Session, row_id: int, worker: str, now: dt.datetime, lease: dt.timedelta
) -> bool:
    """Extend `worker`'s lease; False when it ran out and another process took the row."""
    renewed = session.execute(
        update(AckedRequest)
        .where(AckedRequest.id == row_id, AckedRequest.claimed_by == worker)
        .values(claimed_until=now + lease)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def finish(session: Session, row_id: int) -> None:
    session.execute(delete(AckedRequest).where(AckedRequest.id == row_id))


def waiting(session: Session, now: dt.datetime) -> tuple[int, float]:
    """How many requests wait for their work, and the oldest one's age in seconds."""
    count, oldest = session.execute(select(func.count(), func.min(AckedRequest.received_at))).one()
    if oldest is None:  # aware: min() keeps the column's UTC type
        return 0, 0.0
    return int(count), max(0.0, (now - oldest).total_seconds())
