"""Audit exports: the chain read out for `onboard audit export`, and an export verified offline.

Owns what an export holds and what checking one without the database can prove; appending and
verifying the stored chain are onboard/storage/audit.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.sql.elements import ColumnElement

# Export reads the stored rows the way fast verification does, so both see the same text.
from onboard.storage.audit import (
    GENESIS,
    VERIFY_BATCH,
    at_converter,
    canonical,
    canonical_details,
    chain_hash,
    raw_columns,
)
from onboard.storage.models import AuditEvent

# -- export ----------------------------------------------------------------------------------

FIELDS = (
    "seq",
    "at",
    "actor",
    "actor_team",
    "action",
    "client_id",
    "subject",
    "details",
    "request_id",
    "request_ts",
)
EXPORT_FIELDS = (*FIELDS, "prev_hash", "hash")


@dataclass(frozen=True)
class StoredEvent:
    """One event as exported: its canonical fields (details keys sorted) and its two hashes."""

    fields: dict[str, Any]
    prev_hash: str
    hash: str


def _raw_rows(connection: Connection, *where: ColumnElement[bool]) -> Iterator[list[Any]]:
    """Raw event rows in seq order, in batches, from one statement (so one consistent snapshot)."""
    statement = select(*raw_columns(connection.dialect)).where(*where).order_by(AuditEvent.seq)
    result = connection.execution_options(stream_results=True, yield_per=VERIFY_BATCH).execute(
        statement
    )
    with result:
        yield from result.partitions()


def stored_events(
    connection: Connection, *, client_id: int | None = None, since: dt.datetime | None = None
) -> Iterator[StoredEvent]:
    """Events in seq order, all or one client's or from a moment on, read in one snapshot."""
    where: list[ColumnElement[bool]] = []
    if client_id is not None:
        where.append(AuditEvent.client_id == client_id)
    if since is not None:
        where.append(AuditEvent.at >= since)
    at_text = at_converter(connection.dialect)
    for batch in _raw_rows(connection, *where):
        for row in batch:
            values = dict(zip(EXPORT_FIELDS, row, strict=True))
            values["at"] = at_text(values["at"])
            # Parsing the canonical text keeps its sorted key order in the export.
            values["details"] = json.loads(canonical_details(values["details"]))
            prev_hash, stored_hash = values.pop("prev_hash"), values.pop("hash")
            yield StoredEvent(values, prev_hash, stored_hash)


# -- verifying an export offline -------------------------------------------------------------


class ExportFormatError(ValueError):
    """A line of an export file that is not an audit event."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class ExportRow:
    """One event read back from an export file, and where it was."""

    line: int
    fields: dict[str, Any]
    prev_hash: str
    hash: str
    # Nullable fields read as None from an empty CSV cell, which may have held "" instead:
    # the hash tells which.
    blank: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportBreak:
    seq: int | None
    line: int
    reason: str


@dataclass(frozen=True)
class ExportReport:
    """What verifying an export found: the events checked, the links checked, the first break."""

    events: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None
    links: int  # pairs of consecutive events whose link was checked
    gaps: int  # places where events between two of the export's are not in the export
    found: ExportBreak | None


def _hash_holds(row: ExportRow) -> bool:
    if chain_hash(row.prev_hash, canonical(row.fields)) == row.hash:
        return True
    for size in range(1, len(row.blank) + 1):
        for names in itertools.combinations(row.blank, size):
            fields = {**row.fields, **dict.fromkeys(names, "")}
            if chain_hash(row.prev_hash, canonical(fields)) == row.hash:
                return True
    return False


def verify_export(
    open_rows: Callable[[], Iterable[ExportRow]], *, filtered: bool = False
) -> ExportReport:
    """Verify an exported chain from its own fields and hashes, with no database.

    A full export (`filtered=False`) must be the whole chain: it starts from the genesis hash at
    seq 1, every seq follows the one before it, every event links to the hash of the one before
    and its own hash recomputes from its fields. A changed field, a removed line or lines moved
    are each found and named; only removing the newest events goes unseen (compare the last hash
    with one kept elsewhere).

    A filtered export (one client's events, or those since a date) cannot be checked as a chain:
    its events link to events it does not hold. It verifies that each event's own hash
    recomputes from its fields and its previous hash, that seqs rise, and that consecutive seqs
    link. An event removed from a gap, or a whole gap, cannot be detected offline.

    `open_rows` is called again, only after a break, to tell a missing event from a moved one.
    """
    events = links = gaps = 0
    first_seq: int | None = None
    last: ExportRow | None = None

    def report(found: ExportBreak | None) -> ExportReport:
        return ExportReport(
            events,
            first_seq,
            last.fields["seq"] if last else None,
            last.hash if last else None,
            links,
            gaps,
            found,
        )

    try:
        for row in open_rows():
            seq = row.fields["seq"]
            if last is None:
                first_seq = seq
                if not filtered and seq != 1:
                    return report(_missing_or_moved(open_rows, 1, row))
                if not filtered and row.prev_hash != GENESIS:
                    return report(
                        ExportBreak(seq, row.line, "does not start from the genesis hash")
                    )
            else:
                before = last.fields["seq"]
                if seq <= before:
                    return report(ExportBreak(seq, row.line, f"out of order: after seq {before}"))
                if seq == before + 1:
                    if row.prev_hash != last.hash:
                        return report(
                            ExportBreak(
                                seq,
                                row.line,
                                f"previous hash does not match the hash of seq {before}: that "
                                "event was changed and re-hashed, or this event's link was",
                            )
                        )
                    links += 1
                elif filtered:
                    gaps += 1
                else:
                    return report(_missing_or_moved(open_rows, before + 1, row))
            if not _hash_holds(row):
                return report(ExportBreak(seq, row.line, "content changed: hash does not match"))
            events += 1
            last = row
    except ExportFormatError as exc:
        return report(ExportBreak(None, exc.line, str(exc)))
    return report(None)


def _missing_or_moved(
    open_rows: Callable[[], Iterable[ExportRow]], wanted: int, found: ExportRow
) -> ExportBreak:
    """The break where seq `wanted` should be: missing from the file, or on a later line."""
    try:
        for row in open_rows():
            if row.fields["seq"] == wanted:
                return ExportBreak(
                    wanted,
                    row.line,
                    f"reordered: it is on line {row.line}, after seq {found.fields['seq']} "
                    f"(line {found.line})",
                )
    except ExportFormatError:
        pass
    return ExportBreak(
        wanted, found.line, f"missing (next present is {found.fields['seq']}, line {found.line})"
    )
