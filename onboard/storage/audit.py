"""The audit chain: append-only events, each hashing the previous hash and its canonical JSON.

Appends are serialised (an advisory lock on PostgreSQL, IMMEDIATE transactions on SQLite).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from onboard.storage.models import AuditEvent

GENESIS = "0" * 64
# Any fixed number: the key of the PostgreSQL advisory lock that serialises appends.
_APPEND_LOCK = 0x0AD17


@dataclass(frozen=True)
class Cause:
    """Who did it and which Slack request carried it."""

    actor: str
    actor_team: str | None = None
    request_id: str | None = None
    request_ts: str | None = None

    @classmethod
    def system(cls) -> Cause:
        return cls(actor="system")


def canonical(event: AuditEvent | dict[str, Any]) -> str:
    """The exact text that is hashed: sorted keys, no spaces, UTC ISO time."""
    fields = event if isinstance(event, dict) else _fields(event)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "actor_team": event.actor_team,
        "action": event.action,
        "client_id": event.client_id,
        "subject": event.subject,
        "details": event.details,
        "request_id": event.request_id,
        "request_ts": event.request_ts,
    }


def chain_hash(prev_hash: str, canonical_json: str) -> str:
    return hashlib.sha256((prev_hash + canonical_json).encode()).hexdigest()


def record(
    session: Session,
    cause: Cause,
    action: str,
    *,
    client_id: int | None = None,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    event = AuditEvent(
        seq=seq,
        at=at or dt.datetime.now(dt.UTC),
        actor=cause.actor,
        actor_team=cause.actor_team,
        action=action,
        client_id=client_id,
        subject=subject,
        details=details or {},
        request_id=cause.request_id,
        request_ts=cause.request_ts,
        prev_hash=prev,
    )
    event.hash = chain_hash(prev, canonical(event))
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify(rows: Iterable[tuple[dict[str, Any], str, str]]) -> ChainBreak | None:
    """Check (fields, prev_hash, hash) rows in order; the first break found, or None."""
    expected_prev, expected_seq = GENESIS, 1
    for fields, prev_hash, stored_hash in rows:
        seq = fields["seq"]
        if seq < expected_seq:
            return ChainBreak(seq, f"out of order: expected {expected_seq}")
        if seq > expected_seq:
            return ChainBreak(expected_seq, f"missing (next present is {seq})")
        if prev_hash != expected_prev:
            return ChainBreak(seq, "previous hash does not match the event before it")
        if chain_hash(prev_hash, canonical(fields)) != stored_hash:
            return ChainBreak(seq, "content changed: hash does not match")
        expected_prev, expected_seq = stored_hash, seq + 1
    return None


def verify_database(session: Session) -> tuple[int, ChainBreak | None]:
    """Recompute the whole chain stored in the database, streaming it in seq order."""
    count = 0

    def rows() -> Iterable[tuple[dict[str, Any], str, str]]:
        nonlocal count
        result = session.execute(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=5000)
        )
        for event in result.scalars():
            count += 1
            yield _fields(event), event.prev_hash, event.hash

    found = verify(rows())
    return count, found
