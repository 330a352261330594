"""Deadlines land on the client's business days and prompts at the client's wall-clock time.

Covers weekends, public holidays, both sides of the date line, DST changes and playbook plans.
"""

from __future__ import annotations

import datetime as dt
import itertools
import textwrap
from zoneinfo import ZoneInfo, available_timezones

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard.bot import places
from onboard.bot.calendar import BusinessCalendar, _region, latest_local_date
from onboard.bot.playbook_files import available, parse

D = dt.date
UTC = dt.UTC

london = BusinessCalendar("Europe/London", "GB")


# -- business days ---------------------------------------------------------------------------


def test_a_task_due_one_business_day_after_friday_is_due_on_monday() -> None:
    assert london.add_business_days(D(2026, 3, 6), 1) == D(2026, 3, 9)
    assert london.add_business_days(D(2026, 3, 6), 0) == D(2026, 3, 6)
    assert london.add_business_days(D(2026, 3, 6), 5) == D(2026, 3, 13)


def test_day_zero_of_a_stage_entered_at_the_weekend_is_the_next_business_day() -> None:
    saturday = D(2026, 3, 7)
    assert not london.is_business_day(saturday)
    assert london.add_business_days(saturday, 0) == D(2026, 3, 9)
    assert london.add_business_days(saturday, 1) == D(2026, 3, 10)


def test_christmas_and_the_observed_boxing_day_are_skipped_in_great_britain() -> None:
    # 2026-12-25 is a Friday, and Boxing Day (Saturday 26th) is observed on Monday 28th.
    assert not london.is_business_day(D(2026, 12, 25))
    assert not london.is_business_day(D(2026, 12, 28))
    assert london.add_business_days(D(2026, 12, 24), 1) == D(2026, 12, 29)
    assert london.business_days_between(D(2026, 12, 24), D(2026, 12, 29)) == 1
    assert london.holiday(D(2026, 12, 28)) == "Boxing Day (observed)"
    assert london.days_off_between(D(2026, 12, 21), D(2027, 1, 4)) == [
        (D(2026, 12, 25), "Christmas Day"),
        (D(2026, 12, 28), "Boxing Day (observed)"),
        (D(2027, 1, 1), "New Year's Day"),
    ]


def test_a_country_holiday_only_counts_in_its_own_country() -> None:
    us = BusinessCalendar("America/New_York", "US")
    assert us.is_business_day(D(2026, 12, 28))  # no Boxing Day in the US
    assert not us.is_business_day(D(2026, 7, 3))  # Independence Day, observed on the Friday


def test_a_subdivision_adds_its_own_holidays_to_the_country() -> None:
    easter_monday = D(2027, 3, 29)
    assert london.is_business_day(easter_monday)  # not a bank holiday in Scotland
    assert not BusinessCalendar("Europe/London", "GB-ENG").is_business_day(easter_monday)
    assert not BusinessCalendar("Europe/London", "gb-eng").is_business_day(D(2027, 8, 30))
    fallback = BusinessCalendar("Europe/London", "GB-XX")
    assert fallback.knows_holidays and not fallback.is_business_day(D(2026, 12, 25))


def test_each_region_the_new_client_form_offers_has_its_own_holidays() -> None:
    offered = places.regions()
    assert {"GB-ENG", "GB-SCT", "DE-BY", "US-TX", "AU-VIC", "CA-QC", "ES-CT"} <= set(offered)
    for code in offered:
        calendar = _region(code)
        assert calendar is not None, code
        # Its own calendar, never the quiet fall-back to the whole country's.
        assert f"{calendar.country}-{calendar.subdiv}" == code
    england = BusinessCalendar("Europe/London", "GB-ENG")
    assert not england.is_business_day(D(2026, 4, 6))  # Easter Monday
    assert not england.is_business_day(D(2026, 8, 31))  # Late Summer Bank Holiday
    assert england.add_business_days(D(2026, 8, 28), 1) == D(2026, 9, 1)


