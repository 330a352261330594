"""`onboard audit verify` and `onboard audit export`: check the chain, stored or exported.

Owns the export files (JSONL and CSV: writing them, reading them back); the chain logic lives in
onboard/storage/audit.py, and what an export can prove in onboard/storage/audit_export.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from sqlalchemy import Connection, create_engine, select
from sqlalchemy.exc import DBAPIError

from onboard.bot.cli_errors import database_problem, require_existing_database
from onboard.bot.cli_errors import fail as _fail
from onboard.bot.settings import SettingsError, load_settings
from onboard.storage import audit, audit_export
from onboard.storage.models import Client

audit_cli = typer.Typer(no_args_is_help=True, help="The tamper-evident audit chain.")


class ExportFormat(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"


# Fields that may be null: an empty CSV cell reads back as null (or "", which the hash decides).
_NULLABLE_TEXT = ("actor_team", "subject", "request_id", "request_ts")


def _database_url() -> str:
    try:
        return load_settings().database_url
    except SettingsError as exc:
        _fail(str(exc))


@contextmanager
def _reading(url: str) -> Iterator[Connection]:
    """A connection that reads the chain without holding up the bot's writers.

    The bot's own engine starts every SQLite transaction IMMEDIATE (taking the write lock);
    a plain one reads in WAL mode beside writers, and one SELECT is one consistent snapshot.
    """
    if url.startswith("sqlite"):
        require_existing_database(url)
        engine = create_engine(url, hide_parameters=True)
    else:
        from onboard.storage.db import Database

        engine = Database(url).engine
    try:
        with engine.connect() as connection:
            yield connection
    except DBAPIError as exc:
        _fail(
            database_problem(
                exc,
                doing="read the audit chain",
                not_set_up="the database has no audit chain yet: run `onboard db upgrade`",
            )
        )
    finally:
        engine.dispose()


# -- verify --------------------------------------------------------------------------------------


@audit_cli.command("verify")
def verify(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Verify this export (JSONL or CSV) offline instead of the database.",
            dir_okay=False,
        ),
    ] = None,
    filtered: Annotated[
        bool,
        typer.Option(
            "--filtered",
            help="The export holds one client's events or those since a date: check each "
            "event's own hash and the links between consecutive seqs, not the whole chain.",
        ),
    ] = False,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="SEQ:HASH",
            help="A newest seq and hash printed earlier and kept elsewhere: the chain must "
            "still hold that event (nothing since was deleted or rewritten from there back).",
        ),
    ] = None,
) -> None:
    """Recompute the audit chain; exit 1 naming the first bad event (changed, missing, moved)."""
    anchor = _parse_anchor(expect) if expect is not None else None
    if file is not None:
        if anchor is not None:
            _fail("--expect applies to the database, not to an export file")
        _verify_file(file, filtered=filtered)
        return
    if filtered:
        _fail("--filtered applies to an export: give it with --file")
    with _reading(_database_url()) as connection:
        count, found = audit.verify_connection(connection)
        newest = audit.hash_at(connection, count) if count else None
        held = audit.hash_at(connection, anchor[0]) if anchor is not None else None
    if found is not None:
        _fail(f"audit chain broken at seq {found.seq}: {found.reason}", code=1)
    if anchor is not None and held != anchor[1]:
        seq = anchor[0]
        if held is None:
            _fail(f"audit chain holds no seq {seq}: it ends at seq {count} (deleted?)", code=1)
        _fail(f"audit chain holds seq {seq} with another hash ({held})", code=1)
    told = f"audit chain intact: {count} events"
    if newest is not None:
        told += f"; newest seq {count}, hash {newest} (keep it to check with --expect)"
    typer.echo(told)


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.strip().partition(":")
    seq, digest = seq.strip(), digest.strip().lower()
    if (
        not (seq.isascii() and seq.isdigit())
        or len(digest) != 64
        or not set(digest) <= set("0123456789abcdef")
    ):
        _fail(f"--expect {text!r}: give SEQ:HASH as `audit verify` printed it (e.g. 42:9f3c…)")
    return int(seq), digest


def _verify_file(path: Path, *, filtered: bool) -> None:
    if not path.is_file():
        _fail(f"no export file at {path}")
    try:
        rows = _export_reader(path)
        report = audit_export.verify_export(rows, filtered=filtered)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    found = report.found
    if found is not None:
        where = (
            f"seq {found.seq} (line {found.line})"
            if found.seq is not None
            else (f"line {found.line}")
        )
        hint = ""
        if not filtered and found.seq == 1 and report.events == 0 and "missing" in found.reason:
            hint = "; an export made with --client or --since is checked with --filtered"
        _fail(f"audit export broken at {where}: {found.reason}{hint}", code=1)
    if report.events == 0:
        _fail("audit export holds no events: nothing to verify", code=1)
    span = f"seq {report.first_seq} to {report.last_seq}"
    if not filtered:
        typer.echo(
            f"audit export intact: {report.events} events ({span}), chained from the genesis "
            f"hash; last hash {report.last_hash}"
        )
        return
    typer.echo(
        f"audit export verified as filtered: {report.events} events ({span}); every event's "
        f"own hash holds and {report.links} links between consecutive seqs hold; "
        f"{report.gaps} gaps hold events outside this export, which cannot be checked offline; "
        f"last hash {report.last_hash}"
    )


def _export_reader(path: Path) -> Callable[[], Iterator[audit_export.ExportRow]]:
    """A way to read the export's events, in file order; called again to look back."""
    # The content decides (`export --format jsonl -o audit.csv` is JSONL whatever its name);
    # the suffix only when the start is neither, so a damaged first line is named in its format.
    with path.open(encoding="utf-8", errors="replace") as handle:
        start = handle.read(4096).lstrip()
    if start.startswith("{"):
        jsonl = True
    elif start.startswith(",".join(audit_export.EXPORT_FIELDS)):
        jsonl = False
    else:
        jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    return (lambda: _jsonl_rows(path)) if jsonl else (lambda: _csv_rows(path))


