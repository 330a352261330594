"""Client satisfaction: a 0–10 survey to the client's approvers at completion and in hypercare.

Only that client's approvers answer; one answer each, changeable until the survey closes.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onboard.bot import live_messages, outbound
from onboard.bot.active_clients import each_active_client, erased, working_hours_began
from onboard.bot.delivery import Outcome
from onboard.bot.errors import InvalidInput, NotAllowed, NotFound
from onboard.bot.gateway import SlackGateway
from onboard.bot.journey import calendar_of, find_client, playbook_of, refresh_card, set_gate
from onboard.bot.playbooks import Hypercare
from onboard.messages.render import Mrkdwn, render_message
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import Approver, Client, OutboxMessage, Survey, SurveyAnswer

MESSAGE = "survey.message"
OPEN_FOR = dt.timedelta(days=14)
LOW_SCORE = 6  # 0–6 are detractors: the account manager hears at once


def open_survey(session: Session, client: Client, occasion: str, now: dt.datetime) -> bool:
    """Post a survey for `occasion` once per client; False when it exists already, or when
    the client's data was erased (its people asked to hear no more)."""
    if erased(session, client.id):
        return False
    if session.scalars(
        select(Survey).where(Survey.client_id == client.id, Survey.occasion == occasion)
    ).first():
        return False
    survey = Survey(client_id=client.id, occasion=occasion, opened_at=now, closes_at=now + OPEN_FOR)
    session.add(survey)
    session.flush()
    audit.record(
        session,
        audit.Cause.system(),
        "survey.opened",
        client_id=client.id,
        subject=f"survey:{survey.id}",
        details={"occasion": occasion},
        at=now,
    )
    _refresh(session, survey, "posted")
    return True


@dataclass(frozen=True)
class Answered:
    """What the approver is told, and their comment as it now stands."""

    text: str
    comment: str | None


class Surveys:
    def __init__(
        self, db: Database, clock: Callable[[], dt.datetime], wake: Callable[[], None]
    ) -> None:
        self.db = db
        self.clock = clock
        self.wake = wake

    def post(self, channel_id: str | None, occasion: str, cause: audit.Cause) -> bool:
        """`/onboard survey`: the team asks for the hypercare survey when they are ready."""
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            if erased(session, client.id):
                raise NotAllowed("This client's data was erased: it is sent no more surveys.")
            if _satisfaction_gate(client) is None:
                # One hypercare survey per client: asked now, it would be spent before the
                # stage whose exit gate it decides.
                raise NotAllowed(
                    "The hypercare survey opens in the stage whose exit it decides: ask again "
                    "once the client is in hypercare."
                )
            posted = open_survey(session, client, occasion, self.clock())
        self.wake()
        return posted

    def check_can_answer(self, survey_id: int, user: str) -> None:
        with self.db.transaction() as session:
            survey = _survey(session, survey_id)
            _refusal(session, survey, user, self.clock())

    def answer(
        self, survey_id: int, score: int, comment: str | None, cause: audit.Cause
    ) -> Answered:
        """Record `cause.actor`'s score (and comment, unless None: the comment kept as it was)."""
        if not 0 <= score <= 10:
            raise InvalidInput({"score": "Choose a score from 0 to 10."})
        if comment is not None and len(comment) > 3000:
            raise InvalidInput({"comment": "Keep the comment under 3,000 characters."})
        now = self.clock()
        for _ in range(2):  # a concurrent first answer by the same person: update it instead
            try:
                with self.db.transaction() as session:
                    answered = self._record(session, survey_id, score, comment, cause, now)
                self.wake()
                return answered
            except IntegrityError:
                continue
        raise InvalidInput({"score": "Your answer could not be saved: try again."})

    def _record(
        self,
        session: Session,
        survey_id: int,
        score: int,
        comment: str | None,
        cause: audit.Cause,
        now: dt.datetime,
    ) -> Answered:
        survey = _survey(session, survey_id, lock=True)
        _refusal(session, survey, cause.actor, now)
        answer = session.scalars(
            select(SurveyAnswer).where(
                SurveyAnswer.survey_id == survey.id, SurveyAnswer.user_id == cause.actor
            )
        ).first()
        changed = answer is not None
        before = answer.score if answer is not None else None
        if answer is None:
            answer = SurveyAnswer(
                survey_id=survey.id, user_id=cause.actor, score=score, answered_at=now
            )
            session.add(answer)
        answer.score, answer.answered_at = score, now
        if comment is not None:
            answer.comment = comment.strip() or None
        session.flush()
        client = session.get_one(Client, survey.client_id)
        audit.record(
            session,
            cause,
            "survey.changed" if changed else "survey.answered",
            client_id=client.id,
            subject=f"survey:{survey.id}",
            details={"score": score, "has_comment": bool(answer.comment)},
            at=now,
        )
        if score <= LOW_SCORE and score != before:  # a comment added to it stays quiet
            message = render_message("survey_low", client=client, score=score, who=cause.actor)
            outbound.enqueue_call(
                session,
                f"survey:{survey.id}:low:{cause.actor}:{now.isoformat()}",
                "chat.postMessage",
                {"channel": client.account_manager, **message},
                client_id=client.id,
                audit_action="survey.low_score_alerted",
            )
        self._maybe_pass_gate(session, survey, client, now)
        _refresh(session, survey, f"answer:{answer.id}:{now.isoformat()}")
        return Answered(
            f"Thank you: you gave {score}/10. You can change it until the survey closes.",
            answer.comment,
        )

    def _maybe_pass_gate(
        self, session: Session, survey: Survey, client: Client, now: dt.datetime
    ) -> None:
        if survey.occasion != "hypercare":
            return
        hypercare = _satisfaction_gate(client)
        if hypercare is None or hypercare.satisfaction_gate is None:
            return
        average = _average(session, survey)
        if average is not None:
            passed = average >= hypercare.satisfaction_target
            set_gate(
                session,
                client,
                hypercare.satisfaction_gate,
                passed,
                audit.Cause.system(),
                now,
                note=f"survey average {average:.1f}/10",
            )
            refresh_card(session, client, f"survey:{survey.id}:{now.isoformat()}")


