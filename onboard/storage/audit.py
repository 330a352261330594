"""The audit chain: append-only events, each hashing the previous hash and its canonical JSON.

Owns appending (as a transaction commits, serialised: an advisory lock on PostgreSQL, IMMEDIATE
transactions on SQLite) and verifying the stored chain fast; exports are
onboard/storage/audit_export.py.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, DateTime, String, Text, cast, func, select, text, type_coerce
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.event import listens_for
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.elements import ColumnElement

from onboard.storage.models import AuditEvent, AuditNote

GENESIS = "0" * 64
# Any fixed number: the key of the PostgreSQL advisory lock that serialises appends.
_APPEND_LOCK = 0x0AD17
_TAKE_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


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


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields of a stored event that `canonical()` hashes."""
    return _fields(event)


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
    note: str | None = None,
) -> AuditEvent:
    """Add one event to the caller's transaction. `note`: what someone typed for it (a
    reason), kept beside the chain where erasure can reach it; the event says `has_note`.

    The event joins the chain when the transaction commits (its seq and hashes are set then):
    appending takes the chain's one lock, and taking it last, once every row the transaction
    changes is written and locked, means no transaction ever holds it while it waits for a
    row. Taken mid-transaction, it deadlocked on PostgreSQL against a transaction that held
    a row this one wanted next and waited for the lock to append."""
    if note is not None:
        details = {**(details or {}), "has_note": True}
    event = AuditEvent(
        at=at or dt.datetime.now(dt.UTC),
        actor=cause.actor,
        actor_team=cause.actor_team,
        action=action,
        client_id=client_id,
        subject=subject,
        details=details or {},
        request_id=cause.request_id,
        request_ts=cause.request_ts,
    )
    # Begun here if need be: a rollback before the session's first statement must undo it too.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    entry = _Pending(event, note, transaction)
    if session.info.get(_APPENDED):
        # Recorded by another before-commit hook that ran after the append: the lock is held
        # already, so this one joins the chain at once.
        _append(session, [entry])
    else:
        session.info.setdefault(_PENDING, []).append(entry)
    return event


_PENDING = "audit_pending"  # in Session.info: events recorded, not yet appended
_APPENDED = "audit_appended"  # in Session.info: this transaction's events are appended


@dataclass
class _Pending:
    event: AuditEvent
    note: str | None
    transaction: SessionTransaction  # where it was recorded (a savepoint may undo it)


@listens_for(Session, "before_commit")
def _append_recorded(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: its events join the chain with the transaction's
    session.flush()  # every row change written (and locked) before the chain's lock
    pending = session.info.pop(_PENDING, [])
    if pending:
        _append(session, pending)
    session.info[_APPENDED] = True


def _append(session: Session, pending: list[_Pending]) -> None:
    """Give the events their places at the chain's end, in the order they were recorded."""
    if session.get_bind().dialect.name == "postgresql":
        # Held until commit; on SQLite the IMMEDIATE transaction already serialises writers.
        session.execute(_TAKE_LOCK, {"key": _APPEND_LOCK})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS)
    for entry in pending:
        seq += 1
        event = entry.event
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = chain_hash(prev, canonical(event))
        session.add(event)
        if entry.note is not None:
            session.add(AuditNote(seq=seq, client_id=event.client_id, text=entry.note))
    session.flush()


@listens_for(Session, "before_flush")
def _nothing_after_the_append(session: Session, _context: Any, _instances: Any) -> None:
    """Rows written after the append would be locked under the chain's lock, the deadlock the
    append at commit avoids: a before_commit hook that changes rows must run before it
    (`event.listen(..., insert=True)`, as bot/intake_messages.py does)."""
    if not session.info.get(_APPENDED):
        return
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(not isinstance(row, AuditEvent | AuditNote) for row in changed):
        raise RuntimeError("rows changed after the audit chain's append, under its lock")


@listens_for(Session, "do_orm_execute")
def _no_statement_after_the_append(state: ORMExecuteState) -> None:
    """The same for statements a hook runs itself (an UPDATE, or text())."""
    if state.session.info.get(_APPENDED) and not (state.is_select or state.statement is _TAKE_LOCK):
        raise RuntimeError("a statement run after the audit chain's append, under its lock")


