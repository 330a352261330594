"""Hypercare: stand-up prompts, answers, reminders, cut-off summaries, weekly and BAU reviews.

Sweeps run "as of" a moment; each send is keyed (`standup:<client>:<date>`): re-runs add nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from calendar import monthrange
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from onboard.bot import live_messages, outbound
from onboard.bot.calendar import BusinessCalendar
from onboard.bot.delivery import Outcome
from onboard.bot.errors import InvalidInput, NotAllowed, NotFound
from onboard.bot.gateway import SlackGateway, SlackRetryLater
from onboard.bot.journey import find_client
from onboard.bot.playbooks import WEEKDAYS
from onboard.bot.playbooks import Hypercare as HypercareRules
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import (
    Client,
    GateState,
    Hypercare,
    OutboxMessage,
    StandupAnswer,
    StandupAway,
    StandupDayOff,
    StandupPrompt,
)

log = logging.getLogger(__name__)

MESSAGE = "standup.message"  # outbox operation: a prompt posted once, then updated in place
DAILY, WEEKLY = "daily", "weekly"
NEVER_SENT = {"ratelimited", "paced"}  # outbox errors after which Slack surely posted nothing
HEALTH = ("green", "amber", "red")  # best first, worst last
DEFAULT_CUTOFF = dt.time(17, 0)
DEFAULT_REMINDER_MINUTES = 120
TREND_DAYS = 5  # stand-ups in a summary's health trend
MAX_FIELD = 1000  # characters per answer field: three fit one thread reply with room to spare
MAX_AWAY_DAYS = 90
REVIEW_GRACE_DAYS = 7  # a BAU review reminder missed through downtime is still sent within a week
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


# -- what a client's playbook says ------------------------------------------------------------


@dataclass(frozen=True)
class Care:
    """The hypercare stage of a client's playbook snapshot: its rules and exit criteria."""

    stage_key: str
    stage_name: str
    stage_index: int
    rules: HypercareRules
    criteria: tuple[tuple[str, str], ...]  # (gate key, gate name) of each exit criterion
    next_stage: str | None  # the name of the stage after it


def care_of(snapshot: dict[str, Any]) -> Care | None:
    """The first stage with hypercare automation, read from the raw snapshot.

    The sweep asks this of every active client; validating a whole playbook costs milliseconds,
    reading one stage's dictionary costs nothing.
    """
    stages = snapshot.get("stages") or []
    for index, stage in enumerate(stages):
        rules = (stage.get("automation") or {}).get("hypercare")
        if rules:
            names = {g["key"]: g["name"] for g in stage.get("gates") or []}
            parsed = HypercareRules.model_validate(rules)
            following = stages[index + 1]["name"] if index + 1 < len(stages) else None
            return Care(
                stage["key"],
                stage["name"],
                index,
                parsed,
                tuple((key, names.get(key, key)) for key in parsed.exit_criteria),
                following,
            )
    return None


# -- when things happen -----------------------------------------------------------------------


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


# -- pacing -----------------------------------------------------------------------------------


class Pacer:
    """Keeps this process's posts within Slack's published pace: one message a second per
    channel, and after a 429 no call of that method until its Retry-After has passed.

    A channel's next post that is not due yet goes back to the outbox ("retry later"), so posts
    to other channels go meanwhile; a method held after a 429 is waited out when the wait is
    short, since no other call of it could go sooner anyway.
    """

    def __init__(
        self,
        per_channel: float = 1.0,
        max_sleep: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_channel = per_channel
        self.max_sleep = max_sleep
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}  # channel → earliest moment of its next post
        self._held: dict[str, float] = {}  # method → held until (after a 429)
        self._lock = threading.Lock()

    def wait(self, method: str, channel: str | None) -> None:
        with self._lock:
            now = self.clock()
            held = self._held.get(method, 0.0) - now
            if held > self.max_sleep:
                raise SlackRetryLater(method, "paced", retry_after=held)
            start = now + max(held, 0.0)
            if method == "chat.postMessage" and channel is not None:
                spacing = self._next.get(channel, 0.0) - start
                if spacing > 0:
                    raise SlackRetryLater(method, "paced", retry_after=spacing + max(held, 0.0))
                self._next[channel] = start + self.per_channel
                if len(self._next) > 10_000:  # forget channels whose spacing has passed
                    self._next = {c: t for c, t in self._next.items() if t > now}
        if held > 0:
            self.sleep(held)

    def limited(self, method: str, retry_after: float) -> None:
        with self._lock:
            until = self.clock() + retry_after
            self._held[method] = max(self._held.get(method, 0.0), until)


