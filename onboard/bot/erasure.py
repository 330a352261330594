"""Erasing a client's personal data, on request (GDPR) or by the retention policy.

Owns `onboard client erase` and `onboard client retention`; the audit chain is never touched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy import ColumnElement, Exists, delete, exists, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from onboard.bot import weekly
from onboard.bot.intake_state import close_erased_intake
from onboard.bot.settings import SettingsError, load_settings
from onboard.bot.standups import records
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import (
    AuditEvent,
    AuditNote,
    Client,
    ClientFact,
    Contact,
    Decision,
    Deliverable,
    DeliverableVersion,
    Intake,
    IntakeAnswer,
    OutboxMessage,
    StandupAnswer,
    StandupDayOff,
    StandupPrompt,
    Survey,
    SurveyAnswer,
    Task,
)

log = logging.getLogger(__name__)

ERASED_ACTION = "client.erased"
ERASED_PAYLOAD: dict[str, Any] = {"erased": True}

client_cli = typer.Typer(
    no_args_is_help=True,
    help="Clients' personal data: erase it on request, or by the retention policy.",
)


@dataclass(frozen=True)
class Erasure:
    """What one erasure did, in counts (never the data itself)."""

    client_id: int
    slug: str
    contacts: int  # contact rows deleted
    outbox: int  # outbox payloads replaced
    given_up: int  # pending Slack calls marked failed, so they never send erased data


def erased_name(client_id: int) -> str:
    return f"erased client {client_id}"


def was_erased(client_id: ColumnElement[int] | int) -> Exists:
    """SQL: the client's data was erased. The erasure's event in the audit chain is what says
    so (the client row itself stays as it was). `client_id` is `Client.id` in a query over
    clients, or one client's ID: `session.scalar(select(was_erased(client.id)))`."""
    return exists().where(AuditEvent.client_id == client_id, AuditEvent.action == ERASED_ACTION)


def erase_client(
    session: Session, client: Client, cause: audit.Cause, *, reason: str, now: dt.datetime
) -> Erasure:
    """Erase one client's personal data and audit it, in the caller's transaction.

    The audit chain holds IDs, not personal data, so it is left whole; the erasure is appended
    to it. Erased: the client's contacts (names, emails), the client's name, what people
    typed about the client (deliverables, intake answers, survey comments, task titles,
    stand-up updates, reasons for days off, audit events' notes), and the payloads of the
    client's outbox rows (Slack calls that may carry names and emails); calls still pending
    are given up first (a call a worker had already claimed may still go out, once).
    Rows of no one client (the managers' digests) may name this one too: those sent or given up
    are blanked whoever they name, and a digest still pending is rendered again without it.
    The client's intake is closed: it takes no more answers, and its message loses its button.
    Kept: the slug and channel name (identifiers the chain refers to), Slack user IDs, and what
    Slack already shows in the client's channel. On SQLite freed pages are overwritten and the
    WAL is truncated after the commit; on PostgreSQL the old row versions stay in the table
    files until VACUUM, which the operator runs.
    """
    if session.get_bind().dialect.name == "sqlite":
        # Zero what is deleted or rewritten instead of leaving it in free pages of the file.
        session.execute(text("PRAGMA secure_delete = ON"))
    # First, as the stand-up sweep locks the hypercare row first: it waits for this erasure
    # (or this for it), and then finds the client stopped.
    _stop_hypercare(session, client, now)
    contacts = session.execute(
        delete(Contact).where(Contact.client_id == client.id),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    # Pending calls first: a worker that claims one later finds it failed, not a blank payload.
    given_up = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.client_id == client.id, OutboxMessage.status == "pending")
        .values(status="failed", last_error="erased", claimed_by=None, claimed_until=None),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    outbox = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.client_id == client.id)
        .values(payload=ERASED_PAYLOAD),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    # Deliverable content (titles, links, descriptions, reasons people gave) may name people.
    deliverables = select(Deliverable.id).where(Deliverable.client_id == client.id)
    versions = select(DeliverableVersion.id).where(
        DeliverableVersion.deliverable_id.in_(deliverables)
    )
    session.execute(
        update(Decision).where(Decision.version_id.in_(versions)).values(reason=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(DeliverableVersion)
        .where(DeliverableVersion.deliverable_id.in_(deliverables))
        .values(title="erased", link=None, description=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Deliverable).where(Deliverable.client_id == client.id).values(title="erased"),
        execution_options={"synchronize_session": False},
    )
    # Intake answers, the facts copied from them, the reviewer's note and survey comments.
    intakes = select(Intake.id).where(Intake.client_id == client.id)
    session.execute(
        delete(IntakeAnswer).where(IntakeAnswer.intake_id.in_(intakes)),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Intake).where(Intake.client_id == client.id).values(review_note=None),
        execution_options={"synchronize_session": False},
    )
    # Closed for good, its message refreshed without its Start button: queued after the
    # outbox rows above were given up and blanked, and carrying only the intake's ID.
    for intake in session.scalars(select(Intake).where(Intake.client_id == client.id)):
        close_erased_intake(session, intake, refresh=client.status == "active")
    session.execute(
        delete(ClientFact).where(ClientFact.client_id == client.id),
        execution_options={"synchronize_session": False},
    )
    surveys = select(Survey.id).where(Survey.client_id == client.id)
    session.execute(
        update(SurveyAnswer).where(SurveyAnswer.survey_id.in_(surveys)).values(comment=None),
        execution_options={"synchronize_session": False},
    )
    # What the team typed: task titles ("Call Carla at …"), stand-up updates (a blocker may
    # name someone), the reasons given for days off, and the notes of audit events (why a
    # stage was forced or sent back, why a gate failed), kept beside the chain for this.
    session.execute(
        update(AuditNote).where(AuditNote.client_id == client.id).values(text=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Task).where(Task.client_id == client.id).values(title="erased"),
        execution_options={"synchronize_session": False},
    )
    prompts = select(StandupPrompt.id).where(StandupPrompt.client_id == client.id)
    session.execute(
        update(StandupAnswer)
        .where(StandupAnswer.prompt_id.in_(prompts))
        .values(yesterday="erased", today="erased", blockers=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(StandupDayOff).where(StandupDayOff.client_id == client.id).values(reason=None),
        execution_options={"synchronize_session": False},
    )
    client.name = erased_name(client.id)
    session.expire(client, ["contacts"])
    session.flush()  # the digests below are rendered from the erased data
    weekly.rerender_pending(session)
    # Rows of no one client that are done with are blanked whoever they name: working out whom
    # a digest named is fragile (names are truncated and escaped), and once sent Slack has it;
    # the row keeps its key (never sent twice) and Slack's result.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.client_id.is_(None), OutboxMessage.status != "pending")
        .values(payload=ERASED_PAYLOAD),
        execution_options={"synchronize_session": False},
    )
    audit.record(
        session,
        cause,
        ERASED_ACTION,
        client_id=client.id,
        subject=f"client:{client.id}",
        details={"reason": reason, "contacts": contacts, "outbox": outbox, "given_up": given_up},
        at=now,
    )
    session.flush()
    return Erasure(client.id, client.slug, contacts, outbox, given_up)


