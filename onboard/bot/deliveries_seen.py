"""Slack deliveries already handled, keyed (`event:<event_id>`), so a retry does nothing; and
live messages whose first post was tried (`post:<key>`), so a later try looks for it first.

The key is inserted under a primary key: the first insert wins, every later one is a repeat.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from onboard.storage.db import Database
from onboard.storage.models import ProcessedRequest


def first_time(db: Database, key: str, now: dt.datetime) -> bool:
    try:
        with db.transaction() as session:
            session.add(ProcessedRequest(key=key, at=now))
        return True
    except IntegrityError:
        return False


def forget(db: Database, key: str) -> None:
    """Undo `first_time(key)`: the try it marked surely did nothing."""
    with db.transaction() as session:
        session.execute(delete(ProcessedRequest).where(ProcessedRequest.key == key))
