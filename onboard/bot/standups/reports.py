"""What a client's stand-ups came to: a day's line, a date range's report, the set-up's status.

Read by `/onboard standup [report]`, `/onboard sdm`, and each prompt's summary and health trend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot.errors import InvalidInput
from onboard.bot.standups import records
from onboard.bot.standups.care import Care, Cares, responders
from onboard.bot.standups.schedule import (
    DAILY,
    Slot,
    calendar_for,
    cutoff_time,
    reminder_delay,
    review_dates,
    slots,
    standup_time,
)
from onboard.storage.db import Database
from onboard.storage.models import (
    Client,
    Hypercare,
    StandupAnswer,
    StandupAway,
    StandupDayOff,
    StandupPrompt,
)

HEALTH = ("green", "amber", "red")  # best first, worst last


@dataclass(frozen=True)
class DayLine:
    """One day of a client's hypercare as a summary, a weekly review or a report shows it."""

    day: dt.date
    kind: str  # daily | weekly | off
    status: str  # open | closed | posted | missed | paused | off
    answered: int = 0
    expected: int = 0
    blockers: int = 0
    health: str | None = None  # the worst health anyone reported
    note: str | None = None  # why a day is off


@dataclass(frozen=True)
class Status:
    """A client's stand-up set-up, for `/onboard standup` and `/onboard sdm`."""

    client: Client
    care: Care | None  # None: the playbook has no hypercare stage, only BAU reviews
    row: Hypercare
    standup_time: dt.time
    cutoff: dt.time
    reminder_minutes: int
    responders: list[str]
    default_responders: bool
    upcoming: list[tuple[Slot, dt.datetime]]  # with its local time
    days_off: list[StandupDayOff]
    away: list[StandupAway]
    criteria: list[tuple[str, str, str]]
    reviewer: str
    next_review: dt.date | None


@dataclass(frozen=True)
class Report:
    """The stand-ups of a date range, for `/onboard standup report`."""

    client: Client
    first: dt.date
    last: dt.date
    lines: list[DayLine]
    criteria: list[tuple[str, str, str]]

    @property
    def held(self) -> int:
        return sum(1 for x in self.lines if x.kind == DAILY and x.status in ("open", "closed"))

    @property
    def missed(self) -> int:
        return sum(1 for x in self.lines if x.kind == DAILY and x.status == "missed")

    @property
    def answered(self) -> int:
        return sum(x.answered for x in self.lines if x.kind == DAILY)

    @property
    def expected(self) -> int:
        return sum(
            x.expected for x in self.lines if x.kind == DAILY and x.status in ("open", "closed")
        )

    @property
    def blockers(self) -> int:
        return sum(x.blockers for x in self.lines)


