"""A stand-up's live message: posted once, then updated in place with answers, then the summary.

The outbox operation `MESSAGE` carries only the prompt's ID; what it shows is read at send time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import live_messages
from onboard.bot.delivery import Outcome
from onboard.bot.gateway import SlackGateway
from onboard.bot.standups import records
from onboard.bot.standups.care import Cares
from onboard.bot.standups.pacing import PacedGateway
from onboard.bot.standups.reports import DayLine, asked, day_lines
from onboard.bot.standups.schedule import DAILY, WEEKLY, closing_label
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import Client, Hypercare, OutboxMessage, StandupAnswer, StandupPrompt

if TYPE_CHECKING:
    from onboard.bot.standups.service import Standups

MESSAGE = "standup.message"  # outbox operation: a prompt posted once, then updated in place
TREND_DAYS = 5  # stand-ups in a summary's health trend


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
    asked: int  # the responders, less those away who did not answer anyway
    trend: list[DayLine]
    week: list[DayLine]  # a weekly review: the week's stand-ups
    criteria: list[tuple[str, str, str]]  # (key, name, status)
    week_number: int

    @property
    def counted(self) -> list[StandupAnswer]:
        """The answers of people still asked (one taken off the responders may have answered)."""
        return [a for a in self.answers if a.user_id in self.prompt.expected]

    @property
    def blockers(self) -> list[StandupAnswer]:
        return [a for a in self.answers if a.blockers]

    @property
    def criteria_met(self) -> int:
        return sum(1 for _, _, status in self.criteria if status == "passed")


def prompt_view(session: Session, cares: Cares, prompt: StandupPrompt) -> PromptView:
    """What a prompt's message shows now: the open prompt, its summary, or a review."""
    client = records.client(session, prompt.client_id)
    row = session.scalars(select(Hypercare).where(Hypercare.client_id == client.id)).one()
    care = cares.of(client)
    calendar = records.calendar_with_days_off(session, client)
    answers = records.answers(session, prompt.id)
    away = records.away(session, client.id, prompt.day)
    answered = {a.user_id for a in answers}
    start = row.start_date or prompt.day
    recent = [
        line
        for line in day_lines(session, client.id, prompt.day - dt.timedelta(days=31), prompt.day)
        if line.kind == DAILY
    ]
    week = [line for line in recent if line.day > prompt.day - dt.timedelta(days=7)]
    return PromptView(
        client=client,
        prompt=prompt,
        due_local=prompt.due_at.astimezone(calendar.zone).time(),
        closes_at=closing_label(row, care),
        hypercare_day=(prompt.day - start).days + 1,
        hypercare_days=care.rules.days if care else 0,
        end_date=row.end_date or prompt.day,
        closed=prompt.status != "open",
        answers=answers,
        waiting=[u for u in prompt.expected if u not in answered and u not in away],
        away=sorted(away & set(prompt.expected)),
        asked=asked(prompt.expected, answered, away),
        trend=recent[-TREND_DAYS:],
        week=week if prompt.kind == WEEKLY else [],
        criteria=records.criteria(session, client, care) if care else [],
        week_number=(prompt.day - start).days // 7 + 1,
    )


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
        # A post the pacer held or Slack refused with a 429 posted nothing: live_messages
        # forgets its first-post key, so the retry posts without searching the channel.
        return send(PacedGateway(gateway, service.pacer), row)

    return paced


def refresh(
    session: Session, client: Client, prompt: StandupPrompt, reason: str, now: dt.datetime
) -> None:
    """Update the prompt's message once for this `reason` (the reason makes the key)."""
    outbox.enqueue(
        session,
        f"{prompt_key(client.id, prompt.day, prompt.kind)}:{reason}",
        MESSAGE,
        {"prompt_id": prompt.id},
        client_id=client.id,
        now=now,
    )
