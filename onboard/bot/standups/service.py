"""The stand-up service as the app, handlers and jobs see it: one object, each call passed on to
the part that owns it (the sweep, answering, options, reports, BAU reviews, the live message).

The parts share one `Cares`, so each client's playbook snapshot is read once per process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot.standups.answers import Answering
from onboard.bot.standups.care import Cares
from onboard.bot.standups.live_message import PromptView, prompt_view
from onboard.bot.standups.options import Options
from onboard.bot.standups.pacing import Pacer
from onboard.bot.standups.reports import Report, Reports, Status
from onboard.bot.standups.reviews import ServiceReviews
from onboard.bot.standups.sweep import Sweep
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, StandupAnswer, StandupPrompt


class Standups:
    """Hypercare for every client in a hypercare stage, and BAU service reviews after it.

    A facade, kept on purpose: the app, handlers and jobs hold this one object and need not know
    which part owns a call, so most methods only pass the call on. Building the parts here also
    gives them one shared `Cares`.
    """

    def __init__(
        self,
        db: Database,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        *,
        team: Sequence[str] = (),
        admins: Sequence[str] = (),
        reminder_hour: int = 9,
        pacer: Pacer | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.wake = wake
        self.team = tuple(team)
        self.reminder_hour = reminder_hour
        self.pacer = pacer or Pacer()
        self.cares = Cares(db)
        self._sweep = Sweep(db, self.cares, self.team)
        self._reviews = ServiceReviews(db, reminder_hour)
        self._answering = Answering(db, clock, wake, self.cares, tuple(admins))
        self._options = Options(db, clock, wake, self.cares, self.team)
        self._reports = Reports(db, clock, self.cares, self.team)

    # -- scheduled ----------------------------------------------------------------------------

    def sweep(self, at: dt.datetime) -> int:
        """Start and end hypercare windows, post what fell due, remind once, summarise at the
        cut-off; the number of sends queued."""
        return self._sweep.run(at)

    def service_reviews(self, at: dt.datetime) -> int:
        """Remind the service delivery manager (or account manager) of a review due today."""
        return self._reviews.remind(at)

    # -- answering ----------------------------------------------------------------------------

    def answer_form(
        self, prompt_id: int, channel_id: str | None, user: str, message_ts: str | None = None
    ) -> dict[str, Any]:
        return self._answering.answer_form(prompt_id, channel_id, user, message_ts)

    def answer(self, prompt_id: int, form: dict[str, Any], cause: audit.Cause) -> StandupAnswer:
        return self._answering.answer(prompt_id, form, cause)

    # -- options ------------------------------------------------------------------------------

    def set_time(self, channel_id: str | None, text: str, cause: audit.Cause) -> Client:
        return self._options.set_time(channel_id, text, cause)

    def set_cutoff(self, channel_id: str | None, text: str, cause: audit.Cause) -> Client:
        return self._options.set_cutoff(channel_id, text, cause)

    def set_reminder(self, channel_id: str | None, minutes: int, cause: audit.Cause) -> Client:
        return self._options.set_reminder(channel_id, minutes, cause)

    def set_responders(
        self, channel_id: str | None, users: list[str] | None, cause: audit.Cause
    ) -> tuple[Client, list[str]]:
        return self._options.set_responders(channel_id, users, cause)

    def set_away(
        self,
        channel_id: str | None,
        user: str,
        first: dt.date,
        last: dt.date,
        cause: audit.Cause,
    ) -> Client:
        return self._options.set_away(channel_id, user, first, last, cause)

    def skip(self, channel_id: str | None, day: dt.date, reason: str, cause: audit.Cause) -> Client:
        return self._options.skip(channel_id, day, reason, cause)

    def pause(self, channel_id: str | None, paused: bool, cause: audit.Cause) -> Client:
        return self._options.pause(channel_id, paused, cause)

    def set_sdm(self, channel_id: str | None, user: str, cause: audit.Cause) -> Client:
        return self._options.set_sdm(channel_id, user, cause)

    # -- reading ------------------------------------------------------------------------------

    def status(self, reference: str, channel_id: str | None) -> Status:
        return self._reports.status(reference, channel_id)

    def report(
        self,
        reference: str,
        channel_id: str | None,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> Report:
        return self._reports.report(reference, channel_id, first, last)

    def view(self, session: Session, prompt: StandupPrompt) -> PromptView:
        """What a prompt's message shows now: the open prompt, its summary, or a review."""
        return prompt_view(session, self.cares, prompt)