def test_a_code_given_now_is_accepted_only_where_the_calendar_has_its_own_holidays() -> None:
    # What the New client form and `playbook plan --country` accept is exactly what the
    # calendar uses without its quiet fall-back; anything else gets a short reason.
    for code in places.client_places():
        assert places.region_problem(code) is None, code
    for country, subdivisions in holidays.list_supported_countries(include_aliases=False).items():
        for code in [country, f"{country}-QQQ", *(f"{country}-{s}" for s in subdivisions)]:
            calendar = _region(code.upper())  # as BusinessCalendar reads it
            wanted, _, subdivision = code.upper().partition("-")
            own = calendar is not None and calendar.country == wanted
            own = own and (not subdivision or calendar.subdiv == subdivision)
            problem = places.region_problem(code)
            assert (problem is None) == own, (code, problem)
            assert problem is None or len(problem) <= 150, problem
    assert places.region_problem(" gb-eng ") is None
    assert places.region_problem("ZZ") is not None  # weekends only: said, not assumed


def test_an_unknown_country_skips_weekends_only() -> None:
    nowhere = BusinessCalendar("UTC", "XX")
    assert not nowhere.knows_holidays
    assert nowhere.is_business_day(D(2026, 12, 25))
    assert nowhere.add_business_days(D(2026, 12, 25), 1) == D(2026, 12, 28)
    assert BusinessCalendar("UTC", "").is_business_day(D(2026, 12, 25))


def test_a_country_with_a_friday_saturday_weekend_works_on_sunday() -> None:
    riyadh = BusinessCalendar("Asia/Riyadh", "SA")
    assert riyadh.add_business_days(D(2026, 3, 12), 1) == D(2026, 3, 15)  # Thursday → Sunday


def test_extra_days_off_are_skipped_like_holidays() -> None:
    calendar = BusinessCalendar("Europe/London", "GB", extra_days_off={D(2026, 3, 9)})
    assert calendar.add_business_days(D(2026, 3, 6), 1) == D(2026, 3, 10)
    assert calendar.holiday(D(2026, 3, 9)) == "Day off"


def test_business_days_between_counts_after_the_first_day_up_to_the_last() -> None:
    assert london.business_days_between(D(2026, 3, 9), D(2026, 3, 9)) == 0
    assert london.business_days_between(D(2026, 3, 6), D(2026, 3, 9)) == 1
    assert london.business_days_between(D(2026, 3, 9), D(2026, 3, 6)) == -1
    assert london.business_days_between(D(2026, 3, 2), D(2026, 3, 16)) == 10


def test_a_negative_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        london.add_business_days(D(2026, 3, 6), -1)


def test_a_calendar_with_no_business_day_at_all_is_refused_not_looped_on() -> None:
    every_day = {D(2026, 1, 1) + dt.timedelta(days=i) for i in range(400)}
    calendar = BusinessCalendar("UTC", "GB", extra_days_off=every_day)
    with pytest.raises(ValueError, match="no business day"):
        calendar.add_business_days(D(2026, 1, 1), 0)


@given(
    start=st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31)),
    n=st.integers(min_value=0, max_value=300),
)
def test_counting_business_days_undoes_adding_them(start: dt.date, n: int) -> None:
    first = london.add_business_days(start, 0)
    later = london.add_business_days(first, n)
    assert london.is_business_day(later)
    assert london.business_days_between(first, later) == n


# -- time zones ------------------------------------------------------------------------------

auckland = BusinessCalendar("Pacific/Auckland", "NZ")
los_angeles = BusinessCalendar("America/Los_Angeles", "US")


def test_one_instant_is_a_different_date_either_side_of_the_date_line() -> None:
    moment = dt.datetime(2026, 3, 5, 20, 0, tzinfo=UTC)
    assert auckland.local_date(moment) == D(2026, 3, 6)  # Friday 09:00 NZDT
    assert los_angeles.local_date(moment) == D(2026, 3, 5)  # Thursday 12:00 PST


def test_monday_morning_in_auckland_is_still_sunday_in_los_angeles() -> None:
    moment = dt.datetime(2026, 3, 8, 20, 0, tzinfo=UTC)
    assert auckland.is_business_day(auckland.local_date(moment))
    assert not los_angeles.is_business_day(los_angeles.local_date(moment))


