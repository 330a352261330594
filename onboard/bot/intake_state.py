"""An intake's state: its questionnaire, answers by question, sections, and what they feed.

Shared by the intake service, its messages and reminders, and the export; no Slack calls here
except linking the client's contacts to their Slack accounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import intake_fields, outbound, places
from onboard.bot.errors import NotFound
from onboard.bot.gateway import SlackCallError, SlackGateway
from onboard.bot.journey import playbook_of, refresh_card, set_gate
from onboard.bot.playbooks import MAX_PAGE_QUESTIONS, Question, Questionnaire, QuestionPage
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.models import (
    Approver,
    Client,
    ClientFact,
    Contact,
    GateState,
    Intake,
    IntakeAnswer,
)

MESSAGE = "intake.message"  # the intake message in the client channel, kept current
REVIEW = "intake.review"  # the reviewer's summary with its buttons, kept current
OPEN = ("open", "changes_requested")  # statuses in which the client may still write
CLOSED = "closed"  # the client's data was erased: the intake asks and takes nothing more
MAX_NOTE = 2000


class PageRef(BaseModel):
    """What a modal page carries in private_metadata: which intake, which page, which mode,
    and a fingerprint of each answer as the page showed it (see `fingerprint`)."""

    intake: int
    page: int = 0
    mode: Literal["fill", "changes"] = "fill"
    shown: dict[str, str] = {}

    def dump(self) -> str:
        return self.model_dump_json()

    @classmethod
    def load(cls, text: str) -> PageRef:
        try:
            return cls.model_validate_json(text or "{}")
        except ValidationError:
            raise NotFound("This form is out of date: click the intake button again.") from None


@dataclass(frozen=True)
class Screen:
    """A modal to show: its template and what the template needs."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Saved:
    """The outcome of saving a page: what was refused (by question) and what to show next."""

    errors: dict[str, str]
    next: Screen | None


def questionnaire_of(client: Client) -> Questionnaire:
    found = playbook_of(client).intake
    if found is None:
        raise NotFound(f"{client.name}'s playbook has no intake questionnaire.")
    return found


def fingerprint(value: Any) -> str:
    """A short digest of an answer's stored form ("" for none). Saving a page writes only the
    fields whose value differs from what that page showed: a colleague's answers saved since
    it opened are kept, not cleared or overwritten by a page that never showed them."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def answers_of(session: Session, intake_id: int) -> dict[str, IntakeAnswer]:
    rows = session.scalars(select(IntakeAnswer).where(IntakeAnswer.intake_id == intake_id))
    return {row.question_key: row for row in rows}


def missing_required(questionnaire: Questionnaire, answers: dict[str, Any]) -> list[Question]:
    return [q for _, q in questionnaire.questions() if q.required and q.key not in answers]


def refresh_message(session: Session, intake: Intake, reason: str) -> None:
    """Queue a refresh of the channel's intake message; it renders the state current when sent."""
    outbox.enqueue(
        session,
        f"intake:{intake.id}:message:{reason}:{secrets.token_hex(4)}",
        MESSAGE,
        {"intake_id": intake.id},
        client_id=intake.client_id,
    )


def refresh_review(session: Session, intake: Intake, reason: str) -> None:
    outbox.enqueue(
        session,
        f"intake:{intake.id}:review:{reason}:{secrets.token_hex(4)}",
        REVIEW,
        {"intake_id": intake.id},
        client_id=intake.client_id,
    )


def open_intake(session: Session, client: Client, now: dt.datetime) -> Intake:
    """The client's intake, created on first need; a new post of its message either way."""
    questionnaire = questionnaire_of(client)
    intake = session.scalars(select(Intake).where(Intake.client_id == client.id)).first()
    if intake is None:
        intake = Intake(
            client_id=client.id,
            stage_key=questionnaire.stage,
            status="open",
            pages_saved=[],
            reopened=[],
            posts=0,
            active_at=now,
            reminders_sent=0,
            created_at=now,
        )
        session.add(intake)
        session.flush()
        audit.record(
            session,
            audit.Cause.system(),
            "intake.opened",
            client_id=client.id,
            subject=f"intake:{intake.id}",
            details={"stage": questionnaire.stage, "questions": len(questionnaire.questions())},
            at=now,
        )
    intake.posts += 1
    intake.message_ts = None  # a fresh post lower in the channel; the old one stays usable
    session.flush()
    refresh_message(session, intake, f"post{intake.posts}")
    return intake


