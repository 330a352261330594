"""BAU service reviews after hypercare: the reviewer reminded on each review's business day.

Monthly or quarterly by the client's tier; a reminder missed through downtime still goes within
`REVIEW_GRACE_DAYS`, once (keyed `bau-review:<client>:<date>`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from onboard.bot import outbound
from onboard.bot.calendar import BusinessCalendar
from onboard.bot.standups import records
from onboard.bot.standups.schedule import calendar_for, review_dates
from onboard.messages.render import render_message
from onboard.storage.db import Database
from onboard.storage.models import Client, Hypercare

REVIEW_GRACE_DAYS = 7  # a BAU review reminder missed through downtime is still sent within a week


@dataclass(frozen=True)
class ServiceReviews:
    """Reminds each BAU client's service delivery manager (or account manager) of reviews."""

    db: Database
    reminder_hour: int

    def remind(self, at: dt.datetime) -> int:
        """Remind the service delivery manager (or account manager) of a review due today."""
        queued = 0
        with self.db.transaction() as session:
            rows = session.execute(
                select(Hypercare, Client)
                .join(Client, Client.id == Hypercare.client_id)
                .where(Hypercare.bau_started_on.is_not(None), Hypercare.review_cadence.is_not(None))
            ).all()
            for row, client in rows:
                assert row.bau_started_on is not None and row.review_cadence is not None
                calendar = calendar_for(client)
                today = calendar.local_date(at)
                due = _latest_review(row.bau_started_on, row.review_cadence, calendar, today)
                if due is None or (today - due).days > REVIEW_GRACE_DAYS:
                    continue
                if due == today and at < calendar.at_local_time(today, dt.time(self.reminder_hour)):
                    continue
                key = f"bau-review:{client.id}:{due.isoformat()}"
                if records.queued(session, key):
                    continue
                reviewer = row.sdm or client.account_manager
                message = render_message(
                    "bau_review_reminder",
                    client=client,
                    due=due,
                    cadence=row.review_cadence,
                    following=_following_review(row, calendar, due),
                )
                queued += 1
                outbound.enqueue_call(
                    session,
                    key,
                    "chat.postMessage",
                    {"channel": reviewer, **message},
                    client_id=client.id,
                    audit_action="bau.review_reminded",
                    audit_details={"due": due.isoformat(), "reviewer": reviewer},
                    not_before=at,
                )
        return queued


def _latest_review(
    start: dt.date, cadence: str, calendar: BusinessCalendar, today: dt.date
) -> dt.date | None:
    latest = None
    for due in review_dates(start, cadence, calendar):
        if due > today:
            break
        latest = due
    return latest


def _following_review(row: Hypercare, calendar: BusinessCalendar, due: dt.date) -> dt.date:
    assert row.bau_started_on is not None and row.review_cadence is not None
    return next(
        d for d in review_dates(row.bau_started_on, row.review_cadence, calendar) if d > due
    )
