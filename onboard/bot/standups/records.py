"""What the stand-ups read and lock in the database: hypercare rows, answers, absences, gates,
and the client a `/onboard standup` command is about.

Locks are taken in one order by the sweep (see `Sweep`); these only say how each is taken.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from onboard.bot.calendar import BusinessCalendar
from onboard.bot.errors import NotFound
from onboard.bot.journey import find_client
from onboard.bot.standups.care import Care, Cares, review_cadence
from onboard.bot.standups.schedule import calendar_for
from onboard.storage.models import (
    Client,
    GateState,
    Hypercare,
    OutboxMessage,
    StandupAnswer,
    StandupAway,
    StandupDayOff,
)

# Hypercare row statuses besides pending | active | exited | left: BAU of a client whose
# playbook has no hypercare stage, and a client whose data was erased (nothing runs any more).
BAU, STOPPED = "bau", "stopped"


def calendar_with_days_off(session: Session, client: Client) -> BusinessCalendar:
    """The client's calendar with its stand-up days off, read from the database
    (`schedule.calendar_for` is given them)."""
    days_off = session.scalars(
        select(StandupDayOff.day).where(StandupDayOff.client_id == client.id)
    ).all()
    return calendar_for(client, days_off)


def client(session: Session, client_id: int) -> Client:
    """The client without its playbook snapshot, read only on the rare first use (`Cares.of`):
    decoding tens of kilobytes of JSON per prompt was most of a burst's database time."""
    return session.get_one(Client, client_id, options=[defer(Client.playbook)])


def queued(session: Session, key: str) -> bool:
    """Whether a send with this key is in the outbox already. Asked rather than trusting what
    `outbox.enqueue` returns: on PostgreSQL (psycopg 3) its rowcount is -1, so it says False."""
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None


def locked(session: Session, client_id: int) -> Hypercare | None:
    """The client's hypercare row, locked for this transaction (None before its first sweep)."""
    return session.scalars(
        select(Hypercare).where(Hypercare.client_id == client_id).with_for_update()
    ).first()


def create_row(session: Session, client_id: int, at: dt.datetime) -> Hypercare:
    """The client's hypercare row, created once even when two schedulers race to it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Hypercare)
        .values(client_id=client_id, status="pending", paused=False, created_at=at)
        .on_conflict_do_nothing(index_elements=["client_id"])
    )
    row = locked(session, client_id)
    assert row is not None
    return row


def answers(session: Session, prompt_id: int) -> list[StandupAnswer]:
    """A prompt's answers in the order they came."""
    return list(
        session.scalars(
            select(StandupAnswer)
            .where(StandupAnswer.prompt_id == prompt_id)
            .order_by(StandupAnswer.answered_at, StandupAnswer.id)
        )
    )


def away(session: Session, client_id: int, day: dt.date) -> set[str]:
    """Who is marked away from the client's stand-up that day."""
    return set(
        session.scalars(
            select(StandupAway.user_id).where(
                StandupAway.client_id == client_id,
                StandupAway.first_day <= day,
                StandupAway.last_day >= day,
            )
        )
    )


def criteria(session: Session, client: Client, care: Care) -> list[tuple[str, str, str]]:
    """Each exit criterion as (gate key, gate name, its gate's status)."""
    states = {
        g.gate_key: g.status
        for g in session.scalars(select(GateState).where(GateState.client_id == client.id))
    }
    return [(key, name, states.get(key, "open")) for key, name in care.criteria]


def for_command(
    session: Session,
    cares: Cares,
    clock: Callable[[], dt.datetime],
    channel_id: str | None,
    reference: str = "",
    *,
    create: bool,
) -> tuple[Client, Care, Hypercare]:
    """The client a command names (or whose channel it came from), its care and hypercare row."""
    client = find_client(session, reference, channel_id)
    care = cares.of(client)
    if care is None:
        raise NotFound(f"{client.name}'s playbook has no hypercare stage.")
    return client, care, _row(session, client, clock, create=create)


def for_bau_command(
    session: Session,
    cares: Cares,
    clock: Callable[[], dt.datetime],
    channel_id: str | None,
    reference: str = "",
    *,
    create: bool,
) -> tuple[Client, Care | None, Hypercare]:
    """As `for_command`, for what BAU needs too (`/onboard sdm`, the status): a client whose
    playbook has no hypercare stage but reviews its tier has BAU reviews only, and no care."""
    client = find_client(session, reference, channel_id)
    care = cares.of(client)
    if care is None and review_cadence(client) is None:
        raise NotFound(
            f"{client.name}'s playbook has no hypercare stage and no service reviews for the "
            f"{client.tier} tier."
        )
    return client, care, _row(session, client, clock, create=create)


def _row(
    session: Session, client: Client, clock: Callable[[], dt.datetime], *, create: bool
) -> Hypercare:
    row = locked(session, client.id)
    if row is None:
        if create:
            row = create_row(session, client.id, clock())
        else:  # reading: show the defaults without writing anything
            row = Hypercare(client_id=client.id, status="pending", paused=False)
    return row