class PacedGateway(SlackGateway):
    """The gateway as the stand-up executor uses it: every call waits for the pacer first."""

    def __init__(self, inner: SlackGateway, pacer: Pacer) -> None:
        super().__init__(inner.client)
        self.inner = inner
        self.pacer = pacer

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        channel = args.get("channel")
        self.pacer.wait(method, str(channel) if channel else None)
        try:
            return self.inner.call(method, **args)
        except SlackRetryLater as exc:
            if exc.error == "ratelimited" and exc.retry_after:
                self.pacer.limited(method, exc.retry_after)
            raise


# -- what messages show -----------------------------------------------------------------------


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
class PromptView:
    """Everything a stand-up or weekly review message shows, as of the moment it is sent."""

    client: Client
    prompt: StandupPrompt
    due_local: dt.time
    closes_at: str  # "17:00" or "midnight"
    hypercare_day: int
    hypercare_days: int
    end_date: dt.date
    closed: bool
    answers: list[StandupAnswer]
    waiting: list[str]
    away: list[str]
    trend: list[DayLine]
    week: list[DayLine]  # a weekly review: the week's stand-ups
    criteria: list[tuple[str, str, str]]  # (key, name, status)
    week_number: int

    @property
    def blockers(self) -> list[StandupAnswer]:
        return [a for a in self.answers if a.blockers]

    @property
    def criteria_met(self) -> int:
        return sum(1 for _, _, status in self.criteria if status == "passed")


@dataclass(frozen=True)
class Status:
    """A client's stand-up set-up, for `/onboard standup`."""

    client: Client
    care: Care
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


# -- the service ------------------------------------------------------------------------------

Change = Callable[[Session, "Client", Care, Hypercare, dt.date], dict[str, Any]]


