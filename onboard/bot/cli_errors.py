"""One line on stderr, never a traceback, for what a command runs into outside the bot: the
database (down, missing, not migrated, from a newer version) and files or ports it cannot use.

cli.py wraps every command in `one_line()`; audit_cli.py words its own database errors with
`database_problem()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from alembic.util import CommandError
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

NOT_SET_UP = "the database is not set up yet: run `onboard db upgrade`"
# PostgreSQL's undefined_table: the schema was never migrated into this database.
_UNDEFINED_TABLE = "42P01"


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"onboard: {message}", err=True)
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def database_problem(
    exc: DBAPIError,
    *,
    doing: str = "use the database (DATABASE_URL)",
    not_set_up: str = NOT_SET_UP,
) -> str:
    """The line for a database error: the driver's own first line, not SQLAlchemy's wrapper."""
    orig = exc.orig
    reason = first_line(orig) if orig is not None else type(exc).__name__
    if "no such table" in reason or getattr(orig, "sqlstate", None) == _UNDEFINED_TABLE:
        return not_set_up
    return f"cannot {doing}: {reason}"


def require_existing_database(url: str) -> None:
    """Refuse a SQLite file that is not there: a command that only reads must not leave an
    empty database behind (which `serve` would then take for a fresh install)."""
    if not url.startswith("sqlite"):
        return
    database = make_url(url).database
    if database and database != ":memory:" and not Path(database).exists():
        fail(f"no database at {database}: check DATABASE_URL, or run `onboard db upgrade`")


@contextmanager
def one_line() -> Iterator[None]:
    """Turn the database's, the migrations' and the operating system's refusals into one line
    and exit 2; a bug still shows its traceback."""
    try:
        yield
    except DBAPIError as exc:
        fail(database_problem(exc))
    except CommandError as exc:
        told = first_line(exc)
        if "Can't locate revision" in told:
            told += " (was the database migrated by a newer version of onboard?)"
        fail(f"cannot migrate the database (DATABASE_URL): {told}")
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        fail(f"{exc.strerror or first_line(exc)}{where}")