def _stop_hypercare(session: Session, client: Client, now: dt.datetime) -> None:
    """Stop the client's stand-ups and BAU reviews for good: each new prompt, reminder, answer
    or escalation would be new personal data after the erasure. The row is made if missing, so
    hypercare or BAU reached later does not start either; open stand-ups close unsummarised."""
    row = records.create_row(session, client.id, now)
    if row.status == "active":
        row.ended_at = now
    row.status, row.review_cadence = records.STOPPED, None
    session.execute(
        update(StandupPrompt)
        .where(StandupPrompt.client_id == client.id, StandupPrompt.status == "open")
        .values(status="closed", closed_at=now),
        execution_options={"synchronize_session": False},
    )


def erase(
    db: Database, slug: str, cause: audit.Cause, *, reason: str, now: dt.datetime
) -> Erasure | None:
    """Erase the client with this slug in one transaction; None when there is no such client."""
    with db.transaction() as session:
        client = session.scalars(select(Client).where(Client.slug == slug)).one_or_none()
        if client is None:
            return None
        done = erase_client(session, client, cause, reason=reason, now=now)
    _truncate_wal(db)
    log.info(
        "erased client %s: %s contacts, %s outbox payloads",
        done.client_id,
        done.contacts,
        done.outbox,
    )
    return done


@dataclass(frozen=True)
class Due:
    """A client the retention policy erases, and why."""

    client_id: int
    slug: str
    completed_at: dt.datetime
    contacts: int


def due_for_retention(
    session: Session, days: int, now: dt.datetime, *, client_id: int | None = None
) -> list[Due]:
    """Completed clients whose completion is older than `days`, not erased yet."""
    cutoff = now - dt.timedelta(days=days)
    already = was_erased(Client.id)
    contacts = (
        select(func.count(Contact.id)).where(Contact.client_id == Client.id).scalar_subquery()
    )
    rows = session.execute(
        select(Client.id, Client.slug, Client.completed_at, contacts)
        .where(
            Client.status == "completed",
            Client.completed_at.is_not(None),
            Client.completed_at < cutoff,
            ~already,
            *([Client.id == client_id] if client_id is not None else []),
        )
        .order_by(Client.completed_at, Client.id)
    )
    return [Due(row[0], row[1], row[2], row[3]) for row in rows]