class Standups:
    """Hypercare for every client in a hypercare stage, and BAU service reviews after it."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        *,
        team: Sequence[str] = (),
        reminder_hour: int = 9,
        pacer: Pacer | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.wake = wake
        self.team = tuple(team)
        self.reminder_hour = reminder_hour
        self.pacer = pacer or Pacer()
        # A client's snapshot never changes: each is read once (keyed with its creation, as a
        # database may hand a deleted client's ID to a new one).
        self._cares: dict[tuple[int, dt.datetime], Care | None] = {}

    # -- the sweep ----------------------------------------------------------------------------

    def sweep(self, at: dt.datetime) -> int:
        """Start and end hypercare windows, post what fell due, remind once, summarise at the
        cut-off; the number of sends queued."""
        with self.db.transaction() as session:
            clients = session.execute(
                select(
                    Client.id,
                    Client.created_at,
                    Client.stage_key,
                    Client.status,
                    Client.channel_id,
                    Hypercare.status,
                )
                .outerjoin(Hypercare, Hypercare.client_id == Client.id)
                .order_by(Client.id)
            ).all()
            unsettled = set(
                session.scalars(
                    select(StandupPrompt.client_id).where(StandupPrompt.status == "open").distinct()
                )
            )
        due = [
            client_id
            for client_id, created, stage_key, status, channel, care_status in clients
            if care_status == "active"
            or client_id in unsettled
            or (
                status == "active" and channel and self._care_stage(client_id, created) == stage_key
            )
        ]
        queued, failed = 0, 0
        for client_id in due:
            # A transaction per client: one client's trouble never holds back the others.
            try:
                with self.db.transaction() as session:
                    queued += self._sweep_client(session, client_id, at)
            except Exception:
                log.exception("stand-up sweep failed for client %s", client_id)
                failed += 1
        if failed:
            raise RuntimeError(f"the stand-up sweep failed for {failed} client(s); see the log")
        return queued

    def _care_stage(self, client_id: int, created: dt.datetime) -> str | None:
        if (client_id, created) not in self._cares:
            with self.db.transaction() as session:
                snapshot = session.scalar(select(Client.playbook).where(Client.id == client_id))
            self._cares[client_id, created] = care_of(snapshot or {})
        care = self._cares[client_id, created]
        return care.stage_key if care else None

    def _care(self, client: Client) -> Care | None:
        if (client.id, client.created_at) not in self._cares:
            self._cares[client.id, client.created_at] = care_of(client.playbook)
        return self._cares[client.id, client.created_at]

    def _sweep_client(self, session: Session, client_id: int, at: dt.datetime) -> int:
        # Locks are taken first and in one order (the hypercare row, its prompts, then the
        # audit chain's), so two schedulers take turns per client instead of deadlocking.
        row = _locked(session, client_id)
        client = _client(session, client_id)
        care = self._care(client)
        in_care = (
            care is not None
            and client.status == "active"
            and client.channel_id is not None
            and client.stage_key == care.stage_key
        )
        if row is None:
            if not in_care:
                return 0
            row = _create(session, client_id, at)
        prompts = list(
            session.scalars(
                select(StandupPrompt)
                .where(StandupPrompt.client_id == client_id)
                .order_by(StandupPrompt.day, StandupPrompt.kind)
                .with_for_update()
            )
        )
        queued = 0
        if care is not None and in_care:
            if row.status != "active" or row.started_at != client.stage_entered_at:
                queued += self._start(session, client, row, care, at)
        elif care is not None and row.status == "active":
            queued += self._finish(session, client, row, care, at)
        calendar = _calendar(session, client)
        if care is not None and row.status == "active":
            queued += self._open_due(session, client, row, care, calendar, prompts, at)
            queued += self._milestones(session, client, row, care, calendar, at)
        for prompt in prompts:
            if prompt.status == "open":
                queued += self._settle(session, client, row, care, calendar, prompt, at)
        return queued

    def _start(
        self, session: Session, client: Client, row: Hypercare, care: Care, at: dt.datetime
    ) -> int:
        again = row.started_at is not None
        started = client.stage_entered_at or at
        calendar = _calendar(session, client)
        row.status, row.stage_key, row.started_at = "active", care.stage_key, started
        row.start_date = calendar.local_date(started)
        row.end_date = row.start_date + dt.timedelta(days=care.rules.days - 1)
        row.ended_at = row.review_cadence = row.bau_started_on = None
        planned = slots(row, care.rules, calendar)
        assert client.channel_id is not None
        message = render_message(
            "hypercare_started",
            client=client,
            care=care,
            row=row,
            standups=[s.day for s in planned if s.kind == DAILY],
            reviews=[s.day for s in planned if s.kind == WEEKLY],
            time=standup_time(row, care.rules),
            criteria=_criteria(session, client, care),
        )
        outbound.enqueue_call(
            session,
            f"hypercare:{client.id}:started:{started.isoformat()}",
            "chat.postMessage",
            {"channel": client.channel_id, **message},
            client_id=client.id,
            audit_action="hypercare.announced",
            not_before=at,
        )
        audit.record(
            session,
            audit.Cause.system(),
            "hypercare.restarted" if again else "hypercare.started",
            client_id=client.id,
            subject=care.stage_key,
            details={
                "from": row.start_date.isoformat(),
                "to": row.end_date.isoformat(),
                "standups": [s.day.isoformat() for s in planned if s.kind == DAILY],
            },
            at=at,
        )
        return 1

    def _finish(
        self, session: Session, client: Client, row: Hypercare, care: Care, at: dt.datetime
    ) -> int:
        """The client left the hypercare stage: forward, BAU begins; back, hypercare stops."""
        keys = [s["key"] for s in client.playbook.get("stages", [])]
        forward = client.status == "completed" or (
            client.stage_key in keys and keys.index(client.stage_key) > care.stage_index
        )
        if not forward:
            row.status, row.ended_at = "left", at
            audit.record(
                session,
                audit.Cause.system(),
                "hypercare.left",
                client_id=client.id,
                subject=client.stage_key,
                at=at,
            )
            return 0
        criteria = _criteria(session, client, care)
        met = sum(1 for _, _, status in criteria if status == "passed")
        ended = (client.completed_at if client.status == "completed" else None) or (
            client.stage_entered_at or at
        )
        calendar = _calendar(session, client)
        row.status, row.ended_at = "exited", ended
        row.bau_started_on = calendar.local_date(ended)
        cadence = (client.playbook.get("review_cadence") or {}).get(client.tier)
        row.review_cadence = cadence
        first = next(review_dates(row.bau_started_on, cadence, calendar)) if cadence else None
        reviewer = row.sdm or client.account_manager
        audit.record(
            session,
            audit.Cause.system(),
            "hypercare.exited",
            client_id=client.id,
            subject=care.stage_key,
            details={"criteria_met": met, "criteria": len(criteria)},
            at=at,
        )
        audit.record(
            session,
            audit.Cause.system(),
            "bau.started",
            client_id=client.id,
            details={
                "cadence": cadence,
                "reviewer": reviewer,
                "first_review": first.isoformat() if first else None,
            },
            at=at,
        )
        if client.channel_id is None:
            return 0
        message = render_message(
            "hypercare_bau",
            client=client,
            cadence=cadence,
            first=first,
            reviewer=reviewer,
            criteria=criteria,
            met=met,
        )
        outbound.enqueue_call(
            session,
            f"hypercare:{client.id}:bau:{row.bau_started_on.isoformat()}",
            "chat.postMessage",
            {"channel": client.channel_id, **message},
            client_id=client.id,
            audit_action="bau.announced",
            not_before=at,
        )
        return 1

    def _open_due(
        self,
        session: Session,
        client: Client,
        row: Hypercare,
        care: Care,
        calendar: BusinessCalendar,
        prompts: list[StandupPrompt],
        at: dt.datetime,
    ) -> int:
        known = {(p.day, p.kind) for p in prompts}
        queued = 0
        for slot in slots(row, care.rules, calendar):
            if slot.due > at or (slot.day, slot.kind) in known:
                continue
            prompt = self._open(session, client, row, slot, at)
            if prompt is not None:
                prompts.append(prompt)
                queued += prompt.status in ("open", "posted")
        return queued

    def _open(
        self, session: Session, client: Client, row: Hypercare, slot: Slot, at: dt.datetime
    ) -> StandupPrompt | None:
        """Post a prompt that fell due; once its day's cut-off has passed (the bot was down, or
        stand-ups were paused) it is recorded instead, and nothing stale is posted."""
        late = at >= slot.cutoff
        if row.paused and not late:
            return None  # resuming before the cut-off still posts the day's prompt
        if late:
            status = "paused" if row.paused else "missed"
        else:
            status = "open" if slot.kind == DAILY else "posted"
        key = prompt_key(client.id, slot.day, slot.kind)
        prompt = StandupPrompt(
            client_id=client.id,
            day=slot.day,
            kind=slot.kind,
            status=status,
            due_at=slot.due,
            expected=self._expected(row, client),
            created_at=at,
        )
        session.add(prompt)
        session.flush()
        details: dict[str, Any] = {"kind": slot.kind, "due": slot.due.isoformat()}
        if late:
            action = "standup.paused_day" if row.paused else "standup.missed"
            audit.record(
                session,
                audit.Cause.system(),
                action,
                client_id=client.id,
                subject=key,
                details=details,
                at=at,
            )
            return prompt
        outbox.enqueue(session, key, MESSAGE, {"prompt_id": prompt.id}, client_id=client.id, now=at)
        details["late_seconds"] = int((at - slot.due).total_seconds())
        audit.record(
            session,
            audit.Cause.system(),
            "standup.prompted" if slot.kind == DAILY else "hypercare.review_prompted",
            client_id=client.id,
            subject=key,
            details=details,
            at=at,
        )
        return prompt

    def _settle(
        self,
        session: Session,
        client: Client,
        row: Hypercare,
        care: Care | None,
        calendar: BusinessCalendar,
        prompt: StandupPrompt,
        at: dt.datetime,
    ) -> int:
        """An open stand-up: one reminder at reminder time, then the summary at the cut-off."""
        closes = _closes(row, care, calendar, prompt)
        if at >= closes:
            return self._close(session, client, row, prompt, at)
        remind_at = max(prompt.due_at, prompt.created_at) + reminder_delay(row)
        if (
            prompt.reminded_at is None
            and at >= remind_at
            and remind_at < closes
            and row.status == "active"
            and not row.paused
        ):
            return self._remind(session, client, row, care, calendar, prompt, at)
        return 0

    def _remind(
        self,
        session: Session,
        client: Client,
        row: Hypercare,
        care: Care | None,
        calendar: BusinessCalendar,
        prompt: StandupPrompt,
        at: dt.datetime,
    ) -> int:
        prompt.expected = self._expected(row, client)
        answered = {a.user_id for a in _answers(session, prompt.id)}
        away = _away(session, client.id, prompt.day)
        waiting = [u for u in prompt.expected if u not in answered and u not in away]
        prompt.reminded_at = at
        key = prompt_key(client.id, prompt.day, DAILY)
        closes = _closing_label(row, care)
        for user in waiting:
            message = render_message(
                "standup_reminder", client=client, prompt=prompt, closes=closes
            )
            outbound.enqueue_call(
                session,
                f"{key}:remind:{user}",
                "chat.postMessage",
                {"channel": user, **message},
                client_id=client.id,
                audit_action="standup.reminder_sent",
                audit_details={"user": user},
                not_before=at,
            )
        audit.record(
            session,
            audit.Cause.system(),
            "standup.reminded",
            client_id=client.id,
            subject=key,
            details={"waiting": waiting, "away": sorted(away & set(prompt.expected))},
            at=at,
        )
        return len(waiting)

    def _close(
        self,
        session: Session,
        client: Client,
        row: Hypercare,
        prompt: StandupPrompt,
        at: dt.datetime,
    ) -> int:
        if row.status == "active":
            prompt.expected = self._expected(row, client)
        prompt.status, prompt.closed_at = "closed", at
        answers = _answers(session, prompt.id)
        key = prompt_key(client.id, prompt.day, DAILY)
        outbox.enqueue(
            session,
            f"{key}:summary",
            MESSAGE,
            {"prompt_id": prompt.id},
            client_id=client.id,
            now=at,
        )
        audit.record(
            session,
            audit.Cause.system(),
            "standup.summarised",
            client_id=client.id,
            subject=key,
            details={
                "answered": len(answers),
                "expected": len(prompt.expected),
                "blockers": sum(1 for a in answers if a.blockers),
                "health": _worst(a.health for a in answers),
            },
            at=at,
        )
        return 1

    def _milestones(
        self,
        session: Session,
        client: Client,
        row: Hypercare,
        care: Care,
        calendar: BusinessCalendar,
        at: dt.datetime,
    ) -> int:
        """Say once when every exit criterion holds, and once when the window ends without.

        "Once" is the outbox key, checked under the client's lock before it is written.
        """
        criteria = _criteria(session, client, care)
        held = bool(criteria) and all(status == "passed" for _, _, status in criteria)
        assert row.started_at is not None and row.end_date is not None
        if held and client.channel_id:
            key = f"hypercare:{client.id}:exit-ready:{row.started_at.isoformat()}"
            if _queued(session, key):
                return 0
            message = render_message("hypercare_exit_ready", client=client, care=care)
            outbound.enqueue_call(
                session,
                key,
                "chat.postMessage",
                {"channel": client.channel_id, **message},
                client_id=client.id,
                not_before=at,
            )
            audit.record(
                session,
                audit.Cause.system(),
                "hypercare.exit_ready",
                client_id=client.id,
                subject=key,
                at=at,
            )
            return 1
        if not held and calendar.local_date(at) > row.end_date:
            key = f"hypercare:{client.id}:overrun:{row.started_at.isoformat()}"
            if _queued(session, key):
                return 0
            message = render_message(
                "hypercare_overrun", client=client, care=care, row=row, criteria=criteria
            )
            outbound.enqueue_call(
                session,
                key,
                "chat.postMessage",
                {"channel": client.account_manager, **message},
                client_id=client.id,
                not_before=at,
            )
            audit.record(
                session,
                audit.Cause.system(),
                "hypercare.window_ended",
                client_id=client.id,
                subject=key,
                details={"open": [k for k, _, s in criteria if s != "passed"]},
                at=at,
            )
            return 1
        return 0

    def _expected(self, row: Hypercare, client: Client) -> list[str]:
        if row.responders is not None:
            return list(row.responders)
        return list(dict.fromkeys([client.account_manager, *self.team]))

    # -- BAU service reviews ------------------------------------------------------------------

    def service_reviews(self, at: dt.datetime) -> int:
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
                if _queued(session, key):
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

    # -- answering ----------------------------------------------------------------------------

    def answer_form(
        self, prompt_id: int, channel_id: str | None, user: str, message_ts: str | None = None
    ) -> dict[str, Any]:
        """What the update modal needs, once the click is known to be about an open stand-up
        of the channel it was made in (only the channel's members see the button)."""
        now = self.clock()
        with self.db.transaction() as session:
            prompt, client = self._open_prompt(session, prompt_id, now)
            if channel_id is not None and channel_id != client.channel_id:
                raise NotAllowed("This stand-up belongs to another channel.")
            if prompt.message_ts is None and message_ts:
                prompt.message_ts = message_ts  # its post's answer was lost; Slack says where
            mine = session.scalars(
                select(StandupAnswer).where(
                    StandupAnswer.prompt_id == prompt.id, StandupAnswer.user_id == user
                )
            ).first()
            return {
                "prompt_id": prompt.id,
                "client": client.name,
                "day": prompt.day,
                "answer": mine,
                "max_field": MAX_FIELD,
            }

    def answer(self, prompt_id: int, form: dict[str, Any], cause: audit.Cause) -> StandupAnswer:
        """Record an update and post it in the prompt's thread; Red health or a blocker tells
        the account manager at once."""
        fields = _valid_answer(form)
        now = self.clock()
        with self.db.transaction() as session:
            prompt, client = self._open_prompt(session, prompt_id, now, lock=True)
            if prompt.message_ts is None:
                raise NotFound("The stand-up is still being posted: try again in a minute.")
            mine = session.scalars(
                select(StandupAnswer).where(
                    StandupAnswer.prompt_id == prompt.id, StandupAnswer.user_id == cause.actor
                )
            ).first()
            before = (mine.health, mine.blockers) if mine else None
            if mine is None:
                mine = StandupAnswer(prompt_id=prompt.id, user_id=cause.actor, revision=1)
                session.add(mine)
            else:
                mine.revision += 1
            for name, value in fields.items():
                setattr(mine, name, value)
            mine.answered_at = now
            session.flush()
            key = f"{prompt_key(client.id, prompt.day, DAILY)}:answer:{cause.actor}:{mine.revision}"
            assert client.channel_id is not None
            outbound.enqueue_call(
                session,
                key,
                "chat.postMessage",
                {
                    "channel": client.channel_id,
                    "thread_ts": prompt.message_ts,
                    **render_message("standup_answer", answer=mine),
                },
                client_id=client.id,
                audit_action="standup.answer_posted",
                audit_details={"user": cause.actor, "revision": mine.revision},
                not_before=now,
            )
            outbox.enqueue(
                session,
                f"{key}:refresh",
                MESSAGE,
                {"prompt_id": prompt.id},
                client_id=client.id,
                now=now,
            )
            alarming = mine.health == "red" or bool(mine.blockers)
            changed = before != (mine.health, mine.blockers)  # an edit repeating it stays quiet
            if alarming and changed and cause.actor != client.account_manager:
                message = render_message(
                    "standup_escalation", client=client, prompt=prompt, answer=mine
                )
                outbound.enqueue_call(
                    session,
                    f"{key}:escalate",
                    "chat.postMessage",
                    {"channel": client.account_manager, **message},
                    client_id=client.id,
                    audit_action="standup.escalated",
                    audit_details={"user": cause.actor, "health": mine.health},
                    not_before=now,
                )
            audit.record(
                session,
                cause,
                "standup.answered",
                client_id=client.id,
                subject=prompt_key(client.id, prompt.day, DAILY),
                details={
                    "health": mine.health,
                    "blockers": bool(mine.blockers),
                    "revision": mine.revision,
                },
                at=now,
            )
        self.wake()
        return mine

    def _open_prompt(
        self, session: Session, prompt_id: int, now: dt.datetime, *, lock: bool = False
    ) -> tuple[StandupPrompt, Client]:
        query = select(StandupPrompt).where(StandupPrompt.id == prompt_id)
        prompt = session.scalars(query.with_for_update() if lock else query).first()
        if prompt is None or prompt.kind != DAILY:
            raise NotFound("That stand-up no longer exists.")
        client = _client(session, prompt.client_id)
        row = session.scalars(select(Hypercare).where(Hypercare.client_id == client.id)).one()
        care = self._care(client)
        if prompt.status != "open" or now >= _closes(row, care, _calendar(session, client), prompt):
            raise NotAllowed(
                f"The stand-up of {prompt.day:%A %-d %B} closed at {_closing_label(row, care)}: "
                "reply in its thread instead."
            )
        return prompt, client

    # -- settings -----------------------------------------------------------------------------

    def _setup(
        self, session: Session, channel_id: str | None, reference: str = "", *, create: bool
    ) -> tuple[Client, Care, Hypercare]:
        client = find_client(session, reference, channel_id)
        care = self._care(client)
        if care is None:
            raise NotFound(f"{client.name}'s playbook has no hypercare stage.")
        row = _locked(session, client.id)
        if row is None:
            if create:
                row = _create(session, client.id, self.clock())
            else:  # reading: show the defaults without writing anything
                row = Hypercare(client_id=client.id, status="pending", paused=False)
        return client, care, row

    def _change(
        self, channel_id: str | None, cause: audit.Cause, action: str, change: Change
    ) -> Client:
        now = self.clock()
        with self.db.transaction() as session:
            client, care, row = self._setup(session, channel_id, create=True)
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
            chosen.extend(self._expected(row, client))
            for prompt in session.scalars(
                select(StandupPrompt).where(
                    StandupPrompt.client_id == client.id, StandupPrompt.status == "open"
                )
            ):
                prompt.expected = list(chosen)
                _refresh(session, client, prompt, f"who:{self.clock().isoformat()}", self.clock())
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
            return {"day": day.isoformat(), "reason": reason}

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
        def change(
            session: Session, client: Client, care: Care, row: Hypercare, today: dt.date
        ) -> dict[str, Any]:
            row.sdm = user
            return {"sdm": user}

        return self._change(channel_id, cause, "bau.sdm_set", change)

    # -- reading ------------------------------------------------------------------------------

    def status(self, reference: str, channel_id: str | None) -> Status:
        now = self.clock()
        with self.db.transaction() as session:
            client, care, row = self._setup(session, channel_id, reference, create=False)
            calendar = _calendar(session, client)
            today = calendar.local_date(now)
            upcoming: list[tuple[Slot, dt.datetime]] = []
            if row.status == "active":
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
                standup_time=standup_time(row, care.rules),
                cutoff=cutoff_time(row),
                reminder_minutes=int(reminder_delay(row).total_seconds() // 60),
                responders=self._expected(row, client),
                default_responders=row.responders is None,
                upcoming=upcoming,
                days_off=days_off,
                away=away,
                criteria=_criteria(session, client, care),
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
            client, care, row = self._setup(session, channel_id, reference, create=False)
            today = calendar_for(client).local_date(now)
            first = first or row.start_date or today
            last = last or (min(today, row.end_date) if row.end_date else today)
            if last < first:
                raise InvalidInput({"dates": "The end of the range comes before its start."})
            if (last - first).days > 366:
                raise InvalidInput({"dates": "Ask for at most a year at a time."})
            lines = _lines(session, client.id, first, last)
            return Report(client, first, last, lines, _criteria(session, client, care))

    def view(self, session: Session, prompt: StandupPrompt) -> PromptView:
        """What a prompt's message shows now: the open prompt, its summary, or a review."""
        client = _client(session, prompt.client_id)
        row = session.scalars(select(Hypercare).where(Hypercare.client_id == client.id)).one()
        care = self._care(client)
        calendar = _calendar(session, client)
        answers = _answers(session, prompt.id)
        away = _away(session, client.id, prompt.day)
        answered = {a.user_id for a in answers}
        start = row.start_date or prompt.day
        recent = [
            line
            for line in _lines(session, client.id, prompt.day - dt.timedelta(days=31), prompt.day)
            if line.kind == DAILY
        ]
        week = [line for line in recent if line.day > prompt.day - dt.timedelta(days=7)]
        return PromptView(
            client=client,
            prompt=prompt,
            due_local=prompt.due_at.astimezone(calendar.zone).time(),
            closes_at=_closing_label(row, care),
            hypercare_day=(prompt.day - start).days + 1,
            hypercare_days=care.rules.days if care else 0,
            end_date=row.end_date or prompt.day,
            closed=prompt.status != "open",
            answers=answers,
            waiting=[u for u in prompt.expected if u not in answered and u not in away],
            away=sorted(away & set(prompt.expected)),
            trend=recent[-TREND_DAYS:],
            week=week if prompt.kind == WEEKLY else [],
            criteria=_criteria(session, client, care) if care else [],
            week_number=(prompt.day - start).days // 7 + 1,
        )


# -- the prompt's live message ----------------------------------------------------------------


def prompt_key(client_id: int, day: dt.date, kind: str) -> str:
    """The idempotency key of a day's prompt: the one post that day, whoever sweeps."""
    prefix = "standup" if kind == DAILY else "weekly-review"
    return f"{prefix}:{client_id}:{day.isoformat()}"


def make_executor(
    db: Database, service: Standups
) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    """Posts a prompt once, then updates it in place: answers so far, then the summary."""

    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        prompt = session.get_one(StandupPrompt, payload["prompt_id"])
        view = service.view(session, prompt)
        assert view.client.channel_id is not None
        return live_messages.Shown(
            view.client.channel_id,
            prompt.message_ts,
            render_message("standup_prompt", v=view),
            prompt_key(prompt.client_id, prompt.day, prompt.kind),
        )

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        prompt = session.get_one(StandupPrompt, payload["prompt_id"])
        prompt.message_ts = ts
        audit.record(
            session,
            audit.Cause.system(),
            "standup.posted" if prompt.kind == DAILY else "hypercare.review_posted",
            client_id=prompt.client_id,
            subject=prompt_key(prompt.client_id, prompt.day, prompt.kind),
            details={"ts": ts},
        )

    send = live_messages.make_executor(db, load, remember)

    def paced(gateway: SlackGateway, row: OutboxMessage) -> Outcome:
        attempt: Any = row
        if row.attempts == 2 and row.last_error in NEVER_SENT:
            # The one earlier attempt provably posted nothing (a 429, or the pacer held it):
            # no need to search the channel's history (a Tier 3 call) before posting, as a
            # retry after a lost answer must. With more attempts an earlier one may have posted.
            attempt = _FirstAttempt(row.payload)
        return send(PacedGateway(gateway, service.pacer), attempt)

    return paced


@dataclass(frozen=True)
class _FirstAttempt:
    """What the live-message executor reads of a row, for a retry that can skip the search."""

    payload: dict[str, Any]
    attempts: int = 1


# -- helpers ----------------------------------------------------------------------------------


def calendar_for(client: Client, days_off: Iterable[dt.date] = ()) -> BusinessCalendar:
    return BusinessCalendar(client.timezone, client.country, days_off)


def _calendar(session: Session, client: Client) -> BusinessCalendar:
    """The client's calendar with its stand-up days off."""
    days_off = session.scalars(
        select(StandupDayOff.day).where(StandupDayOff.client_id == client.id)
    ).all()
    return calendar_for(client, days_off)


def _closes(
    row: Hypercare, care: Care | None, calendar: BusinessCalendar, prompt: StandupPrompt
) -> dt.datetime:
    rules = care.rules if care else None
    closes = cutoff_of(calendar, prompt.day, standup_time(row, rules), cutoff_time(row))
    # A stand-up moved later after it was posted still stays open a while.
    return max(closes, prompt.due_at + dt.timedelta(minutes=1))


def _closing_label(row: Hypercare, care: Care | None) -> str:
    cut = cutoff_time(row)
    return f"{cut:%H:%M}" if cut > standup_time(row, care.rules if care else None) else "midnight"


def _client(session: Session, client_id: int) -> Client:
    """The client without its playbook snapshot, read only on the rare first use (`_care`):
    decoding tens of kilobytes of JSON per prompt was most of a burst's database time."""
    return session.get_one(Client, client_id, options=[defer(Client.playbook)])


def _queued(session: Session, key: str) -> bool:
    """Whether a send with this key is in the outbox already. Asked rather than trusting what
    `outbox.enqueue` returns: on PostgreSQL (psycopg 3) its rowcount is -1, so it says False."""
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None


def _locked(session: Session, client_id: int) -> Hypercare | None:
    return session.scalars(
        select(Hypercare).where(Hypercare.client_id == client_id).with_for_update()
    ).first()


def _create(session: Session, client_id: int, at: dt.datetime) -> Hypercare:
    """The client's hypercare row, created once even when two schedulers race to it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Hypercare)
        .values(client_id=client_id, status="pending", paused=False, created_at=at)
        .on_conflict_do_nothing(index_elements=["client_id"])
    )
    row = _locked(session, client_id)
    assert row is not None
    return row


def _answers(session: Session, prompt_id: int) -> list[StandupAnswer]:
    return list(
        session.scalars(
            select(StandupAnswer)
            .where(StandupAnswer.prompt_id == prompt_id)
            .order_by(StandupAnswer.answered_at, StandupAnswer.id)
        )
    )


def _away(session: Session, client_id: int, day: dt.date) -> set[str]:
    return set(
        session.scalars(
            select(StandupAway.user_id).where(
                StandupAway.client_id == client_id,
                StandupAway.first_day <= day,
                StandupAway.last_day >= day,
            )
        )
    )


def _criteria(session: Session, client: Client, care: Care) -> list[tuple[str, str, str]]:
    states = {
        g.gate_key: g.status
        for g in session.scalars(select(GateState).where(GateState.client_id == client.id))
    }
    return [(key, name, states.get(key, "open")) for key, name in care.criteria]


def _worst(healths: Iterable[str]) -> str | None:
    ranked = [h for h in healths if h in HEALTH]
    return max(ranked, key=HEALTH.index) if ranked else None


def _lines(session: Session, client_id: int, first: dt.date, last: dt.date) -> list[DayLine]:
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
    lines = [
        DayLine(
            p.day,
            p.kind,
            p.status,
            answered=len(answers.get(p.id, [])),
            expected=len(p.expected),
            blockers=sum(1 for a in answers.get(p.id, []) if a.blockers),
            health=_worst(a.health for a in answers.get(p.id, [])),
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


def _valid_answer(form: dict[str, Any]) -> dict[str, Any]:
    """The modal's fields, cleaned; each problem named under its own field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "yesterday": str(form.get("yesterday") or "").strip(),
        "today": str(form.get("today") or "").strip(),
        "blockers": str(form.get("blockers") or "").strip() or None,
        "health": str(form.get("health") or ""),
    }
    if not values["yesterday"]:
        errors["yesterday"] = "Say what you did since the last stand-up."
    if not values["today"]:
        errors["today"] = "Say what you will do today."
    for name in ("yesterday", "today", "blockers"):
        if values[name] and len(values[name]) > MAX_FIELD:
            errors[name] = f"Keep it under {MAX_FIELD:,} characters."
    if values["health"] not in HEALTH:
        errors["health"] = "Choose Green, Amber or Red."
    if errors:
        raise InvalidInput(errors)
    return values


def _refresh(
    session: Session, client: Client, prompt: StandupPrompt, reason: str, now: dt.datetime
) -> None:
    outbox.enqueue(
        session,
        f"{prompt_key(client.id, prompt.day, prompt.kind)}:{reason}",
        MESSAGE,
        {"prompt_id": prompt.id},
        client_id=client.id,
        now=now,
    )
