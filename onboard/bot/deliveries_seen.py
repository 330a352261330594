"""Slack deliveries already handled, keyed (`event:<event_id>`), so a retry does nothing; and
live messages whose first post was tried (`post:<key>`), so a later try looks for it first.

The key is inserted under a primary key: the first insert wins, every later one is a repeat.
"""

from __future__ import annotations

import datetime as dt

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
