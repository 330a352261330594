"""The app factory: wires settings, storage, the Slack gateway, services and Bolt listeners.

`build()` is used by `serve`, `socket`, the demo and the tests alike.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from onboard.bot import (
    approvals,
    cards,
    channels,
    deliverable_versions,
    intake,
    journey,
    onboarding,
    outbound,
    playbook_files,
    reminders,
    standups,
    surveys,
    tasks,
    weekly,
)
from onboard.bot.delivery import Delivery
from onboard.bot.gateway import LOOKUP_TIMEOUT, SlackCallError, SlackGateway, web_client
from onboard.bot.identity import Directory
from onboard.bot.inbox import MODAL_THREADS, Inbox
from onboard.bot.metrics import Metrics
from onboard.bot.settings import Settings
from onboard.bot.slack_connections import KeepAliveWebClient
from onboard.schedules.scheduler import Scheduler
from onboard.storage.db import Database
from onboard.storage.models import Client
from onboard.storage.schema import upgrade

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Onboard:
    """Everything one bot process holds; handlers reach services through it."""

    settings: Settings
    db: Database
    gateway: SlackGateway
    directory: Directory
    delivery: Delivery
    onboarding: onboarding.Onboarding
    journey: journey.Journey
    tasks: tasks.Tasks
    approvals: approvals.Approvals
    nudges: reminders.Nudges
    standups: standups.Standups
    digest: weekly.WeeklyDigest
    intake: intake.Intakes
    bolt: App
    inbox: Inbox
    clock: Callable[[], dt.datetime]

    scheduler: Scheduler | None = None
    metrics: Metrics = field(init=False)
    surveys: surveys.Surveys = field(init=False)

    def start_background(
        self, *, scheduler: bool = True, outbox: bool = True, work: bool = True
    ) -> None:
        """Deliver the outbox, do acked requests' work and run the sweeps, each unless told
        not to. Without `work`, this process's acks leave their work to another process."""
        if outbox:
            self.delivery.start()
        self.inbox.works_here = work
        if work:
            self.inbox.start()
        if scheduler:
            self.scheduler = Scheduler(
                self, standby_poll_seconds=self.settings.scheduler_standby_seconds
            )
            self.scheduler.start()

    def stop(self) -> None:
        self.inbox.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        self.delivery.stop()
        self.db.dispose()


