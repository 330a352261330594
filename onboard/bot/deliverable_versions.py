"""A deliverable's versions in the client's channel: finding one, and its live message.

Each version is shown by one message, refreshed through the outbox whenever its state changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import live_messages
from onboard.bot.delivery import Outcome
from onboard.bot.errors import NotFound
from onboard.bot.gateway import SlackGateway
from onboard.messages.render import render_message
from onboard.storage import outbox
from onboard.storage.db import Database
from onboard.storage.models import (
    Client,
    Decision,
    Deliverable,
    DeliverableVersion,
    OutboxMessage,
)

MESSAGE = "deliverable.message"


def latest(session: Session, deliverable_id: int, *, lock: bool = False) -> DeliverableVersion:
    query = (
        select(DeliverableVersion)
        .where(DeliverableVersion.deliverable_id == deliverable_id)
        .order_by(DeliverableVersion.number.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()  # type: ignore[return-value]


def find_version(
    session: Session, version_id: int, *, lock: bool = False
) -> tuple[DeliverableVersion, Deliverable]:
    query = (
        select(DeliverableVersion, Deliverable)
        .join(Deliverable, Deliverable.id == DeliverableVersion.deliverable_id)
        .where(DeliverableVersion.id == version_id)
    )
    if lock:  # concurrent decisions on one version settle in turn
        query = query.with_for_update(of=DeliverableVersion)
    found = session.execute(query).first()
    if found is None:
        raise NotFound("This deliverable no longer exists.")
    version, deliverable = found
    return version, deliverable


def refresh(session: Session, version: DeliverableVersion, reason: str) -> None:
    deliverable = session.get_one(Deliverable, version.deliverable_id)
    outbox.enqueue(
        session,
        f"version:{version.id}:{reason}",
        MESSAGE,
        {"version_id": version.id},
        client_id=deliverable.client_id,
    )


def make_executor(db: Database) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        version, deliverable = find_version(session, payload["version_id"])
        client = session.get_one(Client, deliverable.client_id)
        decisions = list(
            session.scalars(
                select(Decision).where(Decision.version_id == version.id).order_by(Decision.id)
            )
        )
        newest = latest(session, deliverable.id)
        message = render_message(
            "deliverable",
            client=client,
            deliverable=deliverable,
            version=version,
            decisions=decisions,
            newest=newest.number,
        )
        assert client.channel_id is not None
        return live_messages.Shown(
            client.channel_id, version.message_ts, message, f"version:{version.id}"
        )

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        version = session.get_one(DeliverableVersion, payload["version_id"])
        version.message_ts = ts

    return live_messages.make_executor(db, load, remember)
