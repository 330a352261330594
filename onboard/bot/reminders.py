"""Nudges that keep a journey moving: tasks due and overdue, pending sign-offs, archiving.

Each sweep runs "as of" a moment; every send is keyed by its local date, so re-runs add nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, String, cast, exists, func, or_, select
from sqlalchemy.orm import Session, defer

from onboard.bot import outbound
from onboard.bot.active_clients import each_active_client, under_way, working_hours_began
from onboard.bot.approvers import still_designated
from onboard.bot.calendar import latest_local_date
from onboard.bot.erasure import was_erased
from onboard.bot.errors import InvalidInput, SlackUnavailable
from onboard.bot.identity import Directory
from onboard.bot.journey import calendar_of, find_client, playbook_of
from onboard.bot.playbooks import Reminders as ReminderRules
from onboard.bot.settlement import stage_on_hold
from onboard.bot.visits import Failures
from onboard.messages.render import render_message
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import (
    Client,
    Decision,
    Deliverable,
    DeliverableVersion,
    OutboxMessage,
    Task,
)

DEFAULT_RULES = ReminderRules()
MAX_MUTE_DAYS = 90
ARCHIVE_OFFER_KEY = "client:{id}:archive-offer"  # the outbox key: one offer per client


class Nudges:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], dt.datetime],
        *,
        reminder_hour: int = 9,
        approval_nudge_days: int = 2,
        archive_after_days: int = 14,
        directory: Directory | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.reminder_hour = reminder_hour
        self.approval_nudge_days = approval_nudge_days
        self.archive_after_days = archive_after_days
        # Who has left the workspace; without it, assigned tasks are DMed unchecked.
        self.directory = directory

    # -- tasks --------------------------------------------------------------------------------

    def tasks(self, at: dt.datetime) -> int:
        """Remind owners of tasks due today, then of overdue ones on the playbook's rhythm."""
        left = self._who_left(at)
        return each_active_client(
            self.db,
            lambda session, client: self._remind_tasks(session, client, at, left),
            where=_has_open_task_due_by(latest_local_date(at)),
            wanted=lambda client: self._in_working_hours(client, at),
        )

    def _who_left(self, at: dt.datetime) -> frozenset[str]:
        """The assignees of tasks the sweep may remind whose accounts are deactivated: asked
        of Slack before the sweep's transactions, as on SQLite each holds the write turn every
        ack needs. A person Slack does not answer for is taken as still here (their DM is
        tried, as before): one lookup failing must not hold back the client's reminders."""
        if self.directory is None:
            return frozenset()
        day = latest_local_date(at)
        with self.db.transaction() as session:
            assignees = set(
                session.scalars(
                    select(Task.assignee)
                    .distinct()
                    .join(Client, Client.id == Task.client_id)
                    .where(
                        under_way(),
                        Task.stage_key == Client.stage_key,
                        Task.done_at.is_(None),
                        Task.due <= day,
                        Task.assignee.is_not(None),
                        or_(Task.reminded_on.is_(None), Task.reminded_on < day),
                    )
                )
            )
        return frozenset(user for user in assignees if user and self._has_left(user))

    def _remind_tasks(
        self, session: Session, client: Client, at: dt.datetime, left: frozenset[str]
    ) -> int:
        calendar = calendar_of(client)
        today = calendar.local_date(at)
        if not self._working_hours(client, at, today):
            return 0
        stage = next(s for s in playbook_of(client).stages if s.key == client.stage_key)
        rules = (stage.automation.reminders if stage.automation else None) or DEFAULT_RULES
        due: dict[str, list[Due]] = {}  # by whom the reminder goes to
        for task in session.scalars(
            select(Task)
            .where(
                Task.client_id == client.id,
                Task.stage_key == client.stage_key,
                Task.done_at.is_(None),
                Task.due.is_not(None),
                Task.due <= today,
            )
            .order_by(Task.number)
        ):
            assert task.due is not None
            if task.reminded_on == today:
                continue  # in an earlier message today
            late = calendar.business_days_between(task.due, today)
            if late == 0:
                kind = "due"
            elif (
                late >= rules.after_business_days
                and (late - rules.after_business_days) % rules.every_business_days == 0
                # The due day's reminder counts, sent or not (`_counted`): at most
                # `max_reminders` overdue ones follow it.
                and task.reminders_sent <= rules.max_reminders
            ):
                kind = "overdue"
            else:
                continue
            # A DM to someone who has left is read by no one: the channel hears instead.
            gone = task.assignee in left
            target = client.channel_id if gone else task.assignee or client.channel_id
            assert target is not None  # each_active_client: clients with a channel
            due.setdefault(target, []).append(Due(task, kind, late, assignee_left=gone))
        return sum(_remind(session, client, target, tasks, today) for target, tasks in due.items())

    def _has_left(self, user_id: str) -> bool:
        """Remembered a while by the directory (the sweep runs every five minutes)."""
        assert self.directory is not None
        try:
            return self.directory.has_left(user_id)
        except SlackUnavailable:
            return False

    def _in_working_hours(self, client: Client, at: dt.datetime) -> bool:
        return self._working_hours(client, at, calendar_of(client).local_date(at))

    def _working_hours(self, client: Client, at: dt.datetime, today: dt.date) -> bool:
        if client.reminders_muted_until and today <= client.reminders_muted_until:
            return False
        return working_hours_began(calendar_of(client), at, self.reminder_hour)

    # -- approvals ----------------------------------------------------------------------------

    def approvals(self, at: dt.datetime) -> int:
        """Nudge approvers of sign-offs waiting too long; once per business day at most.
        A transaction per sign-off, for the reason `active_clients.each_active_client` gives,
        and only for those the list shows due one: in the client's working hours, and not
        nudged on its date yet."""
        with self.db.transaction() as session:
            pending = session.execute(
                _pending_signoffs(
                    select(DeliverableVersion.id, DeliverableVersion.nudged_on, Client)
                )
                .options(defer(Client.playbook, raiseload=True))
                .order_by(DeliverableVersion.id)
            ).all()
        queued = 0
        failures = Failures()
        for version_id, nudged_on, listed in pending:
            with failures.of(f"sign-off {version_id}"):
                today = calendar_of(listed).local_date(at)
                if nudged_on == today or not self._working_hours(listed, at, today):
                    continue
                with self.db.transaction() as session:
                    found = session.execute(
                        _pending_signoffs(select(DeliverableVersion, Deliverable, Client)).where(
                            DeliverableVersion.id == version_id
                        )
                    ).first()
                    if found is not None:
                        queued += self._nudge(session, *found, at)
        failures.raise_any()
        return queued

    def _nudge(
        self,
        session: Session,
        version: DeliverableVersion,
        deliverable: Deliverable,
        client: Client,
        at: dt.datetime,
    ) -> int:
        calendar = calendar_of(client)
        today = calendar.local_date(at)
        if not self._working_hours(client, at, today) or version.nudged_on == today:
            return 0
        waited = calendar.business_days_between(calendar.local_date(version.posted_at), today)
        if waited < self.approval_nudge_days:
            return 0
        if stage_on_hold(client, deliverable.gate_key) is not None:
            return 0  # approvals are refused until the journey is back at the gate's stage
        decided = set(
            session.scalars(select(Decision.approver).where(Decision.version_id == version.id))
        )
        # Only approvers still designated may decide: one removed is never waited for.
        waiting = [u for u in still_designated(session, version, deliverable) if u not in decided]
        if not waiting:
            return 0  # nobody left to decide: the team was told when removing the last one
        message = render_message(
            "approval_nudge",
            client=client,
            deliverable=deliverable,
            version=version,
            waiting=waiting,
            days=waited,
        )
        outbound.enqueue_call(
            session,
            f"version:{version.id}:nudge:{today.isoformat()}",
            "chat.postMessage",
            {"channel": client.channel_id, **message},
            client_id=client.id,
            audit_action="approval.nudged",
            audit_details={"version": version.id, "waiting": waiting},
        )
        version.nudged_on = today
        return 1

    # -- archiving ----------------------------------------------------------------------------

    def archive_offers(self, at: dt.datetime) -> int:
        """Offer to archive the channel of a client that completed a while ago; once, in the
        client's working hours (as its reminders), and never after its data was erased: the
        offer would be a new message to people who asked for them to end."""
        queued = 0
        with self.db.transaction() as session:
            done = session.scalars(
                select(Client).where(
                    Client.status == "completed",
                    Client.completed_at <= at - dt.timedelta(days=self.archive_after_days),
                    Client.channel_id.is_not(None),
                    ~was_erased(Client.id),
                    # Offered already: an agency's completed clients only grow, hour after hour.
                    ~exists().where(
                        OutboxMessage.key
                        == func.replace(ARCHIVE_OFFER_KEY, "{id}", cast(Client.id, String))
                    ),
                )
            )
            for client in done:
                if not working_hours_began(calendar_of(client), at, self.reminder_hour):
                    continue  # offered on a later run, once its working day has begun
                message = render_message("archive_offer", client=client)
                queued += outbound.enqueue_call(
                    session,
                    ARCHIVE_OFFER_KEY.format(id=client.id),
                    "chat.postMessage",
                    {"channel": client.channel_id, **message},
                    client_id=client.id,
                    audit_action="archive.offered",
                )
        return queued

    def archive(self, channel_id: str | None, cause: audit.Cause) -> Client:
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            if client.status != "completed":
                raise InvalidInput({"client": "Only a completed onboarding's channel is archived."})
            outbound.enqueue_call(
                session,
                f"client:{client.id}:archive",
                "conversations.archive",
                {"channel": client.channel_id},
                client_id=client.id,
                audit_action="channel.archived",
                audit_details={"by": cause.actor},
            )
            return client

    # -- muting -------------------------------------------------------------------------------

    def mute(self, channel_id: str | None, days: int, cause: audit.Cause) -> Client:
        if not 0 <= days <= MAX_MUTE_DAYS:
            raise InvalidInput({"days": f"Mute for 0 to {MAX_MUTE_DAYS} days."})
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            today = calendar_of(client).local_date(now)
            client.reminders_muted_until = today + dt.timedelta(days=days) if days else None
            audit.record(
                session,
                cause,
                "reminders.muted" if days else "reminders.unmuted",
                client_id=client.id,
                details={"until": client.reminders_muted_until.isoformat()}
                if client.reminders_muted_until
                else {},
                at=now,
            )
            return client


