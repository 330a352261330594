"""Client intake: the playbook's questionnaire filled page by page in modals, then reviewed.

Owns who may fill and review (decided here, from the bot's records and Slack's), saving pages,
submitting, the review's outcome (the gate, the client record), and what each screen shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import intake_fields, intake_messages, places
from onboard.bot.active_clients import refuse_unless_under_way
from onboard.bot.delivery import Delivery
from onboard.bot.errors import InvalidInput, NotAllowed, NotFound, Refused
from onboard.bot.gateway import SlackCallError, SlackGateway
from onboard.bot.identity import Directory
from onboard.bot.intake_review import Reviewing
from onboard.bot.intake_state import (
    MESSAGE,
    OPEN,
    REVIEW,
    PageRef,
    Saved,
    Screen,
    answers_of,
    client_people,
    closed_reason,
    fingerprint,
    item,
    missing_required,
    open_intake,
    page_questions,
    questionnaire_of,
    refresh_message,
    refresh_review,
    sections,
)
from onboard.bot.journey import find_client
from onboard.bot.outbound import on_call_refused
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, Intake, IntakeAnswer

MAX_METADATA = 3000  # characters of a view's private_metadata (Slack's limit)
# Told to anyone not among the client's people: fixed words, so a button value pointing at
# another client's intake learns nothing of it, not even its name.
OUTSIDER = "Only the client's own people, in its channel, can fill in this questionnaire."

# What an erased or completed client's refusal says (active_clients.refuse_unless_under_way).
CLOSED_TO_ANSWERS = "its intake takes no more answers"


class Intakes(Reviewing):
    """The service behind the intake buttons, modals and `/onboard intake`."""

    def __init__(
        self,
        db: Database,
        directory: Directory,
        gateway: SlackGateway,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        *,
        reminder_hour: int = 9,
    ) -> None:
        self.db = db
        self.directory = directory
        self.gateway = gateway
        self.clock = clock
        self.wake = wake
        self.reminder_hour = reminder_hour

    @classmethod
    def install(
        cls,
        db: Database,
        directory: Directory,
        gateway: SlackGateway,
        delivery: Delivery,
        clock: Callable[[], dt.datetime],
        *,
        reminder_hour: int = 9,
    ) -> Intakes:
        """The service, with its live messages registered and its stage watch on `db`."""
        delivery.register(
            MESSAGE, intake_messages.message_executor(db), on_call_refused, coalesce=True
        )
        delivery.register(
            REVIEW, intake_messages.review_executor(db, gateway), on_call_refused, coalesce=True
        )
        intake_messages.watch_stage_entries(db, clock, delivery.wake)
        return cls(db, directory, gateway, clock, delivery.wake, reminder_hour=reminder_hour)

    def sweep(self, at: dt.datetime) -> int:
        """The intake-reminders job: post intakes their stage waits for, remind unfinished ones."""
        return intake_messages.sweep(self.db, self.gateway, at, reminder_hour=self.reminder_hour)

    # -- the team: posting and following ---------------------------------------------------------

    def repost(self, reference: str, channel_id: str | None, cause: audit.Cause) -> Client:
        """`/onboard intake`: post the intake message (again) in the client channel."""
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            refuse_unless_under_way(session, client, CLOSED_TO_ANSWERS)
            if client.channel_id is None:
                raise NotFound(f"{client.name}'s channel is not ready yet: try again in a minute.")
            intake = open_intake(session, client, now)
            audit.record(
                session,
                cause,
                "intake.reposted",
                client_id=client.id,
                subject=f"intake:{intake.id}",
                at=now,
            )
        self.wake()
        return client

    # -- who may fill ----------------------------------------------------------------------------

    def _filler_refusal(self, session: Session, client: Client, user: str) -> Refused | None:
        """Why `user` may not write this client's answers, or None when they may.

        The client's people may: its contacts and approvers, and anyone external (another
        workspace's member or a guest) in its channel, unless they come from a workspace other
        than the client's own. The agency's own team may not: the answers are the client's word,
        and the team reviews them (separation of duties for "Data Verified").
        """
        # The team first: one of them named as a contact or approver is still the team.
        if self.directory.is_internal(user):
            return Refused(
                f"This questionnaire is for {client.name}'s people to fill in. Their answers "
                "reach the account manager for review; `/onboard intake status` shows progress.",
                "internal",
            )
        known = client_people(session, client, self.gateway)
        if user in known:
            return None
        if not self._in_channel(client, user):
            return Refused(OUTSIDER, "not_in_channel")
        person = self.directory.person(user)
        home = self.directory.home()[0]
        teams = {self.directory.person(u).team_id for u in known} - {home}
        if person.team_id != home and teams and person.team_id not in teams:
            return Refused(OUTSIDER, "another_workspace")
        return None

    def _in_channel(self, client: Client, user: str) -> bool:
        if client.channel_id is None:
            return False
        cursor = ""
        for _ in range(20):  # 20 pages of 1000: far beyond any client channel
            try:
                page = self.gateway.call(
                    "conversations.members", channel=client.channel_id, limit=1000, cursor=cursor
                )
            except SlackCallError:
                return False
            if user in page.get("members", []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return False
        return False

    def _writable(
        self, session: Session, intake_id: int, user: str, *, lock: bool = False
    ) -> tuple[Intake, Client]:
        query = select(Intake).where(Intake.id == intake_id)
        if lock:
            query = query.with_for_update()  # two people saving one intake take turns
        intake = session.scalars(query).first()
        if intake is None:
            raise NotFound("This intake no longer exists.")
        client = session.get_one(Client, intake.client_id)
        # Who first: the under-way refusal names the client, for its own people only.
        refusal = self._filler_refusal(session, client, user)
        if refusal:
            raise refusal
        refuse_unless_under_way(session, client, CLOSED_TO_ANSWERS)
        return intake, client

    def _guarded(self, intake_id: int, user: str, action: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except NotAllowed as exc:
            # The others' messages are fixed text; a Refused one may name the client.
            why = exc.code if isinstance(exc, Refused) else str(exc)
            self._refused(intake_id, user, action, why)
            raise

    # -- filling ---------------------------------------------------------------------------------

    def start(self, intake_id: int, user: str) -> Screen:
        """What "Start intake" opens for `user`: where they (or a colleague) left off."""

        def run() -> Screen:
            with self.db.transaction() as session:
                intake, client = self._writable(session, intake_id, user)
                questionnaire = questionnaire_of(client)
                answers = answers_of(session, intake.id)
                if intake.status == "changes_requested" and intake.reopened:
                    return self._page(
                        session, intake, client, PageRef(intake=intake.id, mode="changes")
                    )
                if intake.status in OPEN:
                    for index, page in enumerate(questionnaire.pages):
                        missing = [q for q in page.questions if q.required and q.key not in answers]
                        if page.key not in intake.pages_saved or missing:
                            return self._page(
                                session, intake, client, PageRef(intake=intake.id, page=index)
                            )
                return self._review(session, intake, client)

        return self._guarded(intake_id, user, "start", run)

    def show_page(self, ref: PageRef, user: str) -> Screen:
        """A page by number (the review's Edit buttons)."""

        def run() -> Screen:
            with self.db.transaction() as session:
                intake, client = self._writable(session, ref.intake, user)
                if intake.status not in OPEN:
                    return self._review(session, intake, client)
                return self._page(session, intake, client, ref)

        return self._guarded(ref.intake, user, "page", run)

    def save(self, ref: PageRef, values: dict[str, Any], cause: audit.Cause) -> Saved:
        """Save a submitted page: every valid answer is kept, each bad one comes back to fix."""
        return self._guarded(
            ref.intake, cause.actor, "save", lambda: self._save(ref, values, cause)
        )

    def back(self, ref: PageRef, values: dict[str, Any], cause: audit.Cause) -> Screen:
        """Back: keep what is valid on this page (nothing required yet), show the one before;
        an answer typed wrong keeps the person on this page, told how to fix it."""

        def run() -> Screen:
            saved = self._save(ref, values, cause, lenient=True)
            with self.db.transaction() as session:
                intake, client = self._writable(session, ref.intake, cause.actor)
                if intake.status not in OPEN:
                    return self._review(session, intake, client)
                if saved.errors:
                    # The same page, its inputs unchanged: Slack keeps what was typed in them
                    # (views.update keeps inputs whose block and action IDs stay the same).
                    return self._page(session, intake, client, ref, saved.errors)
                target = PageRef(intake=ref.intake, page=max(0, ref.page - 1))
                return self._page(session, intake, client, target)

        return self._guarded(ref.intake, cause.actor, "back", run)

    def _save(
        self, ref: PageRef, values: dict[str, Any], cause: audit.Cause, *, lenient: bool = False
    ) -> Saved:
        now = self.clock()
        with self.db.transaction() as session:
            intake, client = self._writable(session, ref.intake, cause.actor, lock=True)
            questionnaire = questionnaire_of(client)
            if intake.status not in OPEN:
                raise NotAllowed(closed_reason(intake))
            page, questions = page_questions(questionnaire, intake, ref)
            answers = answers_of(session, intake.id)
            errors: dict[str, str] = {}
            changed: list[str] = []
            cleared: list[str] = []
            for question in questions:
                # A phone number typed without its + is read in the client's country
                # ("GB" of "GB-ENG": phonenumbers knows countries, not regions).
                checked = intake_fields.check(
                    question, values.get(question.key), country=places.country_of(client.country)
                )
                stored = answers.get(question.key)
                # A file input comes back empty (Slack cannot prefill files): a file already
                # uploaded answers a required question until it is replaced.
                kept_file = question.kind == "file" and stored is not None
                # What the page showed came back: the answer stays as it is now, which a
                # colleague may have changed since the page opened.
                shown = ref.shown.get(question.key)
                untouched = shown is not None and fingerprint(checked.value) == shown
                kept = kept_file or (untouched and stored is not None)
                required = checked.error == intake_fields.REQUIRED
                if checked.error and not (required and (lenient or kept)):
                    errors[question.key] = checked.error
                    continue
                if untouched:
                    continue
                if checked.value is None:
                    if stored is not None and question.kind != "file":
                        # An emptied field clears its answer; a file input always comes back
                        # empty (Slack cannot prefill files), so files stay until replaced.
                        session.delete(stored)
                        cleared.append(question.key)
                elif stored is None:
                    session.add(
                        IntakeAnswer(
                            intake_id=intake.id,
                            question_key=question.key,
                            value=checked.value,
                            answered_by=cause.actor,
                            answered_at=now,
                        )
                    )
                    changed.append(question.key)
                elif stored.value != checked.value:
                    stored.value, stored.answered_by, stored.answered_at = (
                        checked.value,
                        cause.actor,
                        now,
                    )
                    changed.append(question.key)
            if changed or cleared:
                # Who wrote which field, never what: answers are data, the chain holds facts.
                audit.record(
                    session,
                    cause,
                    "intake.answers_saved",
                    client_id=client.id,
                    subject=f"intake:{intake.id}",
                    details={"page": page, "fields": changed, "cleared": cleared},
                    at=now,
                )
            if not errors and not lenient:
                if ref.mode == "changes":
                    intake.reopened = [
                        k for k in intake.reopened if k not in {q.key for q in questions}
                    ]
                elif page not in intake.pages_saved:
                    intake.pages_saved = [*intake.pages_saved, page]
            intake.active_at = now
            session.flush()
            if changed or cleared or not errors:
                refresh_message(session, intake, "saved")
            following = None
            if not errors and not lenient:
                if ref.mode == "fill" and ref.page + 1 < len(questionnaire.pages):
                    following = self._page(
                        session, intake, client, PageRef(intake=intake.id, page=ref.page + 1)
                    )
                elif ref.mode == "changes" and intake.reopened:
                    # More reopened than a page holds (see page_questions): the next ones.
                    following = self._page(
                        session, intake, client, PageRef(intake=intake.id, mode="changes")
                    )
                else:
                    following = self._review(session, intake, client)
        self.wake()
        return Saved(errors, following)

    def submit(self, intake_id: int, cause: audit.Cause) -> Screen:
        """The client sends a complete intake for review; the account manager is told."""

        def run() -> Screen:
            now = self.clock()
            with self.db.transaction() as session:
                intake, client = self._writable(session, intake_id, cause.actor, lock=True)
                questionnaire = questionnaire_of(client)
                if intake.status not in OPEN:
                    raise NotAllowed(closed_reason(intake))
                answers = answers_of(session, intake.id)
                missing = missing_required(questionnaire, answers)
                if missing or intake.reopened:
                    raise InvalidInput({"review": "Some answers are still needed."})
                intake.status, intake.reopened = "submitted", []
                intake.submitted_at, intake.submitted_by = now, cause.actor
                intake.review_ts = intake.review_channel = None  # a new summary each time
                audit.record(
                    session,
                    cause,
                    "intake.submitted",
                    client_id=client.id,
                    subject=f"intake:{intake.id}",
                    details={"answered": len(answers)},
                    at=now,
                )
                refresh_review(session, intake, "submitted")
                refresh_message(session, intake, "submitted")
                done = Screen("intake_done", {"client": client, "questionnaire": questionnaire})
            self.wake()
            return done

        return self._guarded(intake_id, cause.actor, "submit", run)

    # -- screens ---------------------------------------------------------------------------------

    def _page(
        self,
        session: Session,
        intake: Intake,
        client: Client,
        ref: PageRef,
        errors: dict[str, str] | None = None,
    ) -> Screen:
        """A page of questions; `errors` (by question) are shown under their fields."""
        questionnaire = questionnaire_of(client)
        errors = errors or {}
        ref = PageRef(
            intake=ref.intake,
            page=min(max(ref.page, 0), len(questionnaire.pages) - 1),
            mode=ref.mode,
        )
        _, questions = page_questions(questionnaire, intake, ref)
        answers = answers_of(session, intake.id)
        ref.shown = {
            q.key: fingerprint(answers[q.key].value if q.key in answers else None)
            for q in questions
        }
        if len(ref.dump()) > MAX_METADATA:  # a very long changes page: saved as it comes
            ref.shown = {}
        if ref.mode == "changes":
            title, intro, position = "Changes requested", None, None
        else:
            page = questionnaire.pages[ref.page]
            title, intro, position = (
                page.title,
                page.intro,
                (ref.page + 1, len(questionnaire.pages)),
            )
        return Screen(
            "intake_page",
            {
                "meta": ref.dump(),
                "questionnaire": questionnaire,
                "client": client,
                "title": title,
                "intro": intro,
                "position": position,
                "mode": ref.mode,
                "note": intake.review_note if ref.mode == "changes" else None,
                "first": ref.mode == "changes" or ref.page == 0,
                "last": len(intake.reopened) <= len(questions)
                if ref.mode == "changes"
                else ref.page + 1 == len(questionnaire.pages),
                "items": [item(q, answers.get(q.key), errors.get(q.key)) for q in questions],
            },
        )

    def _review(self, session: Session, intake: Intake, client: Client) -> Screen:
        questionnaire = questionnaire_of(client)
        answers = answers_of(session, intake.id)
        return Screen(
            "intake_review",
            {
                "meta": PageRef(intake=intake.id).dump(),
                "client": client,
                "questionnaire": questionnaire,
                "intake": intake,
                "sections": sections(questionnaire, answers),
                "missing": [q.label for q in missing_required(questionnaire, answers)],
                "can_submit": intake.status in OPEN
                and not intake.reopened
                and not missing_required(questionnaire, answers),
            },
        )
