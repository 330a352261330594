"""What the intake says on its own: its channel message, the reviewer's summary, the reminders.

The messages are live (posted once, then updated); the intake is posted when its stage begins,
and the reminder sweep nudges the channel, then the primary contact, then the account manager.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, event, exists, inspect, or_, select
from sqlalchemy.orm import Session

from onboard.bot import live_messages, outbound
from onboard.bot.active_clients import each_active_client
from onboard.bot.delivery import Outcome
from onboard.bot.erasure import was_erased
from onboard.bot.gateway import SlackCallError, SlackGateway
from onboard.bot.intake_state import (
    OPEN,
    answers_of,
    missing_required,
    open_intake,
    questionnaire_of,
    refresh_review,
    sections,
)
from onboard.bot.journey import calendar_of, playbook_of
from onboard.messages.render import render_message
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, GateState, Intake, OutboxMessage

Executor = Callable[[SlackGateway, OutboxMessage], Outcome]
_ENTERED = "intake.stage_entries"
_QUEUED = "intake.queued"


# -- live messages --------------------------------------------------------------------------------


def _context(session: Session, intake: Intake, client: Client) -> dict[str, Any]:
    questionnaire = questionnaire_of(client)
    answers = answers_of(session, intake.id)
    return {
        "client": client,
        "intake": intake,
        "questionnaire": questionnaire,
        "sections": sections(questionnaire, answers),
        "answered": len(answers),
        "total": len(questionnaire.questions()),
        "missing": len(missing_required(questionnaire, answers)),
    }


def message_executor(db: Database) -> Executor:
    """The intake message in the client channel: what is asked, progress, the button."""

    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        intake = session.get_one(Intake, payload["intake_id"])
        client = session.get_one(Client, intake.client_id)
        assert client.channel_id is not None  # an intake is opened once the channel exists
        message = render_message("intake_message", **_context(session, intake, client))
        key = f"intake:{intake.id}:post:{intake.posts}"
        return live_messages.Shown(client.channel_id, intake.message_ts, message, key)

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        intake = session.get_one(Intake, payload["intake_id"])
        intake.message_ts = ts
        audit.record(
            session,
            audit.Cause.system(),
            "intake.posted",
            client_id=intake.client_id,
            subject=f"intake:{intake.id}",
            details={"ts": ts, "post": intake.posts},
        )

    return live_messages.make_executor(db, load, remember)


def review_executor(db: Database, gateway: SlackGateway) -> Executor:
    """The summary in the account manager's DM, with Mark data verified / Ask for changes."""

    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        intake = session.get_one(Intake, payload["intake_id"])
        client = session.get_one(Client, intake.client_id)
        if intake.review_channel is None:
            # chat.update needs the DM's channel ID, which only conversations.open tells.
            opened = gateway.call("conversations.open", users=client.account_manager)
            intake.review_channel = opened["channel"]["id"]
        message = render_message("intake_summary", **_context(session, intake, client))
        submitted = intake.submitted_at or intake.created_at
        # One summary per submission: a resubmission within the same second is a new one.
        key = f"intake:{intake.id}:review:{submitted.isoformat()}"
        return live_messages.Shown(intake.review_channel, intake.review_ts, message, key)

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        intake = session.get_one(Intake, payload["intake_id"])
        intake.review_ts = ts

    return live_messages.make_executor(db, load, remember)


# -- posting when the stage begins ----------------------------------------------------------------


def watch_stage_entries(
    db: Database, clock: Callable[[], dt.datetime], wake: Callable[[], None]
) -> None:
    """Post the intake in the same transaction that enters its stage (or creates the channel).

    The journey enters stages in several places (advance, back, a gate's loop, the first stage
    once the channel exists); watching the client row catches all of them without the journey
    knowing about intake. The sweep posts any intake this missed.
    """
    # The sessionmaker of this bot's database only: another bot in the process (tests) has its own.
    sessions = db._sessions

    @event.listens_for(sessions, "before_flush")
    def notice(session: Session, _context: Any, _instances: Any) -> None:
        for obj in (*session.new, *session.dirty):
            if not isinstance(obj, Client) or obj.id is None:
                continue
            state = inspect(obj)
            if any(
                state.attrs[name].history.has_changes()
                for name in ("stage_key", "stage_entered_at", "channel_id")
            ):
                session.info.setdefault(_ENTERED, set()).add(obj.id)

    # insert=True: before the audit chain's append (storage/audit.py), which must come last,
    # once every row the transaction changes is written.
    @event.listens_for(sessions, "before_commit", insert=True)
    def post(session: Session) -> None:
        # Here, not in the flush: after the caller's own messages (the welcome comes first).
        session.flush()  # a stage entered and not yet written is noticed (before_flush above)
        for client_id in sorted(session.info.pop(_ENTERED, ())):
            client = session.get(Client, client_id)
            if client is not None and stage_begins(session, client, clock()):
                session.info[_QUEUED] = True

    @event.listens_for(sessions, "after_commit")
    def deliver(session: Session) -> None:
        if session.info.pop(_QUEUED, False):
            wake()

    @event.listens_for(sessions, "after_rollback")
    def forget(session: Session) -> None:
        session.info.pop(_ENTERED, None)
        session.info.pop(_QUEUED, None)