def satisfaction(session: Session, since: dt.datetime, until: dt.datetime) -> tuple[float, int]:
    """Average score and number of answers given in [since, until)."""
    scores = list(
        session.scalars(
            select(SurveyAnswer.score).where(
                SurveyAnswer.answered_at >= since, SurveyAnswer.answered_at < until
            )
        )
    )
    return (round(statistics.fmean(scores), 1), len(scores)) if scores else (0.0, 0)


def _average(session: Session, survey: Survey) -> float | None:
    """The survey's average over the client's approvers as they are now: a score given by
    someone the team has since removed no longer decides the gate."""
    scores = list(
        session.scalars(
            select(SurveyAnswer.score)
            .join(
                Approver,
                (Approver.user_id == SurveyAnswer.user_id)
                & (Approver.client_id == survey.client_id),
            )
            .where(SurveyAnswer.survey_id == survey.id)
        )
    )
    return statistics.fmean(scores) if scores else None


def _satisfaction_gate(client: Client) -> Hypercare | None:
    """The current stage's hypercare rules, when its exit depends on the survey."""
    stage = playbook_of(client).stage(client.stage_key)
    hypercare = stage.automation.hypercare if stage.automation else None
    return hypercare if hypercare is not None and hypercare.satisfaction_gate else None


def _survey(session: Session, survey_id: int, *, lock: bool = False) -> Survey:
    query = select(Survey).where(Survey.id == survey_id)
    survey = session.scalars(query.with_for_update() if lock else query).first()
    if survey is None:
        raise NotFound("This survey no longer exists.")
    return survey


def _refusal(session: Session, survey: Survey, user: str, now: dt.datetime) -> None:
    if now >= survey.closes_at:
        raise NotAllowed("This survey has closed. Thank you all the same!")
    approvers = set(
        session.scalars(select(Approver.user_id).where(Approver.client_id == survey.client_id))
    )
    if user not in approvers:
        raise NotAllowed(Mrkdwn("This survey is for the client's approvers."))


def _refresh(session: Session, survey: Survey, reason: str) -> None:
    outbox.enqueue(
        session,
        f"survey:{survey.id}:{reason}",
        MESSAGE,
        {"survey_id": survey.id},
        client_id=survey.client_id,
    )


def make_executor(
    db: Database, clock: Callable[[], dt.datetime]
) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        survey = _survey(session, payload["survey_id"])
        client = session.get_one(Client, survey.client_id)
        answers = list(
            session.scalars(select(SurveyAnswer).where(SurveyAnswer.survey_id == survey.id))
        )
        message = render_message(
            "survey",
            client=client,
            survey=survey,
            answered=len(answers),
            closed=clock() >= survey.closes_at,
        )
        assert client.channel_id is not None
        return live_messages.Shown(
            client.channel_id, survey.message_ts, message, f"survey:{survey.id}"
        )

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        session.get_one(Survey, payload["survey_id"]).message_ts = ts

    return live_messages.make_executor(db, load, remember)


def hypercare_sweep(
    db: Database,
    at: dt.datetime,
    surveyed_stages: Callable[[Client], frozenset[str]],
    *,
    reminder_hour: int = 9,
) -> int:
    """Open the hypercare survey in the window's last week, so its score can pass the exit:
    on the client's first business day from the week's first day, once its `reminder_hour`
    has come (as the task reminders do), never on its weekend or at night.

    `surveyed_stages(client)`: the stages whose hypercare has a satisfaction gate (the
    stand-ups' `Cares`, which reads each client's playbook once per process), so that the sweep
    visits only the clients in one."""

    def open_if_due(session: Session, client: Client) -> int:
        stage = next(s for s in playbook_of(client).stages if s.key == client.stage_key)
        hypercare = stage.automation.hypercare if stage.automation else None
        if hypercare is None or hypercare.satisfaction_gate is None:
            return 0
        calendar = calendar_of(client)
        entered = calendar.local_date(client.stage_entered_at or client.created_at)
        due = calendar.roll_forward(entered + dt.timedelta(days=max(0, hypercare.days - 7)))
        if calendar.local_date(at) < due or not working_hours_began(calendar, at, reminder_hour):
            return 0
        return int(open_survey(session, client, "hypercare", at))

    def wanted(client: Client) -> bool:  # the list's client: its playbook is not loaded
        in_hours = working_hours_began(calendar_of(client), at, reminder_hour)
        return in_hours and client.stage_key in surveyed_stages(client)

    unasked = ~exists().where(Survey.client_id == Client.id, Survey.occasion == "hypercare")
    return each_active_client(db, open_if_due, where=unasked, wanted=wanted)