@dataclass(frozen=True)
class Reports:
    """Reading a client's stand-ups; nothing here writes."""

    db: Database
    clock: Callable[[], dt.datetime]
    cares: Cares
    team: Sequence[str]

    def status(self, reference: str, channel_id: str | None) -> Status:
        now = self.clock()
        with self.db.transaction() as session:
            client, care, row = records.for_bau_command(
                session, self.cares, self.clock, channel_id, reference, create=False
            )
            calendar = records.calendar_with_days_off(session, client)
            today = calendar.local_date(now)
            upcoming: list[tuple[Slot, dt.datetime]] = []
            if care is not None and row.status == "active":
                upcoming = [
                    (s, s.due.astimezone(calendar.zone))
                    for s in slots(row, care.rules, calendar)
                    if s.cutoff > now
                ][:6]
            days_off = list(
                session.scalars(
                    select(StandupDayOff)
                    .where(StandupDayOff.client_id == client.id, StandupDayOff.day >= today)
                    .order_by(StandupDayOff.day)
                )
            )
            away = list(
                session.scalars(
                    select(StandupAway)
                    .where(StandupAway.client_id == client.id, StandupAway.last_day >= today)
                    .order_by(StandupAway.first_day)
                )
            )
            next_review = None
            if row.bau_started_on and row.review_cadence:
                next_review = next(
                    d
                    for d in review_dates(row.bau_started_on, row.review_cadence, calendar)
                    if d >= today
                )
            return Status(
                client=client,
                care=care,
                row=row,
                standup_time=standup_time(row, care.rules if care else None),
                cutoff=cutoff_time(row),
                reminder_minutes=int(reminder_delay(row).total_seconds() // 60),
                responders=responders(row, client, self.team),
                default_responders=row.responders is None,
                upcoming=upcoming,
                days_off=days_off,
                away=away,
                criteria=records.criteria(session, client, care) if care else [],
                reviewer=row.sdm or client.account_manager,
                next_review=next_review,
            )

    def report(
        self,
        reference: str,
        channel_id: str | None,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> Report:
        now = self.clock()
        with self.db.transaction() as session:
            client, care, row = records.for_command(
                session, self.cares, self.clock, channel_id, reference, create=False
            )
            today = calendar_for(client).local_date(now)
            first = first or row.start_date or today
            last = last or (min(today, row.end_date) if row.end_date else today)
            if last < first:
                raise InvalidInput({"dates": "The end of the range comes before its start."})
            if (last - first).days > 366:
                raise InvalidInput({"dates": "Ask for at most a year at a time."})
            lines = day_lines(session, client.id, first, last)
            return Report(client, first, last, lines, records.criteria(session, client, care))


def worst(healths: Iterable[str]) -> str | None:
    """The worst health reported, ignoring anything that is not one."""
    ranked = [h for h in healths if h in HEALTH]
    return max(ranked, key=HEALTH.index) if ranked else None


def day_lines(session: Session, client_id: int, first: dt.date, last: dt.date) -> list[DayLine]:
    """Each prompt and day off between `first` and `last`, with its answers counted."""
    prompts = list(
        session.scalars(
            select(StandupPrompt)
            .where(
                StandupPrompt.client_id == client_id,
                StandupPrompt.day >= first,
                StandupPrompt.day <= last,
            )
            .order_by(StandupPrompt.day, StandupPrompt.kind)
        )
    )
    answers: dict[int, list[StandupAnswer]] = {}
    if prompts:
        for answer in session.scalars(
            select(StandupAnswer).where(StandupAnswer.prompt_id.in_([p.id for p in prompts]))
        ):
            answers.setdefault(answer.prompt_id, []).append(answer)
    aways = list(
        session.scalars(
            select(StandupAway).where(
                StandupAway.client_id == client_id,
                StandupAway.first_day <= last,
                StandupAway.last_day >= first,
            )
        )
    )

    def away_on(day: dt.date) -> set[str]:
        return {a.user_id for a in aways if a.first_day <= day <= a.last_day}

    def answered(p: StandupPrompt) -> set[str]:
        return {a.user_id for a in answers.get(p.id, [])}

    lines = [
        DayLine(
            p.day,
            p.kind,
            p.status,
            answered=len(answered(p) & set(p.expected)),
            expected=asked(p.expected, answered(p), away_on(p.day)),
            blockers=sum(1 for a in answers.get(p.id, []) if a.blockers),
            health=worst(a.health for a in answers.get(p.id, [])),
        )
        for p in prompts
    ]
    lines += [
        DayLine(off.day, "off", "off", note=off.reason)
        for off in session.scalars(
            select(StandupDayOff).where(
                StandupDayOff.client_id == client_id,
                StandupDayOff.day >= first,
                StandupDayOff.day <= last,
            )
        )
    ]
    return sorted(lines, key=lambda line: (line.day, line.kind))


def asked(expected: list[str], answered: set[str], away: set[str]) -> int:
    """How many a stand-up's count is out of: its responders, less those away who did not
    answer anyway."""
    return sum(1 for user in expected if user not in away or user in answered)
