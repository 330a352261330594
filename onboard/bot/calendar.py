"""A client's calendar: business days (weekends, public holidays), local dates, DST-safe times.

Owns the day arithmetic every schedule relies on, and the dated plan a playbook produces.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from onboard.bot.playbooks import WEEKDAYS, Playbook, Stage

SATURDAY_SUNDAY = frozenset({5, 6})
# A calendar with no business day in a whole year is a configuration error, not a long wait.
_SEARCH_LIMIT = 366


def _split(region: str) -> tuple[str, str | None]:
    """Split an ISO 3166-2 code: "GB-ENG" → ("GB", "ENG"), "GB" → ("GB", None)."""
    country, _, subdivision = region.partition("-")
    return country, subdivision or None


# No time zone in use is more than 14 hours ahead of UTC (Pacific/Kiritimati).
LATEST_OFFSET = dt.timedelta(hours=14)


def latest_local_date(moment: dt.datetime) -> dt.date:
    """The latest date any client's wall calendar can show at `moment`: a bound for a query
    over clients in every time zone, each then checked on its own calendar."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment.astimezone(dt.UTC) + LATEST_OFFSET).date()


@lru_cache(maxsize=256)
def _region(region: str) -> holidays.HolidayBase | None:
    """The `holidays` calendar of "CC" or "CC-SUB", or None when the package has none.

    An unknown subdivision falls back to the whole country rather than to no holidays at all.
    """
    country, subdivision = _split(region)
    if not country:
        return None
    try:
        probe = holidays.country_holidays(country, subdiv=subdivision, years=[])
    except NotImplementedError:
        if subdivision is None:
            return None
        return _region(country)
    # English names where the package has them, so a plan reads the same everywhere.
    default = getattr(probe, "default_language", None) or ""
    supported = getattr(probe, "supported_languages", ()) or ()
    if default.startswith("en") or "en_US" not in supported:
        return probe
    return holidays.country_holidays(country, subdiv=subdivision, years=[], language="en_US")


@lru_cache(maxsize=1024)
def _holidays_in(region: str, year: int) -> Mapping[dt.date, str]:
    """One year of a region's public holidays, computed once and never mutated afterwards."""
    calendar = _region(region)
    if calendar is None:
        return MappingProxyType({})
    # A fresh object per year: the cached probe must not grow lazily across threads.
    found = holidays.country_holidays(
        calendar.country,
        subdiv=calendar.subdiv,
        years=year,
        language=getattr(calendar, "language", None),
    )
    return MappingProxyType(dict(found.items()))


@dataclass(frozen=True)
class TaskPlan:
    """When one task of a stage falls due."""

    title: str
    owner: str
    due_day: int
    due: dt.date


@dataclass(frozen=True)
class StagePlan:
    """When one stage runs: its dates, its tasks' due dates and its hypercare rhythm."""

    key: str
    name: str
    owner: str
    unit: Literal["business", "calendar"]
    start: dt.date
    earliest_end: dt.date
    end: dt.date
    tasks: tuple[TaskPlan, ...]
    standups: tuple[dt.datetime, ...] = ()  # aware UTC instants
    reviews: tuple[dt.date, ...] = ()


