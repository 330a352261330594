"""Typed SQLAlchemy models of what the bot keeps: clients, contacts, the audit chain, the outbox.

Personal data (names, emails) lives in `contacts`, never in the audit chain, so it can be erased.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CLAIMANT_LENGTH = 64  # `claimed_by` of the outbox and the inbox


def claimant(owner: object) -> str:
    """The `claimed_by` of rows `owner` (an outbox worker, an inbox) claims: host, process and
    object, the host name cut to fit (one may be 64 characters long by itself)."""
    tail = f":{os.getpid()}:{id(owner):x}"
    return socket.gethostname()[: CLAIMANT_LENGTH - len(tail)] + tail


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC and hands back aware UTC, the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Client(Base):
    """A client being onboarded: its journey, its channel, its playbook snapshot."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    # An ISO 3166 country ("GB") or, where holidays differ by region, a subdivision ("GB-ENG").
    country: Mapped[str] = mapped_column(String(10))
    go_live: Mapped[dt.date] = mapped_column(Date)
    playbook_key: Mapped[str] = mapped_column(String(80))
    # The playbook as it was when the client was created: later edits never rewrite history.
    playbook: Mapped[dict[str, Any]] = mapped_column(JSON)
    stage_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="setting_up")
    channel_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel_name: Mapped[str | None] = mapped_column(String(80))
    stage_entered_at: Mapped[dt.datetime | None]
    card_ts: Mapped[str | None] = mapped_column(String(32))  # the pinned journey card
    reminders_muted_until: Mapped[dt.date | None] = mapped_column(Date)
    completed_at: Mapped[dt.datetime | None]
    account_manager: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]

    # Loaded when read, in the session: most loads of a client (a click's decision, a card's
    # refresh) never read its contacts, and an eager load cost each of them a query.
    contacts: Mapped[list[Contact]] = relationship(back_populates="client", lazy="select")


