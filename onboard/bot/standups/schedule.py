"""When hypercare happens: stand-up and weekly review slots, their cut-offs, BAU review dates.

Pure rules over a client's business calendar; nothing here reads the database.
"""

from __future__ import annotations

import datetime as dt
import re
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from onboard.bot.calendar import BusinessCalendar
from onboard.bot.errors import InvalidInput
from onboard.bot.playbooks import WEEKDAYS
from onboard.bot.playbooks import Hypercare as HypercareRules
from onboard.bot.standups.care import Care
from onboard.storage.models import Client, Hypercare, StandupPrompt

DAILY, WEEKLY = "daily", "weekly"
DEFAULT_CUTOFF = dt.time(17, 0)
DEFAULT_REMINDER_MINUTES = 120
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class Slot:
    """A stand-up or weekly review on one local day: when it is due and when it closes (UTC)."""

    day: dt.date
    kind: str
    due: dt.datetime
    cutoff: dt.datetime


def parse_clock(text: str) -> dt.time:
    """ "9:30" or "09:30" as a time of day."""
    found = _CLOCK.fullmatch(text.strip())
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise InvalidInput({"time": "Give a 24-hour time such as 09:30."})
    return dt.time(int(found.group(1)), int(found.group(2)))


def standup_time(row: Hypercare, rules: HypercareRules | None) -> dt.time:
    if row.standup_time:
        return parse_clock(row.standup_time)
    return rules.standup_time if rules else dt.time(9, 30)


def cutoff_time(row: Hypercare) -> dt.time:
    return parse_clock(row.cutoff_time) if row.cutoff_time else DEFAULT_CUTOFF


def reminder_delay(row: Hypercare) -> dt.timedelta:
    minutes = row.reminder_minutes if row.reminder_minutes is not None else DEFAULT_REMINDER_MINUTES
    return dt.timedelta(minutes=minutes)


def cutoff_of(calendar: BusinessCalendar, day: dt.date, due: dt.time, cut: dt.time) -> dt.datetime:
    """The day's cut-off; a stand-up set at or after the cut-off time closes at local midnight."""
    if cut > due:
        return calendar.at_local_time(day, cut)
    return calendar.at_local_time(day + dt.timedelta(days=1), dt.time(0))


def slots(row: Hypercare, rules: HypercareRules, calendar: BusinessCalendar) -> list[Slot]:
    """Every stand-up and weekly review of the hypercare window, in order.

    Stand-ups fall on the first `standup_business_days` business days (weekends, the country's
    holidays and the client's days off skipped) whose stand-up time is not before hypercare
    began: a go-live at 14:00 has its first stand-up the next business morning. A weekly review
    falls on the playbook's weekday of each following week, moved to the next business day
    when that is a day off, and dropped when that is past the window.
    """
    assert row.start_date and row.end_date and row.started_at
    at, cut = standup_time(row, rules), cutoff_time(row)
    found: list[Slot] = []
    day, count = row.start_date, 0
    while day <= row.end_date and count < rules.standup_business_days:
        if calendar.is_business_day(day):
            due = calendar.at_local_time(day, at)
            if due >= row.started_at:
                found.append(Slot(day, DAILY, due, cutoff_of(calendar, day, at, cut)))
                count += 1
        day += dt.timedelta(days=1)
    if rules.weekly_review_weekday is not None:
        weekday = WEEKDAYS.index(rules.weekly_review_weekday)
        start = row.start_date
        day = start + dt.timedelta(days=(weekday - start.weekday()) % 7 or 7)
        seen: set[dt.date] = set()
        while day <= row.end_date:
            try:
                moved = calendar.roll_forward(day)
            except ValueError:  # a calendar without a single business day: no reviews
                break
            due = calendar.at_local_time(moved, at)
            if moved <= row.end_date and moved not in seen and due >= row.started_at:
                seen.add(moved)
                found.append(Slot(moved, WEEKLY, due, cutoff_of(calendar, moved, at, cut)))
            day += dt.timedelta(days=7)
    return sorted(found, key=lambda s: (s.due, s.kind))


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 → 28 or 29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return dt.date(year, month, min(day.day, monthrange(year, month)[1]))


def review_dates(start: dt.date, cadence: str, calendar: BusinessCalendar) -> Iterator[dt.date]:
    """BAU service reviews: each month (or quarter) after BAU began, on a business day."""
    step = 1 if cadence == "monthly" else 3
    n = 1
    while True:
        yield calendar.roll_forward(add_months(start, n * step))
        n += 1


def calendar_for(client: Client, days_off: Iterable[dt.date] = ()) -> BusinessCalendar:
    return BusinessCalendar(client.timezone, client.country, days_off)


def closes_at(
    row: Hypercare, care: Care | None, calendar: BusinessCalendar, prompt: StandupPrompt
) -> dt.datetime:
    """When an open stand-up closes, as the client's set-up stands now."""
    rules = care.rules if care else None
    closes = cutoff_of(calendar, prompt.day, standup_time(row, rules), cutoff_time(row))
    # A stand-up moved later after it was posted still stays open a while.
    return max(closes, prompt.due_at + dt.timedelta(minutes=1))


def closing_label(row: Hypercare, care: Care | None) -> str:
    """The cut-off as people read it: "17:00", or "midnight" for a stand-up set after it."""
    cut = cutoff_time(row)
    return f"{cut:%H:%M}" if cut > standup_time(row, care.rules if care else None) else "midnight"
