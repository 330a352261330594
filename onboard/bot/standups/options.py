"""A client's stand-up options, changed by `/onboard standup …` and `/onboard sdm`: the time, the
cut-off, the reminder, who answers, who is away, days off, pausing, and the BAU reviewer.

Each change is one transaction with its audit event; the sweep picks it up from there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot.errors import InvalidInput, NotAllowed
from onboard.bot.standups import records
from onboard.bot.standups.care import Care, Cares, responders
from onboard.bot.standups.live_message import refresh
from onboard.bot.standups.schedule import calendar_for, cutoff_time, parse_clock, standup_time
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, Hypercare, StandupAway, StandupDayOff, StandupPrompt

MAX_AWAY_DAYS = 90

Change = Callable[[Session, Client, Care, Hypercare, dt.date], dict[str, Any]]


@dataclass(frozen=True)
class Options:
    """Changes to one client's stand-ups, found by the channel the command was typed in."""

    db: Database
    clock: Callable[[], dt.datetime]
    wake: Callable[[], None]
    cares: Cares
    team: Sequence[str]

    def _change(
        self, channel_id: str | None, cause: audit.Cause, action: str, change: Change
    ) -> Client:
        now = self.clock()
        with self.db.transaction() as session:
            client, care, row = records.for_command(
                session, self.cares, self.clock, channel_id, create=True
            )
            _refuse_erased(client, row)
            today = calendar_for(client).local_date(now)
            details = change(session, client, care, row, today)
            audit.record(session, cause, action, client_id=client.id, details=details, at=now)
        self.wake()
        return client

    def set_time(self, channel_id: str | None, text: str, cause: audit.Cause) -> Client:
        wanted = parse_clock(text)

        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            if wanted >= cutoff_time(row):
                raise InvalidInput(
                    {
                        "time": f"Pick a time before the cut-off ({cutoff_time(row):%H:%M}), "
                        "or move the cut-off first: `/onboard standup cutoff 18:00`."
                    }
                )
            row.standup_time = f"{wanted:%H:%M}"
            return {"time": row.standup_time}

        return self._change(channel_id, cause, "standup.time_set", change)

    def set_cutoff(self, channel_id: str | None, text: str, cause: audit.Cause) -> Client:
        wanted = parse_clock(text)

        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            if wanted <= standup_time(row, care.rules):
                raise InvalidInput(
                    {
                        "time": "The cut-off must come after the stand-up "
                        f"({standup_time(row, care.rules):%H:%M})."
                    }
                )
            row.cutoff_time = f"{wanted:%H:%M}"
            return {"cutoff": row.cutoff_time}

        return self._change(channel_id, cause, "standup.cutoff_set", change)

    def set_reminder(self, channel_id: str | None, minutes: int, cause: audit.Cause) -> Client:
        if not 1 <= minutes <= 12 * 60:
            raise InvalidInput({"reminder": "Remind between 1 minute and 12 hours after it."})

        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            row.reminder_minutes = minutes
            return {"minutes": minutes}

        return self._change(channel_id, cause, "standup.reminder_set", change)

    def set_responders(
        self, channel_id: str | None, users: list[str] | None, cause: audit.Cause
    ) -> tuple[Client, list[str]]:
        """Who is asked to answer; None goes back to the default, the internal team."""
        if users is not None and not users:
            raise InvalidInput({"users": "Mention who: `/onboard standup who @a @b`."})
        chosen: list[str] = []

        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            row.responders = list(dict.fromkeys(users)) if users is not None else None
            chosen.extend(responders(row, client, self.team))
            for prompt in session.scalars(
                select(StandupPrompt).where(
                    StandupPrompt.client_id == client.id, StandupPrompt.status == "open"
                )
            ):
                prompt.expected = list(chosen)
                refresh(session, client, prompt, f"who:{self.clock().isoformat()}", self.clock())
            return {"responders": list(chosen), "default": users is None}

        client = self._change(channel_id, cause, "standup.responders_set", change)
        return client, chosen

    def set_away(
        self,
        channel_id: str | None,
        user: str,
        first: dt.date,
        last: dt.date,
        cause: audit.Cause,
    ) -> Client:
        if last < first:
            raise InvalidInput({"dates": "The last day comes before the first."})
        if (last - first).days >= MAX_AWAY_DAYS:
            raise InvalidInput({"dates": f"Mark at most {MAX_AWAY_DAYS} days at a time."})

        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            if last < today:
                raise InvalidInput({"dates": "Those days are over already."})
            session.add(
                StandupAway(
                    client_id=client.id,
                    user_id=user,
                    first_day=first,
                    last_day=last,
                    added_by=cause.actor,
                    added_at=self.clock(),
                )
            )
            return {"user": user, "from": first.isoformat(), "to": last.isoformat()}

        return self._change(channel_id, cause, "standup.away_set", change)

    def skip(self, channel_id: str | None, day: dt.date, reason: str, cause: audit.Cause) -> Client:
        reason = " ".join(reason.split())[:200]

        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            if day < today:
                raise InvalidInput({"date": "That day is over already."})
            held = session.scalars(
                select(StandupPrompt).where(
                    StandupPrompt.client_id == client.id, StandupPrompt.day == day
                )
            ).first()
            if held is not None:
                raise InvalidInput({"date": f"The stand-up of {day:%a %-d %b} is already posted."})
            off = session.scalars(
                select(StandupDayOff).where(
                    StandupDayOff.client_id == client.id, StandupDayOff.day == day
                )
            ).first()
            if off is None:
                off = StandupDayOff(client_id=client.id, day=day, added_by=cause.actor)
                session.add(off)
            off.reason, off.added_at = reason or None, self.clock()
            # The reason may name people: it stays on the day off, which erasure blanks.
            return {"day": day.isoformat(), "has_reason": bool(reason)}

        return self._change(channel_id, cause, "standup.day_skipped", change)

    def pause(self, channel_id: str | None, paused: bool, cause: audit.Cause) -> Client:
        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            row.paused = paused
            return {}

        action = "standup.paused" if paused else "standup.resumed"
        return self._change(channel_id, cause, action, change)

    def set_sdm(self, channel_id: str | None, user: str, cause: audit.Cause) -> Client:
        """Who gets the BAU review reminders; a client without a hypercare stage has BAU too."""
        now = self.clock()
        with self.db.transaction() as session:
            client, _, row = records.for_bau_command(
                session, self.cares, self.clock, channel_id, create=True
            )
            _refuse_erased(client, row)
            row.sdm = user
            audit.record(
                session, cause, "bau.sdm_set", client_id=client.id, details={"sdm": user}, at=now
            )
        self.wake()
        return client


def _refuse_erased(client: Client, row: Hypercare) -> None:
    """An erased client's stand-ups and reviews stay stopped: nothing to set up any more."""
    if row.status == records.STOPPED:
        raise NotAllowed(
            f"{client.name}'s data was erased: its stand-ups and service reviews have stopped."
        )