def _has_open_task_due_by(day: dt.date) -> ColumnElement[bool]:
    """The client has a task of its current stage, not done, due on `day` or before: the
    tasks `_remind_tasks` reads, for the sweep's list to leave out clients with none."""
    return exists().where(
        Task.client_id == Client.id,
        Task.stage_key == Client.stage_key,
        Task.done_at.is_(None),
        Task.due.is_not(None),
        Task.due <= day,
    )


def _pending_signoffs(query: Select) -> Select:
    """`query` narrowed to versions waiting for sign-off in an active client's channel (a
    completed client's may be archived: a nudge there fails, every business day, for good),
    and not an erased client's (its deliverables take no more decisions): the clients the
    sweeps visit (`under_way`)."""
    return (
        query.join(Deliverable, Deliverable.id == DeliverableVersion.deliverable_id)
        .join(Client, Client.id == Deliverable.client_id)
        .where(DeliverableVersion.status == "pending", under_way())
    )


@dataclass(frozen=True)
class Due:
    """A task to remind someone of today, and how late it is in business days (0: due today)."""

    task: Task
    kind: str  # "due" or "overdue"
    late: int
    assignee_left: bool = False  # its assignee's account is deactivated: told in the channel


def _remind(session: Session, client: Client, target: str, tasks: list[Due], today: dt.date) -> int:
    """One message to `target` (an assignee's DM, or the client's channel) for the day's tasks:
    a morning with eight tasks due is one message, not eight (and not eight of Slack's
    one-per-second posts to the channel)."""
    message = render_message("task_reminder", client=client, tasks=tasks)
    added = outbound.enqueue_call(
        session,
        # A task is in one message a day (`reminded_on`): the first task names the message.
        f"tasks:{client.id}:{target}:{today.isoformat()}:{tasks[0].task.id}",
        "chat.postMessage",
        {"channel": target, **message},
        client_id=client.id,
        audit_action="tasks.reminded",
        audit_details={
            kind: [d.task.number for d in tasks if d.kind == kind] for kind in ("due", "overdue")
        },
    )
    for d in tasks:
        d.task.reminders_sent += int(added) * _counted(d)
        d.task.reminded_on = today
    return int(added)


def _counted(d: Due) -> int:
    """What a reminder adds to its task's `reminders_sent`, which the cap reads. A first
    reminder that is an overdue one means the due day's was not sent (muted, a day off): it
    counts as well, or that task would get one overdue reminder more than the cap allows."""
    return 2 if d.kind == "overdue" and d.task.reminders_sent == 0 else 1
