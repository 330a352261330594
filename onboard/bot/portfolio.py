"""The portfolio as of any moment, rebuilt from the audit chain: who was in which stage when.

The chain is the record of every transition, so last week's picture needs no snapshots.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.storage.models import AuditEvent

TRANSITIONS = ("client.created", "stage.advanced", "stage.sent_back", "journey.completed")
DONE = "(completed)"


@dataclass
class Portfolio:
    """Each client's stage as of a moment, and the week's movements up to it."""

    stage_of: dict[int, str] = field(default_factory=dict)
    created_at: dict[int, dt.datetime] = field(default_factory=dict)
    completed_at: dict[int, dt.datetime] = field(default_factory=dict)
    entered: list[tuple[int, str, dt.datetime]] = field(default_factory=list)

    def copy(self) -> Portfolio:
        """A snapshot: the values are immutable, so copying the containers is enough."""
        return Portfolio(
            dict(self.stage_of), dict(self.created_at), dict(self.completed_at), list(self.entered)
        )

    def counts(self) -> Counter[str]:
        return Counter(self.stage_of.values())

    def started_between(self, start: dt.datetime, end: dt.datetime) -> list[int]:
        return [c for c, at in self.created_at.items() if start <= at < end]

    def completed_between(self, start: dt.datetime, end: dt.datetime) -> list[int]:
        return [c for c, at in self.completed_at.items() if start <= at < end]

    def entered_between(self, stages: set[str], start: dt.datetime, end: dt.datetime) -> list[int]:
        return sorted({c for c, s, at in self.entered if s in stages and start <= at < end})

    def onboarding_days(self, start: dt.datetime, end: dt.datetime) -> list[float]:
        """Days from creation to completion of the clients completed in [start, end)."""
        return [
            (at - self.created_at[c]).total_seconds() / 86400
            for c, at in self.completed_at.items()
            if start <= at < end and c in self.created_at
        ]


def portfolio_as_of(session: Session, as_of: dt.datetime) -> Portfolio:
    """Replay the journey's transitions recorded up to `as_of`."""
    return portfolios(session, [as_of])[0]


def portfolios(session: Session, moments: list[dt.datetime]) -> list[Portfolio]:
    """The portfolio at each of `moments` (ascending), from one pass over the chain."""
    found: list[Portfolio] = []
    portfolio = Portfolio()
    pending = list(moments)
    rows = session.execute(
        select(AuditEvent.client_id, AuditEvent.action, AuditEvent.details, AuditEvent.at)
        .where(AuditEvent.action.in_(TRANSITIONS), AuditEvent.at < moments[-1])
        .order_by(AuditEvent.seq)
    )
    for client_id, action, details, at in rows:
        while pending and at >= pending[0]:
            found.append(portfolio.copy())
            pending.pop(0)
        if client_id is None:
            continue
        if action == "client.created":
            portfolio.created_at[client_id] = at
            stage = details.get("stage", "")
        elif action == "journey.completed":
            portfolio.completed_at[client_id] = at
            stage = DONE
        else:
            stage = details.get("to", "")
            portfolio.completed_at.pop(client_id, None)
        portfolio.stage_of[client_id] = stage
        portfolio.entered.append((client_id, stage, at))
    while pending:
        found.append(portfolio.copy() if len(pending) > 1 else portfolio)
        pending.pop(0)
    return found


def median_days(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None