def build(
    settings: Settings,
    *,
    clock: Callable[[], dt.datetime] = utc_now,
    migrate: bool = True,
    sending_clock: Callable[[], dt.datetime] | None = None,
) -> Onboard:
    """The bot, its services on `clock`. `sending_clock`: the outbox's, when Slack calls are
    made at another time than the one the services decide as of (`jobs run --at`)."""
    settings.require("SLACK_BOT_TOKEN")
    assert settings.slack_bot_token is not None
    token = settings.slack_bot_token.get_secret_value()
    # Kept open: a connection for each HTTP thread (an ack writes the inbox), each thread
    # doing acked work or opening a modal, and the outbox's and scheduler's own; opening one
    # is a new backend.
    threads = settings.http_threads + settings.after_ack_threads + MODAL_THREADS
    db = Database(settings.database_url, threads + 4)
    if migrate:
        upgrade(db)
    gateway = SlackGateway(web_client(token, settings.slack_api_url))
    # Who someone is is asked before many acks (a command's permission check): an answer
    # later than that would come after Slack's 3 s, so the user is told to try again while
    # the bot went on and did it. Its own connection, with a timeout inside the 3 s.
    lookups = SlackGateway(web_client(token, settings.slack_api_url, timeout=LOOKUP_TIMEOUT))
    directory = Directory(lookups, admins=settings.admins)
    delivery = Delivery(
        db,
        gateway,
        max_attempts=settings.outbox_max_attempts,
        poll_seconds=settings.outbox_poll_seconds,
        clock=sending_clock or clock,
    )
    outbound.install(delivery)
    delivery.register(
        channels.CREATE_CHANNEL,
        channels.make_executor(
            bot_user=lambda: directory.home()[1],
            is_recorded=lambda channel_id: _channel_recorded(db, channel_id),
            on_created=onboarding.channel_created,
        ),
        outbound.on_call_refused,
    )
    service = onboarding.Onboarding(
        db,
        playbook_files.available(settings.playbook_dir),
        onboarding.Team(settings.team, settings.slack_connect, settings.channel_private),
        clock,
        delivery.wake,
    )
    delivery.register(
        journey.CARD, cards.make_executor(db, clock), outbound.on_call_refused, coalesce=True
    )
    moves = journey.Journey(db, clock, directory.is_admin, delivery.wake)
    checklist = tasks.Tasks(db, clock, delivery.wake)
    signoffs = approvals.Approvals(db, gateway, clock, delivery.wake, directory.is_internal)
    delivery.register(
        deliverable_versions.MESSAGE,
        deliverable_versions.make_executor(db),
        outbound.on_call_refused,
        coalesce=True,
    )
    nudges = reminders.Nudges(
        db,
        clock,
        reminder_hour=settings.reminder_hour,
        approval_nudge_days=settings.approval_nudge_days,
        archive_after_days=settings.archive_after_days,
        directory=directory,
    )
    hypercare = standups.Standups(
        db,
        clock,
        delivery.wake,
        team=settings.team,
        admins=settings.admins,
        reminder_hour=settings.reminder_hour,
    )
    delivery.register(
        standups.MESSAGE,
        standups.make_executor(db, hypercare),
        outbound.on_call_refused,
        coalesce=True,
    )
    digest = weekly.WeeklyDigest(
        db,
        directory,
        lambda: _managers(settings, gateway),
        nudge_days=settings.approval_nudge_days,
    )
    delivery.register(weekly.CHART, weekly.execute_chart)
    intakes = intake.Intakes.install(
        db, directory, gateway, delivery, clock, reminder_hour=settings.reminder_hour
    )
    inbox = Inbox(db, settings.after_ack_threads, settings.inbox_lease_seconds)
    bolt = _bolt_app(settings, token, inbox)
    inbox.dispatch = bolt.dispatch
    bot = Onboard(
        settings,
        db,
        gateway,
        directory,
        delivery,
        service,
        moves,
        checklist,
        signoffs,
        nudges,
        hypercare,
        digest,
        intakes,
        bolt,
        inbox,
        clock,
    )

    from onboard.handlers import register

    bot.metrics = Metrics(db, clock)
    bot.surveys = surveys.Surveys(db, clock, delivery.wake)
    delivery.register(
        surveys.MESSAGE, surveys.make_executor(db, clock), outbound.on_call_refused, coalesce=True
    )
    for calls in (gateway, lookups):
        calls.on_error = lambda method, error: bot.metrics.slack_errors.labels(method, error).inc()
    delivery.on_sent = bot.metrics.outbox_sent.inc
    bot.metrics.after_ack.set_function(lambda: inbox.pending)
    bot.metrics.backlog(
        "inbox",
        "Acked Slack requests whose work is not done yet, in every process",
        "Age of the oldest acked request whose work is not done",
        inbox.waiting,
    )
    register(bot)
    return bot


def _bolt_app(settings: Settings, token: str, inbox: Inbox) -> App:
    # Interactive calls (views.open) must land within the trigger's 3 seconds: one quick
    # retry on a dropped connection, never a long wait.
    client = KeepAliveWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=5,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )
    secret = settings.slack_signing_secret
    return App(
        client=client,
        # Listeners run on the HTTP thread and Slack gets its answer when they return; what
        # comes after the ack goes to the inbox (its pool also serves Bolt's lazy listeners).
        process_before_response=True,
        listener_executor=inbox.pool,
        signing_secret=secret.get_secret_value() if secret else "socket-mode-unsigned",
        token_verification_enabled=False,
        # web.py checks every request's signature before parsing it; Socket Mode has none.
        # Any other way into `dispatch` (an OAuth route, another adapter) must check it first.
        request_verification_enabled=False,
        logger=logging.getLogger("onboard.bolt"),
    )


def _managers(settings: Settings, gateway: SlackGateway) -> list[str]:
    """ONBOARD_MANAGERS, plus the members of ONBOARD_MANAGER_GROUP when one is set."""
    managers = list(settings.managers)
    if settings.manager_group:
        try:
            members = gateway.call("usergroups.users.list", usergroup=settings.manager_group)
        except SlackCallError as exc:
            log.warning("manager group unavailable: %s", exc.error)
        else:
            managers += [u for u in members.get("users", []) if u not in managers]
    return managers


def _channel_recorded(db: Database, channel_id: str) -> bool:
    from sqlalchemy import select

    with db.transaction() as session:
        return session.scalar(select(Client.id).where(Client.channel_id == channel_id)) is not None