@listens_for(Session, "after_soft_rollback")
def _forget_undone(session: Session, previous: SessionTransaction) -> None:
    """Events recorded in a savepoint rolled back never happened."""
    pending = session.info.get(_PENDING)
    if pending:
        pending[:] = [e for e in pending if not _inside(e.transaction, previous)]


@listens_for(Session, "after_transaction_end")
def _done(session: Session, transaction: SessionTransaction) -> None:
    """The transaction committed, rolled back or was closed: nothing of it is left to append."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_APPENDED, None)


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


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


# -- reading the stored chain fast ---------------------------------------------------------------
#
# Verifying a million events in a few seconds leaves a few microseconds per event. So the chain
# is read with one streamed SELECT of raw columns (no ORM objects, no per-row type processing,
# the time as text), and each event's canonical JSON is assembled in one f-string from its
# JSON-encoded columns instead of building and sorting a dict per row; `details` is re-encoded
# once per distinct stored text. That is optimistic: an event whose assembled text does not hash
# right is recomputed the general way, from its values as the ORM reads them, before it is
# called changed. Assembled text that does hash right is `canonical()`'s text, and each column
# in it is a valid JSON encoding of the stored value, so the stored values are the hashed ones.

VERIFY_BATCH = 20_000  # rows per fetch
# Distinct `details` texts whose canonical text is remembered: most events repeat a few shapes.
DETAILS_CACHE_SIZE = 100_000
_NULL = "null"


def _slow_details(raw: Any) -> str:
    """`details` as `canonical()` writes it, from the stored JSON text (json.loads, as the ORM)."""
    return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _details_codec() -> Callable[[Any], str]:
    """The fastest exact way to turn stored `details` text into its canonical text.

    json.loads and json.dumps spend most of their time setting up per call; the C scanner and
    encoder they use can be built once. That relies on json's internals, so it is used only when
    it builds and agrees with the public functions on a sample; otherwise the public ones are.
    """
    try:
        from json.decoder import JSONDecoder
        from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
        from json.scanner import c_make_scanner  # type: ignore[attr-defined]

        encode = c_make_encoder(None, None, encode_basestring, None, ":", ",", True, False, True)
        scan = c_make_scanner(JSONDecoder())
    except (ImportError, TypeError):
        return _slow_details

    def fast(raw: Any) -> str:
        try:
            value, end = scan(raw, 0)
        except (StopIteration, TypeError):
            return _slow_details(raw)
        if end != len(raw):
            # Trailing text: json.loads decides (whitespace is fine, anything else an error).
            return _slow_details(raw)
        return "".join(encode(value, 0))

    sample = '{"b": [1, 2.5, -0.0, 1e300, "\\u00e9\\ud83d\\ude00\\n\\"<>&", null, true], "a": {}}'
    try:
        agrees = fast(sample) == _slow_details(sample) and fast("{}") == "{}"
    except Exception:
        agrees = False
    return fast if agrees else _slow_details


canonical_details = _details_codec()


def raw_columns(dialect: Dialect) -> list[ColumnElement[Any]]:
    """The audit columns in `canonical()`'s field order, then prev_hash and hash, read raw."""
    table = AuditEvent.__table__.c
    # SQLite keeps times as text: read that text rather than parse it into a datetime per row.
    at = (
        type_coerce(table.at, String())
        if dialect.name == "sqlite"
        else type_coerce(table.at, DateTime())
    )
    # The stored JSON text, not a parsed object (PostgreSQL's driver would parse it).
    details = (
        type_coerce(table.details, Text())
        if dialect.name == "sqlite"
        else cast(table.details, Text)
    )
    return [
        table.seq,
        at,
        table.actor,
        table.actor_team,
        table.action,
        table.client_id,
        table.subject,
        details,
        table.request_id,
        table.request_ts,
        table.prev_hash,
        table.hash,
    ]