def apply_retention(db: Database, days: int, now: dt.datetime) -> list[Erasure]:
    """Erase every client the policy says is due; one transaction per client, as `system`.

    Each client is locked and looked at again inside its own transaction, so a run that races
    another (the scheduler's and `client retention`) erases nobody twice.
    """
    with db.transaction() as session:
        due = due_for_retention(session, days, now)
    done = []
    for candidate in due:
        with db.transaction() as session:
            # Locked (PostgreSQL) before looking again: a run erasing it meanwhile has
            # committed by the time this one sees the row, and its erasure with it.
            client = session.get(Client, candidate.client_id, with_for_update=True)
            if client is None or not due_for_retention(session, days, now, client_id=client.id):
                continue
            done.append(
                erase_client(session, client, audit.Cause.system(), reason="retention", now=now)
            )
    if done:
        _truncate_wal(db)
    return done


def _truncate_wal(db: Database) -> None:
    """On SQLite, fold the WAL into the file and empty it: it still holds the erased rows."""
    if not db.is_sqlite:
        return
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        connection.close()


# -- the command line ----------------------------------------------------------------------------


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"onboard: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _database() -> Iterator[Database]:
    """The configured database; a database error becomes one line (its driver's first line,
    which names no values), never a traceback."""
    db = Database(_settings().database_url)
    try:
        yield db
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if "no such table" in reason or "does not exist" in reason:
            _fail("the database has no clients yet: run `onboard db upgrade`")
        _fail(f"database error: {reason}")
    finally:
        db.dispose()


def _settings() -> Any:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _actor(value: str | None) -> audit.Cause:
    if value is None:
        return audit.Cause.system()
    if not (value[:1] in "UW" and value[1:].isalnum() and value.isupper()):
        _fail(f"--actor {value!r}: expected a Slack user ID (U… or W…)")
    return audit.Cause(actor=value)


@client_cli.command("erase")
def erase_command(
    slug: Annotated[
        str, typer.Argument(help="The client's slug (its channel's name after client-).")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor", help="Slack user ID of who asked, for the audit chain (default: system)."
        ),
    ] = None,
) -> None:
    """Erase a client's personal data (a GDPR request); the audit chain stays whole."""
    cause = _actor(actor)
    with _database() as db:
        with db.transaction() as session:
            client = session.scalars(select(Client).where(Client.slug == slug)).one_or_none()
            if client is None:
                _fail(f"no client {slug!r}")
            contacts = session.scalar(
                select(func.count(Contact.id)).where(Contact.client_id == client.id)
            )
            messages = session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.client_id == client.id)
            )
            client_id = client.id
        if not yes and not typer.confirm(
            f"Erase the personal data of client {slug} (id {client_id}): its name, "
            f"{contacts} contacts and {messages} queued or sent Slack messages? "
            "This cannot be undone.",
            default=False,
        ):
            _fail("nothing erased", code=1)
        done = erase(db, slug, cause, reason="request", now=dt.datetime.now(dt.UTC))
        if done is None:
            _fail(f"no client {slug!r}")
        typer.echo(
            f"erased client {done.slug} (id {done.client_id}): name, {done.contacts} contacts, "
            f"{done.outbox} Slack message payloads ({done.given_up} not yet sent, given up); "
            "recorded in the audit chain"
        )


@client_cli.command("retention")
def retention_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the clients that would be erased; erase none.")
    ] = False,
) -> None:
    """Erase the personal data of completed clients older than ONBOARD_RETENTION_DAYS."""
    settings = _settings()
    days = getattr(settings, "retention_days", None)
    if days is None:
        typer.echo("no retention policy (ONBOARD_RETENTION_DAYS is not set): nothing erased")
        return
    now = dt.datetime.now(dt.UTC)
    with _database() as db:
        if dry_run:
            with db.transaction() as session:
                due = due_for_retention(session, days, now)
            for client in due:
                typer.echo(
                    f"would erase client {client.slug} (id {client.client_id}): completed "
                    f"{client.completed_at:%Y-%m-%d}, {client.contacts} contacts"
                )
            typer.echo(
                f"{len(due)} clients completed more than {days} days ago would be erased "
                "(dry run: nothing erased)"
            )
            return
        done = apply_retention(db, days, now)
        for erasure in done:
            typer.echo(
                f"erased client {erasure.slug} (id {erasure.client_id}): {erasure.contacts} "
                f"contacts, {erasure.outbox} Slack message payloads"
            )
        typer.echo(f"{len(done)} clients completed more than {days} days ago erased")