def stage_begins(session: Session, client: Client, now: dt.datetime) -> bool:
    """Post the intake if `client` has just entered (or re-entered) its intake stage."""
    questionnaire = playbook_of(client).intake
    if (
        questionnaire is None
        or client.stage_key != questionnaire.stage
        or client.status != "active"
        or client.channel_id is None
        # An erased client's intake is closed for good: nothing to post, nothing to ask.
        or session.scalar(select(was_erased(client.id)))
    ):
        return False
    intake = session.scalars(select(Intake).where(Intake.client_id == client.id)).first()
    if intake is not None and intake.message_ts is None and intake.posts:
        return False  # posted in this very transaction, or still on its way
    if intake is not None and intake.status == "verified":
        # Back in the stage, its gate is open again: the same answers go back for review.
        intake.status, intake.review_ts, intake.review_channel = "submitted", None, None
        intake.submitted_at = now
        audit.record(
            session,
            audit.Cause.system(),
            "intake.review_again",
            client_id=client.id,
            subject=f"intake:{intake.id}",
            at=now,
        )
        refresh_review(session, intake, "again")
    open_intake(session, client, now)
    return True


# -- reminders ------------------------------------------------------------------------------------


def sweep(db: Database, gateway: SlackGateway, at: dt.datetime, *, reminder_hour: int = 9) -> int:
    """Post intakes their stage is waiting for, then remind unfinished ones; keyed, capped."""

    def sweep_client(session: Session, client: Client) -> int:
        queued = 0
        if stage_begins_missed(session, client):
            queued += int(stage_begins(session, client, at))
        for intake in session.scalars(
            select(Intake)
            .where(Intake.client_id == client.id, Intake.status.in_(OPEN))
            .order_by(Intake.id)
        ).all():
            queued += _remind(session, gateway, intake, client, at, reminder_hour)
        return queued

    # The clients in the stage their playbook's intake belongs to, its gate not passed (the
    # team may pass it on details taken on a call), with an intake open or none yet
    # (stage_begins_missed). An erased client's intake is closed, and each_active_client
    # lists no erased client.
    mine = Intake.client_id == Client.id
    intake_stage = Client.playbook[("intake", "stage")].as_string()
    intake_gate = Client.playbook[("intake", "gate")].as_string()
    gate_passed = exists().where(
        GateState.client_id == Client.id,
        GateState.gate_key == intake_gate,
        GateState.status == "passed",
    )
    awaited = and_(
        intake_stage == Client.stage_key,
        ~gate_passed,
        or_(exists().where(mine, Intake.status.in_(OPEN)), ~exists().where(mine)),
    )
    return each_active_client(db, sweep_client, where=awaited)


def stage_begins_missed(session: Session, client: Client) -> bool:
    questionnaire = playbook_of(client).intake
    if questionnaire is None or client.stage_key != questionnaire.stage:
        return False
    return session.scalar(select(Intake.id).where(Intake.client_id == client.id)) is None


def _remind(
    session: Session,
    gateway: SlackGateway,
    intake: Intake,
    client: Client,
    at: dt.datetime,
    reminder_hour: int,
) -> int:
    calendar = calendar_of(client)
    today = calendar.local_date(at)
    if client.reminders_muted_until and today <= client.reminders_muted_until:
        return 0
    if not calendar.is_business_day(today) or at < calendar.at_local_time(
        today, dt.time(reminder_hour)
    ):
        return 0
    if intake.reminded_on == today:
        return 0
    rules = questionnaire_of(client).reminders
    sent = intake.reminders_sent
    if sent >= rules.max_reminders:
        return 0
    ladder = (
        rules.channel_after_business_days,
        rules.dm_after_business_days,
        rules.support_call_after_business_days,
    )
    due_after = ladder[sent] if sent < 3 else ladder[2] + (sent - 2) * rules.every_business_days
    waited = calendar.business_days_between(calendar.local_date(intake.active_at), today)
    if waited < due_after:
        return 0
    kind = ("channel", "dm", "support")[sent] if sent < 3 else "channel"
    target = client.channel_id
    if kind == "dm":
        target = _primary_user(client, gateway) or client.channel_id  # no Slack account: channel
    elif kind == "support":
        target = client.account_manager
    answers = answers_of(session, intake.id)
    questionnaire = questionnaire_of(client)
    message = render_message(
        "intake_reminder",
        client=client,
        intake=intake,
        questionnaire=questionnaire,
        kind=kind,
        waited=waited,
        missing=len(missing_required(questionnaire, answers)),
        number=sent + 1,
        last=sent + 1 == rules.max_reminders,
    )
    added = outbound.enqueue_call(
        session,
        f"intake:{intake.id}:reminder:{intake.posts}:{sent + 1}:{intake.active_at.isoformat()}",
        "chat.postMessage",
        {"channel": target, **message},
        client_id=client.id,
        audit_action=f"intake.reminded_{kind}",
        audit_details={"reminder": sent + 1, "business_days": waited},
    )
    if added:
        intake.reminders_sent, intake.reminded_on = sent + 1, today
    return int(added)


def _primary_user(client: Client, gateway: SlackGateway) -> str | None:
    contact = next((c for c in client.contacts if c.role == "primary"), None)
    if contact is None:
        return None
    if contact.slack_user_id is None and contact.email:
        try:
            contact.slack_user_id = gateway.call("users.lookupByEmail", email=contact.email)[
                "user"
            ]["id"]
        except SlackCallError:
            return None
    return contact.slack_user_id