def test_a_morning_prompt_in_auckland_goes_out_the_previous_utc_day() -> None:
    assert auckland.at_local_time(D(2026, 3, 6), dt.time(9, 0)) == dt.datetime(
        2026, 3, 5, 20, 0, tzinfo=UTC
    )


def test_an_evening_prompt_in_los_angeles_goes_out_the_next_utc_day() -> None:
    assert los_angeles.at_local_time(D(2026, 3, 5), dt.time(17, 0)) == dt.datetime(
        2026, 3, 6, 1, 0, tzinfo=UTC
    )


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert auckland.local_date(dt.datetime(2026, 3, 5, 20, 0)) == D(2026, 3, 6)


def test_an_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Base'"):
        BusinessCalendar("Mars/Base", "GB")


# -- daylight saving time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        (D(2026, 3, 27), 9),  # GMT
        (D(2026, 3, 29), 8),  # BST from 01:00 UTC that Sunday
        (D(2026, 3, 30), 8),
        (D(2026, 10, 24), 8),  # still BST
        (D(2026, 10, 25), 9),  # GMT again from 01:00 UTC that Sunday
        (D(2026, 10, 26), 9),
    ],
)
def test_a_09_30_stand_up_stays_at_09_30_in_london_across_dst(day: dt.date, utc_hour: int) -> None:
    moment = london.at_local_time(day, dt.time(9, 30))
    assert moment == dt.datetime.combine(day, dt.time(utc_hour, 30), tzinfo=UTC)
    assert moment.astimezone(london.zone).time() == dt.time(9, 30)
    assert london.local_date(moment) == day


def test_a_time_skipped_by_the_spring_change_moves_forward_by_the_gap() -> None:
    moment = london.at_local_time(D(2026, 3, 29), dt.time(1, 30))
    assert moment == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert moment.astimezone(london.zone).time() == dt.time(2, 30)


def test_a_time_repeated_by_the_autumn_change_means_its_first_occurrence() -> None:
    moment = london.at_local_time(D(2026, 10, 25), dt.time(1, 30))
    assert moment == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert moment.astimezone(london.zone).tzname() == "BST"


def test_a_time_with_its_own_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="without a timezone"):
        london.at_local_time(D(2026, 3, 29), dt.time(9, 30, tzinfo=UTC))


# -- plans -----------------------------------------------------------------------------------


def test_managed_services_planned_from_21_december_skips_the_christmas_holidays() -> None:
    plans = london.plan(available()["managed-services"], D(2026, 12, 21))
    assert [(p.key, p.start, p.end) for p in plans] == [
        ("sales-handoff", D(2026, 12, 21), D(2026, 12, 23)),
        ("technical-discovery", D(2026, 12, 24), D(2027, 1, 6)),
        ("solution-design", D(2027, 1, 7), D(2027, 1, 15)),
        ("implementation-planning", D(2027, 1, 18), D(2027, 1, 22)),
        ("deployment", D(2027, 1, 25), D(2027, 2, 11)),
        ("hypercare", D(2027, 2, 12), D(2027, 3, 13)),
        ("bau-transition", D(2027, 3, 15), D(2027, 3, 19)),
    ]
    discovery = plans[1]
    assert discovery.earliest_end == D(2027, 1, 4)
    # Due day 3 of a stage starting on Christmas Eve: 29, 30, 31 December.
    assert discovery.tasks[0].due == D(2026, 12, 31)
    for plan in plans:
        assert london.is_business_day(plan.start)
        assert all(london.is_business_day(task.due) for task in plan.tasks)


def test_each_stage_starts_on_the_business_day_after_the_previous_one_ends() -> None:
    for playbook in available().values():
        plans = london.plan(playbook, D(2026, 12, 19))
        assert plans[0].start == D(2026, 12, 21)
        for before, after in itertools.pairwise(plans):
            assert after.start == london.add_business_days(before.end + dt.timedelta(days=1), 0)
            assert before.start <= before.earliest_end <= before.end