class Contact(Base):
    """A person at the client (personal data: erasable, never copied into the audit chain)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    slack_user_id: Mapped[str | None] = mapped_column(String(32))

    client: Mapped[Client] = relationship(back_populates="contacts")


class AuditEvent(Base):
    """One link of the append-only, hash-chained audit log."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action", "action", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(32))
    actor_team: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(80))
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(80))
    request_ts: Mapped[str | None] = mapped_column(String(20))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditNote(Base):
    """What someone typed for an audit event (why a stage was forced or sent back, why a gate
    failed). It may name people, so it is kept beside the chain, where erasure can blank it;
    the chain's event says only that there is a note (`has_note`)."""

    __tablename__ = "audit_notes"

    seq: Mapped[int] = mapped_column(ForeignKey("audit_events.seq"), primary_key=True)
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    text: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A Slack call that must not be lost, written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # A live message's rows in flight (outbox.claim): the few with a lease still running.
        Index("ix_outbox_claimed", "operation", "claimed_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    operation: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    claimed_until: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(CLAIMANT_LENGTH))
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class AckedRequest(Base):
    """A Slack request answered and not yet handled: the work its ack promised, kept until
    done, so a process that dies after the ack leaves it to another (`bot/inbox.py`)."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_due", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # as parsed, after its signature passed
    request_ts: Mapped[str | None] = mapped_column(String(20))  # the signature's timestamp
    request_id: Mapped[str | None] = mapped_column(String(32))  # for the logs
    received_at: Mapped[dt.datetime]
    not_before: Mapped[dt.datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(CLAIMANT_LENGTH))
    claimed_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)


class ProcessedRequest(Base):
    """Keys of Slack deliveries already handled (`event:<event_id>`), so retries do nothing."""

    __tablename__ = "processed_requests"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[dt.datetime]


class Task(Base):
    """A checklist item of a client's stage: from the playbook or added by the team."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_client_stage", "client_id", "stage_key"),
        # One task per number, or `/onboard task done 3` could never reach the second task 3.
        UniqueConstraint("client_id", "number", name="uq_tasks_client_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    stage_key: Mapped[str] = mapped_column(String(80))
    number: Mapped[int]  # the number people type: `/onboard task done 3`
    title: Mapped[str] = mapped_column(String(200))
    owner_role: Mapped[str] = mapped_column(String(80))
    assignee: Mapped[str | None] = mapped_column(String(32))
    due: Mapped[dt.date | None] = mapped_column(Date)
    done_at: Mapped[dt.datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(32))
    reminders_sent: Mapped[int] = mapped_column(default=0)
    reminded_on: Mapped[dt.date | None] = mapped_column(Date)  # the client's local date
    created_at: Mapped[dt.datetime]


class GateState(Base):
    """Whether one exit gate of a client's stage holds."""

    __tablename__ = "gate_states"
    __table_args__ = (UniqueConstraint("client_id", "gate_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    stage_key: Mapped[str] = mapped_column(String(80))
    gate_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | passed | failed
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(32))


class Approver(Base):
    """A person at the client designated to sign off deliverables."""

    __tablename__ = "approvers"
    __table_args__ = (UniqueConstraint("client_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    added_by: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[dt.datetime]


class Deliverable(Base):
    """Something the client signs off, in one or more versions."""

    __tablename__ = "deliverables"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(150))
    gate_key: Mapped[str | None] = mapped_column(String(80))
    rule: Mapped[str] = mapped_column(String(8))  # all | any | n
    required: Mapped[int] = mapped_column(default=1)  # for rule "n": how many must approve
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]


class DeliverableVersion(Base):
    """One posted version; a new version supersedes the previous one."""

    __tablename__ = "deliverable_versions"
    __table_args__ = (UniqueConstraint("deliverable_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"))
    number: Mapped[int]
    # The terms this version was posted with; the deliverable holds the newest version's.
    title: Mapped[str] = mapped_column(String(150))
    rule: Mapped[str] = mapped_column(String(8))  # all | any | n
    required: Mapped[int] = mapped_column(default=1)
    link: Mapped[str | None] = mapped_column(String(3000))
    description: Mapped[str | None] = mapped_column(Text)
    approvers: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # pending | approved | changes_requested | superseded
    message_ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    nudged_on: Mapped[dt.date | None] = mapped_column(Date)


class Decision(Base):
    """One approver's decision on one version: at most one, enforced by the database."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("version_id", "approver"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("deliverable_versions.id", ondelete="CASCADE")
    )
    approver: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(20))  # approved | changes_requested
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime]


class Hypercare(Base):
    """A client's hypercare: its window, its stand-up settings, then its BAU review cadence.

    Created when the client enters a stage with hypercare automation (or when the team sets
    stand-ups up ahead of it, as "pending"); one per client, reset if the client re-enters.
    """

    __tablename__ = "hypercare"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    # pending | active | exited | left; bau (no hypercare stage); stopped (client erased)
    status: Mapped[str] = mapped_column(String(12))
    stage_key: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[dt.datetime | None]  # the stage_entered_at of the hypercare stage
    start_date: Mapped[dt.date | None] = mapped_column(Date)  # client-local, inclusive
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    ended_at: Mapped[dt.datetime | None]
    standup_time: Mapped[str | None] = mapped_column(String(5))  # "HH:MM": overrides the playbook
    cutoff_time: Mapped[str | None] = mapped_column(String(5))
    reminder_minutes: Mapped[int | None]
    paused: Mapped[bool] = mapped_column(default=False)
    responders: Mapped[list[str] | None] = mapped_column(JSON)  # None: the internal team
    sdm: Mapped[str | None] = mapped_column(String(32))  # service delivery manager for BAU
    review_cadence: Mapped[str | None] = mapped_column(String(12))  # monthly | quarterly
    bau_started_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime]


class StandupPrompt(Base):
    """One stand-up (daily) or weekly review of one client's day: posted, missed or skipped.

    The unique (client, day, kind) row is what makes a prompt happen once, whoever sweeps.
    """

    __tablename__ = "standup_prompts"
    __table_args__ = (UniqueConstraint("client_id", "day", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)  # the client's local date
    kind: Mapped[str] = mapped_column(String(8))  # daily | weekly
    status: Mapped[str] = mapped_column(String(12))  # open | closed | posted | missed | paused
    due_at: Mapped[dt.datetime]
    message_ts: Mapped[str | None] = mapped_column(String(32))
    expected: Mapped[list[str]] = mapped_column(JSON)  # who was asked, as of the last change
    reminded_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class StandupAnswer(Base):
    """One person's update to one stand-up; a second submission replaces it (revision + 1)."""

    __tablename__ = "standup_answers"
    __table_args__ = (UniqueConstraint("prompt_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("standup_prompts.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    yesterday: Mapped[str] = mapped_column(Text)
    today: Mapped[str] = mapped_column(Text)
    blockers: Mapped[str | None] = mapped_column(Text)
    health: Mapped[str] = mapped_column(String(8))  # green | amber | red
    revision: Mapped[int] = mapped_column(default=1)
    answered_at: Mapped[dt.datetime]


class StandupDayOff(Base):
    """A day without stand-ups for one client (`/onboard standup skip`), on top of holidays."""

    __tablename__ = "standup_days_off"
    __table_args__ = (UniqueConstraint("client_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[dt.datetime]


class StandupAway(Base):
    """Someone away from a client's stand-ups for some days: no reminder, not counted missing."""

    __tablename__ = "standup_away"
    __table_args__ = (Index("ix_standup_away_client", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    added_by: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[dt.datetime]


class Intake(Base):
    """A client's intake questionnaire: where it stands, its messages, review and reminders.

    One per client. The answers are `IntakeAnswer` rows: data, never copied into the audit chain.
    """

    __tablename__ = "intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    stage_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="open")
    # open | submitted | changes_requested | verified
    pages_saved: Mapped[list[str]] = mapped_column(JSON, default=list)
    reopened: Mapped[list[str]] = mapped_column(JSON, default=list)  # asked again by a reviewer
    review_note: Mapped[str | None] = mapped_column(Text)  # the reviewer's words to the client
    posts: Mapped[int] = mapped_column(default=0)  # times the intake message was posted
    message_ts: Mapped[str | None] = mapped_column(String(32))
    review_channel: Mapped[str | None] = mapped_column(String(32))  # the reviewer's DM
    review_ts: Mapped[str | None] = mapped_column(String(32))
    active_at: Mapped[dt.datetime]  # posted or last saved: reminders count from here
    submitted_at: Mapped[dt.datetime | None]
    submitted_by: Mapped[str | None] = mapped_column(String(32))
    verified_at: Mapped[dt.datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(32))
    reminders_sent: Mapped[int] = mapped_column(default=0)
    reminded_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime]


class IntakeAnswer(Base):
    """The current answer to one question of one intake; the last save wins."""

    __tablename__ = "intake_answers"
    __table_args__ = (UniqueConstraint("intake_id", "question_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intakes.id", ondelete="CASCADE"))
    question_key: Mapped[str] = mapped_column(String(60))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    answered_by: Mapped[str] = mapped_column(String(32))
    answered_at: Mapped[dt.datetime]


class ClientFact(Base):
    """Something the client told us that the playbook maps to its record (profile.<key>)."""

    __tablename__ = "client_facts"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    source: Mapped[str] = mapped_column(String(80))  # e.g. intake:regulations
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime]


class Survey(Base):
    """A satisfaction survey sent to a client's approvers (at completion, at hypercare exit)."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("client_id", "occasion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    occasion: Mapped[str] = mapped_column(String(20))  # completion | hypercare
    opened_at: Mapped[dt.datetime]
    closes_at: Mapped[dt.datetime]
    message_ts: Mapped[str | None] = mapped_column(String(32))


class SurveyAnswer(Base):
    """One person's score (0–10) and comment; changeable until the survey closes."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("survey_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime]