class BusinessCalendar:
    """Business days and local times for one client: its IANA timezone and its country.

    `country` is an ISO 3166 code, "GB", or with a subdivision, "GB-ENG", whose own holidays
    (England's Easter Monday) the whole country's list leaves out. Business days skip the
    country's weekend (Saturday and Sunday unless the `holidays` package says otherwise), its
    public holidays and `extra_days_off`. An unknown country gets weekends only
    (`knows_holidays` is then False).
    """

    def __init__(
        self,
        timezone: str,
        country: str | None,
        extra_days_off: Iterable[dt.date] = frozenset(),
    ) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {timezone!r}") from None
        self.timezone = timezone
        self.country = (country or "").strip().upper()
        self.extra_days_off = frozenset(extra_days_off)
        known = _region(self.country)
        self.knows_holidays = known is not None
        weekend = getattr(known, "weekend", None) if known is not None else None
        self.weekend: frozenset[int] = frozenset(weekend or SATURDAY_SUNDAY)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.timezone!r}, {self.country!r})"

    # -- days -----------------------------------------------------------------------------

    def holiday(self, day: dt.date) -> str | None:
        """The name of the public holiday (or extra day off) on `day`, if any."""
        if day in self.extra_days_off:
            return "Day off"
        return _holidays_in(self.country, day.year).get(day)

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() not in self.weekend and self.holiday(day) is None

    def roll_forward(self, day: dt.date) -> dt.date:
        """`day` itself when it is a business day, else the next business day."""
        for _ in range(_SEARCH_LIMIT):
            if self.is_business_day(day):
                return day
            day += dt.timedelta(days=1)
        raise ValueError(f"no business day within {_SEARCH_LIMIT} days of {day}")

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """The business day `n` business days after `day`.

        Day 0 is `day` itself when it is a business day, else the next business day; so a task
        due on day 0 of a stage entered on a Saturday is due on Monday, and day 1 on Tuesday.
        """
        if n < 0:
            raise ValueError("n must be 0 or more")
        day = self.roll_forward(day)
        for _ in range(n):
            day = self.roll_forward(day + dt.timedelta(days=1))
        return day

    def stage_day(self, entered: dt.date, today: dt.date) -> int:
        """Which business day of its stage `today` is, the day it began being day 1 (a stage
        entered on a Saturday begins on Monday); 0 before it begins. A stage of at most N
        business days is late from its day N + 1, as `plan` dates its end on its day N."""
        return max(0, self.business_days_between(self.roll_forward(entered), today) + 1)

    def business_days_between(self, a: dt.date, b: dt.date) -> int:
        """Business days after `a` up to and including `b` (negative when `b` is before `a`).

        The inverse of add_business_days for a business day `a`:
        business_days_between(a, add_business_days(a, n)) == n. Same day gives 0.
        """
        if b < a:
            return -self.business_days_between(b, a)
        # Whole weeks count at once and days off are subtracted: the digest calls this for
        # every client, so it must not walk the calendar day by day.
        weeks, rest = divmod((b - a).days, 7)
        count = weeks * (7 - len(self.weekend))
        tail = a + dt.timedelta(days=7 * weeks)
        count += sum(
            1
            for i in range(1, rest + 1)
            if (tail + dt.timedelta(days=i)).weekday() not in self.weekend
        )
        off = set(self.extra_days_off)
        for year in range(a.year, b.year + 1):
            off.update(_holidays_in(self.country, year))
        return count - sum(1 for day in off if a < day <= b and day.weekday() not in self.weekend)

    def days_off_between(self, a: dt.date, b: dt.date) -> list[tuple[dt.date, str]]:
        """Public holidays and extra days off from `a` to `b` inclusive that fall on a weekday."""
        found = []
        for i in range((b - a).days + 1):
            day = a + dt.timedelta(days=i)
            name = self.holiday(day)
            if name is not None and day.weekday() not in self.weekend:
                found.append((day, name))
        return found

    # -- times ----------------------------------------------------------------------------

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The client's date at `moment`. A naive datetime is taken as UTC, as storage keeps it."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(self.zone).date()

    def at_local_time(self, day: dt.date, time: dt.time) -> dt.datetime:
        """The UTC instant when the client's wall clock shows `time` on `day`.

        Across DST changes zoneinfo's fold=0 rule applies: a wall time that happens twice (clocks
        going back) means its first occurrence; a wall time that never happens (clocks going
        forward) is read with the offset before the change, so it lands as far after the gap
        as it was into it (01:30 on a day London skips 01:00–02:00 is 02:30 BST) and a prompt
        set inside the gap still fires that day.
        """
        if time.tzinfo is not None:
            raise ValueError("give a local time without a timezone; the client's applies")
        local = dt.datetime.combine(day, time.replace(fold=0), tzinfo=self.zone)
        return local.astimezone(dt.UTC)

    # -- plans ----------------------------------------------------------------------------

    def plan(self, playbook: Playbook, start: dt.date) -> list[StagePlan]:
        """The dates a playbook would produce from `start`, each stage running its longest.

        Each stage starts on the business day after the previous one ends (the first on
        `start`, rolled forward to a business day). A business-day stage of at most N days ends
        on its day N-1; a calendar-day stage of N days ends N-1 calendar days after its start.
        Tasks are due `due_day` business days after their stage starts.
        """
        plans: list[StagePlan] = []
        begin = self.roll_forward(start)
        for stage in playbook.stages:
            plan = self._stage_plan(stage, begin)
            plans.append(plan)
            begin = self.roll_forward(plan.end + dt.timedelta(days=1))
        return plans

    def _stage_plan(self, stage: Stage, begin: dt.date) -> StagePlan:
        if stage.calendar_days is not None:
            unit: Literal["business", "calendar"] = "calendar"
            end = earliest = begin + dt.timedelta(days=stage.calendar_days - 1)
        else:
            unit = "business"
            end = self.add_business_days(begin, stage.duration_days.max - 1)
            earliest = self.add_business_days(begin, max(stage.duration_days.min, 1) - 1)
        tasks = tuple(
            TaskPlan(t.title, t.owner, t.due_day, self.add_business_days(begin, t.due_day))
            for t in stage.tasks
        )
        standups: tuple[dt.datetime, ...] = ()
        reviews: tuple[dt.date, ...] = ()
        hypercare = stage.automation.hypercare if stage.automation else None
        if hypercare is not None:
            last = min(end, begin + dt.timedelta(days=hypercare.days - 1))
            days = [
                self.add_business_days(begin, i) for i in range(hypercare.standup_business_days)
            ]
            standups = tuple(
                self.at_local_time(d, hypercare.standup_time) for d in days if d <= last
            )
            if hypercare.weekly_review_weekday is not None:
                reviews = self._weekly(begin, last, WEEKDAYS.index(hypercare.weekly_review_weekday))
        return StagePlan(
            key=stage.key,
            name=stage.name,
            owner=stage.owner,
            unit=unit,
            start=begin,
            earliest_end=earliest,
            end=end,
            tasks=tasks,
            standups=standups,
            reviews=reviews,
        )

    def _weekly(self, begin: dt.date, last: dt.date, weekday: int) -> tuple[dt.date, ...]:
        """That weekday of each week after `begin` up to `last`; a day off moves it to the next
        business day, or drops it when that is past `last`."""
        found: list[dt.date] = []
        day = begin + dt.timedelta(days=(weekday - begin.weekday()) % 7 or 7)
        while day <= last:
            moved = self.roll_forward(day)
            if moved <= last and moved not in found:
                found.append(moved)
            day += dt.timedelta(days=7)
        return tuple(found)
