"""The sweeps' walk over the active clients: a transaction per client they have work for.

The scheduler's sweeps (task reminders, intake reminders, surveys) run every few minutes to an
hour over the whole portfolio; bench/sweeps.py measures them. Also what the sweeps share about
a client: whether it is theirs to visit (`under_way`), and its working hours.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import ColumnElement, Exists, and_, select
from sqlalchemy.orm import Session, defer

from onboard.bot.calendar import BusinessCalendar
from onboard.bot.errors import Refused
from onboard.bot.visits import Failures
from onboard.storage.db import Database
from onboard.storage.models import Client

log = logging.getLogger(__name__)


def each_active_client(
    db: Database,
    work: Callable[[Session, Client], int],
    *,
    where: ColumnElement[bool] | None = None,
    wanted: Callable[[Client], bool] | None = None,
) -> int:
    """`work(session, client)` for each client whose journey is under way in a channel, each
    in a transaction of its own; the sum of what it returns (sends queued).

    One transaction per client because on SQLite a transaction holds the write lock every ack
    needs: a sweep over 1,600 clients in one held it for 11 s. A client that finished or
    lost its channel since the list was read is skipped, and so is one erased: an erased
    client is sent nothing more (`under_way`).

    A sweep with little to do says which clients it needs in the list's one query: `where`, a
    condition on the client's row in SQL, and `wanted(client)`, on the client as listed
    (detached: its playbook and relationships not loaded). Each transaction costs a few
    milliseconds and a turn of the write lock, and the sweeps run every few minutes over every
    active client (bench/sweeps.py). A client that becomes due after the list was read is
    left to the sweep's next run.
    """
    listed = select(Client).where(under_way())
    if where is not None:
        listed = listed.where(where)
    with db.transaction() as session:
        clients = session.scalars(
            listed.options(defer(Client.playbook, raiseload=True)).order_by(Client.id)
        ).all()
    done = 0
    failures = Failures()
    for listed_client in clients:
        if wanted is not None and not _wanted(wanted, listed_client):
            continue
        with failures.of(f"client {listed_client.id}"), db.transaction() as session:
            # Read again with the list's condition: it may have finished, lost its channel or
            # been erased since.
            client = session.scalars(
                select(Client).where(Client.id == listed_client.id, under_way())
            ).first()
            if client is not None:
                done += work(session, client)
    failures.raise_any()
    return done


def under_way() -> ColumnElement[bool]:
    """SQL, in a query over clients: the client's journey is under way in its channel, and its
    data was not erased. An erased client is sent nothing more (no reminder, nudge or survey):
    each would bring new personal data after the erasure, to people who asked for it to end."""
    return and_(Client.status == "active", Client.channel_id.is_not(None), ~_was_erased(Client.id))


def erased(session: Session, client_id: int) -> bool:
    """Whether the client's data was erased: it is sent nothing more (`under_way`)."""
    return bool(session.scalar(select(_was_erased(client_id))))


def refuse_unless_under_way(session: Session, client: Client, closed: str) -> None:
    """Raise Refused unless the client's onboarding is under way: never after its data was
    erased (what people add would be new personal data), nor once it completed. `closed`:
    what is refused, said after the reason ("its intake takes no more answers")."""
    if erased(session, client.id):
        raise Refused(f"This client's records were erased: {closed}.", "client_erased")
    if client.status != "active":
        done = "has completed onboarding" if client.status == "completed" else "is not under way"
        raise Refused(f"{client.name} {done}: {closed}.", "client_closed")


def _was_erased(client_id: ColumnElement[int] | int) -> Exists:
    # Imported here: erasure renders pending digests again, and the digest reads the surveys,
    # whose sweep walks the clients with this module.
    from onboard.bot.erasure import was_erased

    return was_erased(client_id)


def working_hours_began(calendar: BusinessCalendar, at: dt.datetime, hour: int) -> bool:
    """Whether `at` is on one of the client's business days, at or after `hour` o'clock on its
    wall clock: when the bot may speak up in its channel unasked (reminders, the survey)."""
    today = calendar.local_date(at)
    return calendar.is_business_day(today) and at >= calendar.at_local_time(today, dt.time(hour))


def _wanted(wanted: Callable[[Client], bool], client: Client) -> bool:
    """`wanted(client)`, or True when it fails: the visit then meets the problem as it did
    before there was a list, for this client only, rather than the whole sweep stopping."""
    try:
        return wanted(client)
    except Exception:
        log.exception("sweep: could not tell whether client %s is due; visiting it", client.id)
        return True