def close_erased_intake(session: Session, intake: Intake, *, refresh: bool) -> None:
    """Close an erased client's intake for good (in the erasure's transaction): a posted
    message loses its Start button, a posted summary its review buttons. Refreshed only once
    posted (a post still pending was given up by the erasure), and only when `refresh`: a
    completed client's channel may be archived, and Slack refuses the update for good."""
    intake.status, intake.reopened = CLOSED, []
    if not refresh:
        return
    if intake.message_ts is not None:
        refresh_message(session, intake, "closed")
    if intake.review_ts is not None:
        refresh_review(session, intake, "closed")


@dataclass(frozen=True)
class Line:
    """One answer as a summary shows it."""

    question: Question
    text: str
    by: str | None


@dataclass(frozen=True)
class Section:
    page: QuestionPage
    index: int
    lines: list[Line]
    answered: int
    missing: int

    @property
    def contributors(self) -> list[str]:
        return sorted({line.by for line in self.lines if line.by})


def sections(questionnaire: Questionnaire, answers: dict[str, IntakeAnswer]) -> list[Section]:
    found = []
    for index, page in enumerate(questionnaire.pages):
        lines = [
            Line(q, intake_fields.shown(q, answers[q.key].value), answers[q.key].answered_by)
            if q.key in answers
            else Line(q, "", None)
            for q in page.questions
        ]
        answered = sum(1 for q in page.questions if q.key in answers)
        missing = sum(1 for q in page.questions if q.required and q.key not in answers)
        found.append(Section(page, index, lines, answered, missing))
    return found


def page_questions(
    questionnaire: Questionnaire, intake: Intake, ref: PageRef
) -> tuple[str, list[Question]]:
    """(page key for the record, the questions this page asks)."""
    if ref.mode == "changes":
        # A page at most: more would not fit one modal. A reviewer reopens no more than that
        # (request_changes); an intake reopened wider before that rule goes a page at a time.
        reopened = [q for _, q in questionnaire.questions() if q.key in intake.reopened]
        return "changes", reopened[:MAX_PAGE_QUESTIONS]
    if not 0 <= ref.page < len(questionnaire.pages):
        raise NotFound("This page no longer exists: click the intake button again.")
    page = questionnaire.pages[ref.page]
    return page.key, list(page.questions)


def item(
    question: Question, answer: IntakeAnswer | None, error: str | None = None
) -> dict[str, Any]:
    """What the page template needs for one question: its current answer, ready to prefill,
    and what was wrong with what was typed (Back shows it under the field)."""
    value = answer.value if answer is not None else None
    initial: Any = value
    if value is not None and question.kind == "number":
        initial = str(value)
    elif value is not None and question.kind == "yes_no":
        initial = intake_fields.YES if value else intake_fields.NO
    label = intake_fields.shown(question, value) if value is not None else ""
    files = label if question.kind == "file" else ""
    return {
        "q": question,
        "initial": initial if question.kind != "file" else None,
        "initial_label": label,
        "files": files,
        # Slack marks optional inputs "(optional)" and insists on the others; a file already
        # uploaded need not be uploaded again.
        "optional": not question.required or (question.kind == "file" and value is not None),
        "checkboxes": question.kind == "multi_choice" and len(question.options) <= 10,
        "min": _bound(question.min),
        "max": _bound(question.max),
        "error": error,
    }


def _bound(number: float | None) -> str | None:
    """A number input's limit as Slack wants it: a string, "5" rather than "5.0"."""
    if number is None:
        return None
    return str(int(number)) if float(number).is_integer() else str(number)


def closed_reason(intake: Intake) -> str:
    if intake.status == CLOSED:
        return "This client's records were erased: its intake is closed."
    if intake.status == "verified":
        return "This intake is verified and closed. Ask your account manager to reopen a field."
    return "This intake was sent for review: you can change it if the reviewer asks."


