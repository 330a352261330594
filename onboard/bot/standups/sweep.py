"""The stand-up sweep: every client in (or just out of) hypercare, as of a moment.

Per client: start or end the window, post the prompts that fell due, remind once, and close each
stand-up with its summary at the cut-off. Each send is keyed, so re-runs add nothing. A client
whose playbook has no hypercare stage starts BAU here once it completes; an erased one is passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import outbound
from onboard.bot.calendar import BusinessCalendar
from onboard.bot.standups import records, window
from onboard.bot.standups.care import Care, Cares, responders
from onboard.bot.standups.live_message import MESSAGE, prompt_key
from onboard.bot.standups.reports import worst
from onboard.bot.standups.schedule import (
    DAILY,
    Slot,
    closes_at,
    closing_label,
    reminder_delay,
    slots,
)
from onboard.bot.visits import Failures
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import Client, Hypercare, StandupPrompt


@dataclass(frozen=True)
class Sweep:
    """Runs the sweep; one transaction per client."""

    db: Database
    cares: Cares
    team: Sequence[str]

    def run(self, at: dt.datetime) -> int:
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
                    Hypercare.bau_started_on,
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
            for client_id, created, stage_key, status, channel, care_status, bau in clients
            if care_status != records.STOPPED  # erased: nothing more for this client
            and (
                care_status == "active"
                or client_id in unsettled
                or (
                    status == "active"
                    and channel
                    and self.cares.stage_key(client_id, created) == stage_key
                )
                # Completed without a hypercare stage: BAU starts here (once: the row says so).
                or (
                    status == "completed"
                    and care_status in (None, "pending")
                    and bau is None
                    and self.cares.stage_key(client_id, created) is None
                )
            )
        ]
        queued = 0
        failures = Failures()
        for client_id in due:
            # A transaction per client: one client's trouble never holds back the others.
            with failures.of(f"client {client_id}"), self.db.transaction() as session:
                queued += self._sweep_client(session, client_id, at)
        failures.raise_any()
        return queued

    def _sweep_client(self, session: Session, client_id: int, at: dt.datetime) -> int:
        # Locks are taken first and in one order (the hypercare row, its prompts, then the
        # audit chain's), so two schedulers take turns per client instead of deadlocking.
        row = records.locked(session, client_id)
        if row is not None and row.status == records.STOPPED:
            return 0  # erased since the first look: no prompt, reminder or summary now
        client = records.client(session, client_id)
        care = self.cares.of(client)
        if care is None and client.status == "completed":
            if row is not None and row.status != "pending":
                return 0
            row = row or records.create_row(session, client_id, at)
            return window.complete(session, client, row, at)
        in_care = (
            care is not None
            and client.status == "active"
            and client.channel_id is not None
            and client.stage_key == care.stage_key
        )
        if row is None:
            if not in_care:
                return 0
            row = records.create_row(session, client_id, at)
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
                queued += window.start(session, client, row, care, at)
        elif care is not None and row.status == "active":
            queued += window.finish(session, client, row, care, at)
        calendar = records.calendar_with_days_off(session, client)
        if care is not None and row.status == "active":
            queued += self._open_due(session, client, row, care, calendar, prompts, at)
            queued += window.milestones(session, client, row, care, calendar, at)
        for prompt in prompts:
            if prompt.status == "open":
                queued += self._settle(session, client, row, care, calendar, prompt, at)
        return queued

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
            expected=responders(row, client, self.team),
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
        closes = closes_at(row, care, calendar, prompt)
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
        prompt.expected = responders(row, client, self.team)
        answered = {a.user_id for a in records.answers(session, prompt.id)}
        away = records.away(session, client.id, prompt.day)
        waiting = [u for u in prompt.expected if u not in answered and u not in away]
        prompt.reminded_at = at
        key = prompt_key(client.id, prompt.day, DAILY)
        closes = closing_label(row, care)
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
            prompt.expected = responders(row, client, self.team)
        prompt.status, prompt.closed_at = "closed", at
        answers = records.answers(session, prompt.id)
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
                "health": worst(a.health for a in answers),
            },
            at=at,
        )
        return 1