def _jsonl_rows(path: Path) -> Iterator[audit_export.ExportRow]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                raise audit_export.ExportFormatError(number, "not a JSON object") from None
            if not isinstance(event, dict):
                raise audit_export.ExportFormatError(number, "not a JSON object")
            yield _export_row(number, event)


def _csv_rows(path: Path) -> Iterator[audit_export.ExportRow]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != audit_export.EXPORT_FIELDS:
            raise audit_export.ExportFormatError(1, "the header is not that of an audit export")
        for cells in reader:
            number = reader.line_num
            if not cells:
                continue
            if len(cells) != len(audit_export.EXPORT_FIELDS):
                raise audit_export.ExportFormatError(number, f"{len(cells)} cells, not 12")
            event: dict[str, Any] = dict(zip(audit_export.EXPORT_FIELDS, cells, strict=True))
            blank = tuple(name for name in _NULLABLE_TEXT if event[name] == "")
            for name in blank:
                event[name] = None
            try:
                event["seq"] = int(event["seq"])
                event["client_id"] = int(event["client_id"]) if event["client_id"] else None
                event["details"] = json.loads(event["details"])
            except (ValueError, RecursionError):
                raise audit_export.ExportFormatError(
                    number, "seq, client_id or details cannot be read"
                ) from None
            yield _export_row(number, event, blank)


def _export_row(
    number: int, event: dict[str, Any], blank: tuple[str, ...] = ()
) -> audit_export.ExportRow:
    missing = [name for name in audit_export.EXPORT_FIELDS if name not in event]
    if missing:
        raise audit_export.ExportFormatError(number, f"no {missing[0]} field")
    extra = sorted(set(event) - set(audit_export.EXPORT_FIELDS))
    if extra:
        # A field outside the hash could carry anything: an export holds none.
        raise audit_export.ExportFormatError(number, f"unknown field {extra[0]!r}")
    seq = event["seq"]
    if type(seq) is not int or not all(
        isinstance(event[name], str) for name in ("prev_hash", "hash")
    ):
        raise audit_export.ExportFormatError(number, "seq is not a number or a hash is not text")
    fields = {name: event[name] for name in audit_export.FIELDS}
    return audit_export.ExportRow(number, fields, event["prev_hash"], event["hash"], blank)


