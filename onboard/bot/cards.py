"""The journey card pinned in each client channel: what it shows and where its ts is kept.

Posting and updating in place is the job of live_messages; this module says what to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot import live_messages
from onboard.bot.delivery import Outcome
from onboard.bot.gateway import SlackGateway
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
