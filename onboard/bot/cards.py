"""The journey card pinned in each client channel: what it shows, where its ts is kept, and
its daily refresh (what it shows depends on the date too).

Posting and updating in place is the job of live_messages; this module says what to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from onboard.bot import live_messages
from onboard.bot.active_clients import under_way
from onboard.bot.delivery import Outcome
from onboard.bot.gateway import SlackGateway
from onboard.bot.journey import calendar_of, card_key, refresh_card
from onboard.bot.progress import progress
from onboard.messages.render import render_message
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, OutboxMessage


def make_executor(
    db: Database, clock: Callable[[], dt.datetime]
) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        client = session.get_one(Client, payload["client_id"])
        assert client.channel_id is not None
        message = render_message("journey_card", p=progress(session, client, clock()))
        return live_messages.Shown(
            client.channel_id, client.card_ts, message, f"client:{client.id}:card", pin=True
        )

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        client = session.get_one(Client, payload["client_id"])
        client.card_ts = ts
        audit.record(session, audit.Cause.system(), "card.pinned", client_id=client.id, subject=ts)

    return live_messages.make_executor(db, load, remember)


DAILY_BATCH = 500  # refreshes queued per transaction: SQLite's write lock is the acks' too


def refresh_daily(db: Database, at: dt.datetime, batch: int = DAILY_BATCH) -> int:
    """Queue a refresh of each active client's card once per client per local date: health,
    overdue tasks and days in stage change with the date, not only when someone acts. The
    card is a live message, so a refresh queued beside another ends in one update.

    Run every few minutes over thousands of clients: one query lists them (a few columns),
    and each batch asks which of its day's keys are queued already (one query) and adds the
    others, in a transaction of its own. Returns the refreshes queued.
    """
    with db.transaction() as session:
        clients = session.scalars(
            select(Client)
            .where(under_way())  # active, in its channel, not erased
            .options(
                load_only(
                    Client.id, Client.channel_id, Client.timezone, Client.country, raiseload=True
                )
            )
            .order_by(Client.id)
        ).all()
    queued = 0
    for start in range(0, len(clients), batch):
        chunk = clients[start : start + batch]
        # Each client's own date: its day begins at its midnight, not the server's.
        reasons = [f"day:{calendar_of(c).local_date(at).isoformat()}" for c in chunk]
        keys = [card_key(c.id, reason) for c, reason in zip(chunk, reasons, strict=True)]
        with db.transaction() as session:
            done = set(
                session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys)))
            )
            due = [(c, r) for c, r, k in zip(chunk, reasons, keys, strict=True) if k not in done]
            if not due:
                continue  # the usual run: every card of the batch refreshed today already
            # A client that finished or lost its channel since the list was read is skipped.
            still = set(
                session.scalars(
                    select(Client.id).where(
                        Client.id.in_([c.id for c, _ in due]),
                        under_way(),
                    )
                )
            )
            for client, reason in due:
                if client.id in still:
                    queued += refresh_card(session, client, reason)
    return queued