# -- export --------------------------------------------------------------------------------------


@audit_cli.command("export")
def export(
    client: Annotated[
        str | None, typer.Option("--client", help="Only this client's events (its slug).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only events at or after this UTC date (2026-01-31) or time "
            "(2026-01-31T09:00:00+00:00).",
        ),
    ] = None,
    export_format: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="jsonl (default; csv when --output ends in .csv) or csv."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write here instead of standard output.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Write the audit events with their hashes, for anyone to verify with `verify --file`."""
    moment = _parse_since(since) if since is not None else None
    chosen = export_format or (
        ExportFormat.csv
        if output is not None and output.suffix.lower() == ".csv"
        else (ExportFormat.jsonl)
    )
    with _reading(_database_url()) as connection:
        client_id = None
        if client is not None:
            client_id = connection.execute(
                select(Client.id).where(Client.slug == client)
            ).scalar_one_or_none()
            if client_id is None:
                _fail(f"no client {client!r}: give the slug its channel is named after")
        write = _write_jsonl if chosen is ExportFormat.jsonl else _write_csv
        # Closed here, before the connection is: a reader that stops early (`| head`) must not
        # leave a cursor for the garbage collector to close on a closed connection.
        with closing(
            audit_export.stored_events(connection, client_id=client_id, since=moment)
        ) as events:
            if output is None:
                summary = _write_stdout(events, write)
            else:
                summary = _write_file(output, events, write)
    count, first, last = summary
    filtered = client is not None or since is not None
    told = f"exported {count} events"
    if count:
        told += f" (seq {first.fields['seq']} to {last.fields['seq']}; last hash {last.hash})"
    if filtered:
        target = output or "FILE"
        told += (
            f"; a filtered export: check it with `onboard audit verify --file {target} --filtered`"
        )
    typer.echo(told, err=True)


_Summary = tuple[int, Any, Any]  # events written, the first and the last


def _write_file(
    path: Path,
    events: Iterator[audit_export.StoredEvent],
    write: Callable[[Iterator[audit_export.StoredEvent], IO[str]], _Summary],
) -> _Summary:
    # Written beside the target and renamed at the end: an interrupted export leaves no
    # truncated file that would verify as a shorter chain.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            summary = write(events, handle)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _fail(f"cannot write {path}: {exc.strerror or exc}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _write_stdout(
    events: Iterator[audit_export.StoredEvent],
    write: Callable[[Iterator[audit_export.StoredEvent], IO[str]], _Summary],
) -> _Summary:
    try:
        summary = write(events, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining
        # again when it flushes standard output at exit.
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    return summary


def _export_object(event: audit_export.StoredEvent) -> dict[str, Any]:
    return {**event.fields, "prev_hash": event.prev_hash, "hash": event.hash}


def _write_jsonl(events: Iterator[audit_export.StoredEvent], out: IO[str]) -> _Summary:
    count, first, last = 0, None, None
    for event in events:
        out.write(json.dumps(_export_object(event), ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count, first, last = count + 1, first or event, event
    return count, first, last


def _write_csv(events: Iterator[audit_export.StoredEvent], out: IO[str]) -> _Summary:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(audit_export.EXPORT_FIELDS)
    count, first, last = 0, None, None
    for event in events:
        row = _export_object(event)
        row["details"] = json.dumps(
            row["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        writer.writerow(
            "" if row[name] is None else row[name] for name in audit_export.EXPORT_FIELDS
        )
        count, first, last = count + 1, first or event, event
    return count, first, last


def _parse_since(value: str) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--since {value!r}: give a date like 2026-01-31 or a time like 2026-01-31T09:00Z")
    # A time without an offset is taken as UTC, as everything in the chain is.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
