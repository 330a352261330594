"""Checklist tasks of a client's current stage: add, tick off (and undo a tick), assign.

Tasks are numbered per client so people can type `/onboard task done 3`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onboard.bot.errors import InvalidInput, NotFound
from onboard.bot.journey import calendar_of, change_key, find_client, refresh_card
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, Task

MAX_TITLE = 150


class Tasks:
    def __init__(
        self, db: Database, clock: Callable[[], dt.datetime], wake: Callable[[], None]
    ) -> None:
        self.db = db
        self.clock = clock
        self.wake = wake

    def add(
        self,
        reference: str,
        channel_id: str | None,
        title: str,
        assignee: str | None,
        due_in_days: int | None,
        cause: audit.Cause,
    ) -> Task:
        title = " ".join(title.split())
        if not title:
            raise InvalidInput({"title": "Give the task a title: `/onboard task add <title>`."})
        if len(title) > MAX_TITLE:
            raise InvalidInput({"title": f"Keep the title under {MAX_TITLE} characters."})
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            # The client's row locked (PostgreSQL): two tasks added at once take turns, so
            # they never get the same number.
            session.refresh(client, with_for_update=True)
            calendar = calendar_of(client)
            number = session.scalar(
                select(func.max(Task.number)).where(Task.client_id == client.id)
            )
            task = Task(
                client_id=client.id,
                stage_key=client.stage_key,
                number=(number or 0) + 1,
                title=title,
                owner_role="Team",
                assignee=assignee,
                due=calendar.add_business_days(calendar.local_date(now), due_in_days)
                if due_in_days is not None
                else None,
                created_at=now,
            )
            session.add(task)
            session.flush()
            audit.record(
                session,
                cause,
                "task.added",
                client_id=client.id,
                subject=f"task:{task.number}",
                details={"stage": client.stage_key, "assignee": assignee},
                at=now,
            )
            refresh_card(session, client, f"task-added:{task.id}")
        self.wake()
        return task

    def done(
        self, reference: str, channel_id: str | None, number: int, cause: audit.Cause
    ) -> tuple[Client, Task]:
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            task = _task(session, client, number)
            if task.done_at is None:
                task.done_at, task.done_by = now, cause.actor
                audit.record(
                    session,
                    cause,
                    "task.done",
                    client_id=client.id,
                    subject=f"task:{task.number}",
                    at=now,
                )
                # Keyed by the change, not the task: a tick undone and ticked again refreshes.
                refresh_card(session, client, f"task-done:{task.id}:{change_key(session)}")
        self.wake()
        return client, task

    def undo(
        self, reference: str, channel_id: str | None, number: int, cause: audit.Cause
    ) -> tuple[Client, Task]:
        """Reopen a task ticked by mistake (one click on the card's checkbox ticks it)."""
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            task = _task(session, client, number)
            if task.done_at is None:
                raise InvalidInput(
                    {"task": f"Task {task.number} is not done: there is nothing to undo."}
                )
            task.done_at, task.done_by = None, None
            audit.record(
                session,
                cause,
                "task.reopened",
                client_id=client.id,
                subject=f"task:{task.number}",
                at=now,
            )
            refresh_card(session, client, f"task-undone:{task.id}:{change_key(session)}")
        self.wake()
        return client, task

    def assign(
        self, reference: str, channel_id: str | None, number: int, user: str, cause: audit.Cause
    ) -> tuple[Client, Task]:
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            task = _task(session, client, number)
            task.assignee = user
            audit.record(
                session,
                cause,
                "task.assigned",
                client_id=client.id,
                subject=f"task:{task.number}",
                details={"assignee": user},
                at=now,
            )
            refresh_card(session, client, f"task-assigned:{task.id}:{user}:{now.timestamp()}")
        self.wake()
        return client, task


def _task(session: Session, client: Client, number: int) -> Task:
    """Task `number` of the client's current stage: another stage's (left behind, or not
    reached yet) is not on the card or in `/onboard status`, so it is not changed blind."""
    task = session.scalars(
        select(Task).where(Task.client_id == client.id, Task.number == number)
    ).first()
    if task is None or task.stage_key != client.stage_key:
        raise NotFound(
            f"{client.name} has no task {number} in its current stage. "
            "`/onboard status` lists them."
        )
    return task
