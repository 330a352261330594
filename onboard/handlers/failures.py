"""Turns what went wrong into words for the person who typed: the one place errors are mapped.

Typed domain errors carry their own message; a database outage says nothing was saved.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from onboard.bot.errors import OnboardError
from onboard.messages.render import Mrkdwn

log = logging.getLogger(__name__)

DATABASE_DOWN = "The bot's database is not answering, so nothing was saved. Try again in a minute."


def explain(exc: Exception) -> str:
    if isinstance(exc, OnboardError):
        # A message the bot composed with mentions stays Mrkdwn; anything else is escaped.
        first = exc.args[0] if exc.args else ""
        return first if isinstance(first, Mrkdwn) else str(exc)
    if isinstance(exc, SQLAlchemyError):
        log.error("database error while handling a request: %s", type(exc).__name__)
        return DATABASE_DOWN
    log.exception("unexpected error while handling a request")
    return "Something went wrong on our side and nothing was saved. Try again in a minute."