def at_converter(dialect: Dialect) -> Callable[[Any], str]:
    """Raw `at` value → the text `canonical()` writes, exactly as the ORM would read it."""
    if dialect.name == "sqlite":
        parse = sqlite.DATETIME().result_processor(dialect, None)
        assert parse is not None

        def from_text(raw: Any) -> str:
            # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff"; anything else (only a hand-edited
            # row) is parsed the way the ORM parses it, so both read the same instant.
            if type(raw) is str and len(raw) == 26 and raw[10] == " " and raw[19] == ".":
                return f"{raw[:10]}T{raw[11:]}+00:00"
            return _iso(parse(raw))

        return from_text
    return _iso


def _iso(value: dt.datetime) -> str:
    # The UTC column hands back naive UTC and the ORM labels it UTC without converting. A
    # time that carries an offset was written by hand (SQLite keeps text): it is read as the
    # instant it names, so a rewritten time does not pass for the hashed one.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=dt.UTC).isoformat(timespec="microseconds")


def _slow_canonical(row: Any, at_text: Callable[[Any], str]) -> str:
    """`canonical()` of a raw row the general way: its values as the ORM reads them."""
    seq, at, actor, actor_team, action, client_id, subject, details, request_id, request_ts = row[
        :10
    ]
    return canonical(
        {
            "seq": seq,
            "at": at_text(at),
            "actor": actor,
            "actor_team": actor_team,
            "action": action,
            "client_id": client_id,
            "subject": subject,
            "details": json.loads(details),
            "request_id": request_id,
            "request_ts": request_ts,
        }
    )


def _fast_columns(dialect: Dialect) -> list[ColumnElement[Any]]:
    """`raw_columns`, with `at` as text in SQLite's storage form on every database."""
    columns = raw_columns(dialect)
    if dialect.name != "sqlite":
        columns[1] = func.to_char(AuditEvent.__table__.c.at, "YYYY-MM-DD HH24:MI:SS.US")
    return columns