def test_hypercare_lasts_30_calendar_days_with_stand_ups_and_weekly_reviews() -> None:
    plans = london.plan(available()["managed-services"], D(2026, 12, 21))
    hypercare = next(p for p in plans if p.key == "hypercare")
    assert hypercare.unit == "calendar"
    assert (hypercare.end - hypercare.start).days == 29
    assert [s.astimezone(london.zone).date() for s in hypercare.standups] == [
        D(2027, 2, 12),
        D(2027, 2, 15),
        D(2027, 2, 16),
        D(2027, 2, 17),
        D(2027, 2, 18),
    ]
    assert all(s.astimezone(london.zone).time() == dt.time(9, 30) for s in hypercare.standups)
    assert hypercare.reviews == (D(2027, 2, 19), D(2027, 2, 26), D(2027, 3, 5), D(2027, 3, 12))


def test_hypercare_stand_ups_follow_the_clock_change() -> None:
    playbook = parse(
        textwrap.dedent(
            """\
        key: go-live
        name: Go-live
        stages:
          - key: hypercare
            name: Hypercare
            objective: Watch closely.
            owner: Onboarding Lead
            duration_days: {min: 5, max: 7}
            calendar_days: 10
            automation:
              hypercare: {days: 10, standup_time: "09:30", standup_business_days: 5}
        """
        ),
        "go-live.yaml",
    )
    # Go-live on Friday 2026-03-27: London moves to BST on Sunday 2026-03-29.
    (hypercare,) = london.plan(playbook, D(2026, 3, 27))
    assert [(s.day, s.hour, s.minute) for s in hypercare.standups] == [
        (27, 9, 30),
        (30, 8, 30),
        (31, 8, 30),
        (1, 8, 30),
        (2, 8, 30),  # Friday 3 April is Good Friday
    ]
    assert hypercare.end == D(2026, 4, 5)


def test_the_same_plan_in_auckland_follows_new_zealand_holidays() -> None:
    plans = auckland.plan(available()["managed-services"], D(2026, 12, 21))
    # 25, 28 December and 1, 2 January (New Zealand has a day after New Year's Day).
    assert plans[1].start == D(2026, 12, 24)
    assert plans[1].earliest_end == D(2027, 1, 5)


@given(
    start=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2028, 12, 31)),
    span=st.integers(min_value=-400, max_value=400),
)
def test_counting_business_days_agrees_with_walking_the_calendar(start: dt.date, span: int) -> None:
    calendar = BusinessCalendar("Europe/London", "GB", extra_days_off={dt.date(2026, 12, 24)})
    end = start + dt.timedelta(days=span)
    low, high = sorted((start, end))
    walked = sum(
        1
        for i in range(1, (high - low).days + 1)
        if calendar.is_business_day(low + dt.timedelta(days=i))
    )
    assert calendar.business_days_between(start, end) == (walked if end >= start else -walked)


# -- the latest date on Earth ------------------------------------------------------------------


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_no_time_zone_is_past_the_latest_local_date(naive: dt.datetime) -> None:
    # A sweep's query bounds every client's "today" by it, before each client's own calendar.
    moment = naive.replace(tzinfo=UTC)
    latest = latest_local_date(moment)
    dates = {moment.astimezone(ZoneInfo(name)).date() for name in available_timezones()}
    assert max(dates) <= latest
    assert BusinessCalendar("Pacific/Kiritimati", "KI").local_date(moment) == latest


@given(start=st.dates(min_value=D(2026, 1, 1), max_value=D(2028, 12, 31)))
def test_a_stage_is_late_the_business_day_after_the_end_its_plan_prints(start: dt.date) -> None:
    # `onboard playbook plan` dates each stage's end; status, App Home and the digest call a
    # stage late from the business day after. Both must count its days the same way.
    playbook = available()["managed-services"]
    for stage, plan in zip(playbook.stages, london.plan(playbook, start), strict=True):
        if plan.unit != "business":
            continue
        longest = stage.duration_days.max
        assert london.stage_day(plan.start, plan.start) == 1
        assert london.stage_day(plan.start, plan.end) == longest  # on time, to the last day
        after = london.roll_forward(plan.end + dt.timedelta(days=1))
        assert london.stage_day(plan.start, after) == longest + 1  # late


def test_a_stage_entered_at_the_weekend_begins_on_monday() -> None:
    saturday, monday = D(2026, 3, 7), D(2026, 3, 9)
    assert london.stage_day(saturday, saturday) == 0
    assert london.stage_day(saturday, monday) == 1