def client_people(session: Session, client: Client, gateway: SlackGateway) -> set[str]:
    """Slack IDs the bot knows belong to the client: its approvers and its contacts."""
    people = set(session.scalars(select(Approver.user_id).where(Approver.client_id == client.id)))
    for contact in client.contacts:
        if contact.slack_user_id is None and contact.email:
            try:
                found = gateway.call("users.lookupByEmail", email=contact.email)
            except SlackCallError:
                continue  # not in Slack (yet), or Slack busy: they can still come in by channel
            contact.slack_user_id = found["user"]["id"]
        if contact.slack_user_id:
            people.add(contact.slack_user_id)
    return people


def fact_targets(questionnaire: Questionnaire) -> list[tuple[Question, str]]:
    return [(q, q.maps_to) for _, q in questionnaire.questions() if q.maps_to]


def apply_to_record(
    session: Session, client: Client, intake: Intake, cause: audit.Cause, now: dt.datetime
) -> list[str]:
    """Copy verified answers into the client record where the playbook maps them."""
    questionnaire = questionnaire_of(client)
    answers = answers_of(session, intake.id)
    applied: list[str] = []
    people: dict[str, dict[str, Any]] = {}  # role → attribute → answer, applied together
    for question, target in fact_targets(questionnaire):
        answer = answers.get(question.key)
        if answer is None:
            continue
        value = answer.value
        parts = target.split(".")
        if target == "client.timezone":
            client.timezone = value
        elif target == "client.country":
            # The intake names a country; a region the team chose in it ("GB-ENG", for its
            # bank holidays) stays, rather than falling back to the whole country's holidays.
            if places.country_of(client.country) != value:
                client.country = value
        elif parts[0] == "contacts":
            people.setdefault(parts[1], {})[parts[2]] = value
        else:
            key = parts[1]
            fact = session.scalars(
                select(ClientFact).where(ClientFact.client_id == client.id, ClientFact.key == key)
            ).first()
            if fact is None:
                fact = ClientFact(client_id=client.id, key=key)
                session.add(fact)
            fact.value, fact.source = value, f"intake:{question.key}"
            fact.updated_by, fact.updated_at = cause.actor, now
        applied.append(target)
    for role, given in people.items():
        _update_contact(client, role, given)
    if applied:
        audit.record(
            session,
            cause,
            "client.updated_from_intake",
            client_id=client.id,
            subject=f"intake:{intake.id}",
            details={"fields": applied},
            at=now,
        )
    return applied


def _update_contact(client: Client, role: str, given: dict[str, Any]) -> None:
    """Update the contact in `role` from its verified answers (name, email, slack_user).

    A new email may be a new person: the Slack account linked to the old address is dropped,
    for the next lookup by email to link the right one, unless the intake names the account
    too. Likewise a new Slack account drops an old email the intake does not replace: it is
    the previous person's.
    """
    contact = next((c for c in client.contacts if c.role == role), None)
    if contact is None:
        contact = Contact(role=role[:40], name="", email="")
        client.contacts.append(contact)
    if "name" in given:
        contact.name = str(given["name"])[:200]
    if "email" in given:
        email = str(given["email"])[:320]
        if email.casefold() != contact.email.casefold():
            contact.slack_user_id = None
        contact.email = email
    if "slack_user" in given:
        user = str(given["slack_user"])
        # An account never linked (None) says nothing about whose the email is: it stays.
        if contact.slack_user_id not in (None, user) and "email" not in given:
            contact.email = ""
        contact.slack_user_id = user


def pass_gate(
    session: Session, client: Client, intake: Intake, cause: audit.Cause, now: dt.datetime
) -> str | None:
    """Pass the playbook's data-verified gate; its state row belongs to the intake's stage."""
    gate = questionnaire_of(client).gate
    if gate is None:
        return None
    state = session.scalars(
        select(GateState).where(GateState.client_id == client.id, GateState.gate_key == gate)
    ).first()
    if state is None:
        session.add(GateState(client_id=client.id, stage_key=intake.stage_key, gate_key=gate))
        session.flush()
    set_gate(session, client, gate, True, cause, now, note="intake verified")
    refresh_card(session, client, f"intake:{intake.id}:{secrets.token_hex(4)}")
    return gate


def post_in_channel(
    session: Session, client: Client, key: str, template: str, action: str, **context: Any
) -> None:
    if client.channel_id is None:
        return
    message = render_message(template, client=client, **context)
    outbound.enqueue_call(
        session,
        key,
        "chat.postMessage",
        {"channel": client.channel_id, **message},
        client_id=client.id,
        audit_action=action,
    )