def _fast_rows(connection: Connection) -> Iterator[Any]:
    """Every event's raw row in seq order, streamed from one statement (one snapshot)."""
    statement = select(*_fast_columns(connection.dialect)).order_by(AuditEvent.seq)
    if connection.dialect.name != "sqlite":
        result = connection.execution_options(stream_results=True, yield_per=VERIFY_BATCH).execute(
            statement
        )
        with result:
            yield from result
        return
    # pysqlite's own tuples, one at a time: wrapping each in a SQLAlchemy Row, or holding a
    # batch of them in a list, costs a third more.
    sql = str(statement.compile(dialect=connection.dialect))
    driver_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.arraysize = VERIFY_BATCH
        yield from cursor.execute(sql)
    except driver_error as exc:
        # Raised as SQLAlchemy raises it, so callers handle one kind of database error.
        raise DBAPIError.instance(sql, None, exc, driver_error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def _verify_rows(
    rows: Iterable[Any], exact: Callable[[int], str | None]
) -> tuple[int, tuple[str, int, Any] | None]:
    """Walk raw rows: (events checked, None), or (count, (kind, seq, extra)) at the first break.

    The canonical text is assembled optimistically; when it does not hash right, `exact(seq)`
    gives the event's canonical text the general way (its values as the ORM reads them, or None
    when a value cannot be read), and only that decides the event was changed.
    """
    from json.encoder import encode_basestring as enc

    sha256 = hashlib.sha256
    int_text = int.__repr__  # refuses anything but an int: such a row goes the general way
    details_text = canonical_details
    cache: dict[Any, str] = {}
    cache_size = DETAILS_CACHE_SIZE
    null = _NULL
    expected_prev, expected_seq = GENESIS, 1
    for (
        seq,
        at,
        actor,
        team,
        action,
        client_id,
        subject,
        details,
        request_id,
        request_ts,
        prev_hash,
        stored_hash,
    ) in rows:
        if seq != expected_seq:
            return expected_seq - 1, ("missing", expected_seq, seq)
        if prev_hash != expected_prev:
            return expected_seq - 1, ("link", seq, prev_hash)
        try:
            details_json = cache.get(details)
            if details_json is None:
                details_json = details_text(details)
                if len(cache) >= cache_size:
                    cache.clear()
                if cache_size:
                    cache[details] = details_json
            # canonical()'s keys in sorted order. "YYYY-MM-DD HH:MM:SS.ffffff" becomes
            # "YYYY-MM-DDTHH:MM:SS.ffffff+00:00"; a time stored any other way cannot give
            # the hashed text, and goes the general way.
            digest = sha256(
                f'{prev_hash}{{"action":{enc(action)},"actor":{enc(actor)},"actor_team":'
                f'{null if team is None else enc(team)},"at":"{at.replace(" ", "T", 1)}'
                f'+00:00","client_id":{null if client_id is None else int_text(client_id)},'
                f'"details":{details_json},"request_id":'
                f'{null if request_id is None else enc(request_id)},"request_ts":'
                f'{null if request_ts is None else enc(request_ts)},"seq":{seq},"subject":'
                f"{null if subject is None else enc(subject)}}}".encode()
            ).hexdigest()
        except (TypeError, ValueError, AttributeError, RecursionError):
            digest = None
        if digest != stored_hash:
            exact_text = exact(seq)
            if exact_text is None:
                return expected_seq - 1, ("unreadable", seq, None)
            if chain_hash(prev_hash, exact_text) != stored_hash:
                return expected_seq - 1, ("changed", seq, None)
        expected_prev, expected_seq = stored_hash, seq + 1
    return expected_seq - 1, None


def hash_at(connection: Connection, seq: int) -> str | None:
    """The stored hash of event `seq`, None when there is no such event: with `verify`, what
    anchors the chain's head to a hash kept elsewhere."""
    return connection.execute(
        select(AuditEvent.hash).where(AuditEvent.seq == seq)
    ).scalar_one_or_none()


def verify_connection(connection: Connection) -> tuple[int, ChainBreak | None]:
    """Recompute the whole stored chain; (events checked, None) or the first break found.

    What the chain proves: every event is unchanged, none is missing before the newest one, and
    none has moved. What it cannot prove on its own: that the newest events were not deleted (a
    truncated chain is still a valid chain), or that events were not forged and appended by
    someone with write access, since hashing needs no secret. Keeping the newest hash printed by
    `onboard audit verify` (or `export`) somewhere else, and checking later that the chain
    still holds it at that seq (`verify --expect SEQ:HASH`), closes both.
    """
    at_text = at_converter(connection.dialect)

    def exact(seq: int) -> str | None:
        row = connection.execute(
            select(*raw_columns(connection.dialect)).where(AuditEvent.seq == seq)
        ).one()
        try:
            return _slow_canonical(row, at_text)
        except (TypeError, ValueError, RecursionError):  # nested deeper than json reads
            return None

    # Python's collector would walk each batch's young rows again and again for nothing: rows
    # hold only strings and numbers, and each batch is dropped whole.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # Closed before the diagnosis below, which queries the same connection.
        with closing(_fast_rows(connection)) as rows:
            count, problem = _verify_rows(rows, exact)
    finally:
        if collecting:
            gc.enable()
    if problem is None:
        return count, None
    kind, seq, extra = problem
    if kind == "missing":
        return count, ChainBreak(seq, f"missing (next present is {extra})")
    if kind == "changed":
        return count, ChainBreak(seq, "content changed: hash does not match")
    if kind == "unreadable":
        return count, ChainBreak(seq, "content changed: a stored value cannot be read")
    # A broken link: the hash this event names as previous says what happened before it.
    named = connection.execute(
        select(AuditEvent.seq).where(AuditEvent.hash == extra)
    ).scalar_one_or_none()
    if named is not None:
        return count, ChainBreak(
            seq, f"reordered: its previous hash is that of seq {named}, not of seq {seq - 1}"
        )
    before = "the genesis hash" if seq == 1 else f"the hash of seq {seq - 1}"
    return count, ChainBreak(
        seq,
        f"previous hash does not match {before}: the event before it was changed and "
        "re-hashed, or this event's link was",
    )


def verify_database(session: Session) -> tuple[int, ChainBreak | None]:
    """Recompute the whole chain stored in the database, streaming it in seq order."""
    return verify_connection(session.connection())
