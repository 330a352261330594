"""Reviewing a client's intake: the team's Mark data verified and Ask for changes, and status.

Only the agency's own people review; verifying passes the playbook's gate and feeds the client
record; asking for changes reopens exactly the named questions, with the reviewer's note.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot.errors import InvalidInput, NotAllowed, NotFound
from onboard.bot.identity import Directory
from onboard.bot.intake_state import (
    CLOSED,
    MAX_NOTE,
    Screen,
    answers_of,
    apply_to_record,
    missing_required,
    pass_gate,
    post_in_channel,
    questionnaire_of,
    refresh_message,
    refresh_review,
    sections,
)
from onboard.bot.journey import find_client
from onboard.bot.playbooks import MAX_PAGE_QUESTIONS
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, Intake


class Reviewing:
    """The team's side of the intake service (mixed into `Intakes`)."""

    db: Database
    directory: Directory
    clock: Callable[[], dt.datetime]
    wake: Callable[[], None]

    def _refused(self, intake_id: int, user: str, action: str, why: str) -> None:
        with self.db.transaction() as session:
            intake = session.get(Intake, intake_id)
            audit.record(
                session,
                audit.Cause(actor=user),
                "intake.refused",
                client_id=intake.client_id if intake else None,
                subject=f"intake:{intake_id}",
                details={"action": action, "why": why[:300]},
            )

    def _reviewer(self, intake_id: int, user: str, action: str) -> None:
        """Only the agency's own people review; a client user pressing a forged button is not."""
        if not self.directory.is_internal(user):
            why = "Only the onboarding team reviews the intake."
            self._refused(intake_id, user, action, why)
            raise NotAllowed(why)

    def changes_form(self, intake_id: int, user: str) -> Screen:
        """The "Ask for changes" modal: which questions to reopen, and a note for the client."""
        self._reviewer(intake_id, user, "changes_form")
        with self.db.transaction() as session:
            intake, client = _reviewed(session, intake_id)
            if intake.status != "submitted":
                raise NotAllowed(_not_waiting(intake))
            answers = answers_of(session, intake.id)
            return Screen(
                "intake_changes_modal",
                {
                    "intake_id": intake.id,
                    "client": client,
                    "sections": sections(questionnaire_of(client), answers),
                    "most": MAX_PAGE_QUESTIONS,
                },
            )

    def request_changes(
        self, intake_id: int, keys: list[str], note: str, cause: audit.Cause
    ) -> Client:
        """Reopen exactly the named questions for the client, with the reviewer's note."""
        self._reviewer(intake_id, cause.actor, "request_changes")
        now = self.clock()
        note = note.strip()
        errors = {}
        if not keys:
            errors["fields"] = "Choose the answers the client should change."
        elif len(set(keys)) > MAX_PAGE_QUESTIONS:
            # The reopened answers are asked on one modal page, which holds no more.
            errors["fields"] = (
                f"Choose at most {MAX_PAGE_QUESTIONS} answers: the client updates them on one "
                f"page. Ask for the others once they resubmit."
            )
        if not note:
            errors["note"] = "Tell the client what to change."
        elif len(note) > MAX_NOTE:
            errors["note"] = f"Keep the note under {MAX_NOTE:,} characters."
        if errors:
            raise InvalidInput(errors)
        with self.db.transaction() as session:
            intake, client = _reviewed(session, intake_id, lock=True)
            if intake.status != "submitted":
                raise NotAllowed(_not_waiting(intake))
            questionnaire = questionnaire_of(client)
            known = [q.key for _, q in questionnaire.questions()]
            if any(k not in known for k in keys):
                raise InvalidInput({"fields": "Choose questions from the list."})
            intake.status = "changes_requested"
            intake.reopened = [k for k in known if k in keys]
            intake.review_note = note
            intake.active_at = now
            intake.reminders_sent, intake.reminded_on = 0, None  # a new round of filling
            audit.record(
                session,
                cause,
                "intake.changes_requested",
                client_id=client.id,
                subject=f"intake:{intake.id}",
                details={"fields": intake.reopened},
                at=now,
            )
            post_in_channel(
                session,
                client,
                f"intake:{intake.id}:changes:{secrets.token_hex(4)}",
                "intake_changes",
                "intake.changes_posted",
                intake=intake,
                reviewer=cause.actor,
                questions=[questionnaire.question(k) for k in intake.reopened],
                note=note,
            )
            refresh_review(session, intake, "changes")
            refresh_message(session, intake, "changes")
        self.wake()
        return client

    def verify(self, intake_id: int, cause: audit.Cause) -> str:
        """Mark the data verified: the gate passes and mapped answers feed the client record."""
        self._reviewer(intake_id, cause.actor, "verify")
        now = self.clock()
        with self.db.transaction() as session:
            intake, client = _reviewed(session, intake_id, lock=True)
            if intake.status == "verified":
                return "Already verified."
            if intake.status != "submitted":
                raise NotAllowed(_not_waiting(intake))
            intake.status, intake.verified_at, intake.verified_by = "verified", now, cause.actor
            audit.record(
                session,
                cause,
                "intake.verified",
                client_id=client.id,
                subject=f"intake:{intake.id}",
                at=now,
            )
            applied = apply_to_record(session, client, intake, cause, now)
            gate = pass_gate(session, client, intake, cause, now)
            post_in_channel(
                session,
                client,
                f"intake:{intake.id}:verified:{secrets.token_hex(4)}",
                "intake_verified",
                "intake.verified_posted",
                questionnaire=questionnaire_of(client),
                reviewer=cause.actor,
            )
            refresh_review(session, intake, "verified")
            refresh_message(session, intake, "verified")
        self.wake()
        parts = ["Data verified."]
        if gate:
            parts.append(f"Gate `{gate}` passed.")
        if applied:
            parts.append(f"{len(applied)} answers copied to the client record.")
        return " ".join(parts)

    # -- the team's view -------------------------------------------------------------------------

    def status(self, reference: str, channel_id: str | None) -> dict[str, Any]:
        """`/onboard intake status`: progress per section and who filled what."""
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            questionnaire = questionnaire_of(client)
            intake = session.scalars(select(Intake).where(Intake.client_id == client.id)).first()
            answers = answers_of(session, intake.id) if intake else {}
            return {
                "client": client,
                "questionnaire": questionnaire,
                "intake": intake,
                "sections": sections(questionnaire, answers),
                "missing": len(missing_required(questionnaire, answers)),
            }


def _reviewed(session: Session, intake_id: int, *, lock: bool = False) -> tuple[Intake, Client]:
    query = select(Intake).where(Intake.id == intake_id)
    if lock:
        query = query.with_for_update()
    intake = session.scalars(query).first()
    if intake is None:
        raise NotFound("This intake no longer exists.")
    return intake, session.get_one(Client, intake.client_id)


def _not_waiting(intake: Intake) -> str:
    if intake.status == CLOSED:
        return "This client's records were erased: its intake is closed."
    if intake.status == "verified":
        return "This intake is already verified."
    if intake.status == "changes_requested":
        return "Changes were already asked for: the client is updating the intake."
    return "The client has not submitted the intake yet."
