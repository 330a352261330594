"""Starting a client's onboarding: validate the account manager's form, record the client,
and queue its channel, invitations, welcome and confirmation, all in one transaction.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onboard.bot import channels, journey, outbound, places
from onboard.bot.errors import InvalidInput
from onboard.bot.playbooks import TIERS, Playbook
from onboard.messages.render import render_message, render_texts
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import Client, Contact, OutboxMessage, ProcessedRequest

MAX_NAME = 150


@dataclass(frozen=True)
class NewClient:
    """The account manager's form, validated."""

    name: str
    tier: str
    contact_name: str
    contact_email: str
    timezone: str
    country: str
    go_live: dt.date
    playbook: str


@dataclass(frozen=True)
class Team:
    """Who joins every new client's channel, and how the channel is made."""

    members: tuple[str, ...]
    slack_connect: bool
    private: bool


def validate(form: dict[str, Any], playbooks: dict[str, Playbook], now: dt.datetime) -> NewClient:
    """Check every field, collecting a message per bad field (shown under it in the modal)."""
    errors: dict[str, str] = {}

    name = " ".join(str(form.get("name") or "").split())
    if not name:
        errors["name"] = "Enter the client's name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Keep the name under {MAX_NAME} characters."
    elif not channels.slug_for(name):
        errors["name"] = "This name gives no usable channel name: include some letters or digits."

    tier = str(form.get("tier") or "")
    if tier not in TIERS:
        errors["tier"] = "Choose Platinum, Gold or Silver."

    contact_name = " ".join(str(form.get("contact_name") or "").split())
    if not contact_name:
        errors["contact_name"] = "Enter the primary contact's name."
    elif len(contact_name) > 200:
        errors["contact_name"] = "Keep the name under 200 characters."

    email = str(form.get("contact_email") or "").strip()
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        errors["contact_email"] = "Enter an email address like name@company.com."

    timezone = str(form.get("timezone") or "")
    if timezone not in places.timezones():
        errors["timezone"] = "Choose the client's timezone from the list."
        zone: dt.tzinfo = dt.UTC
    else:
        zone = zoneinfo.ZoneInfo(timezone)

    # A country, or one of its regions ("GB-ENG") where public holidays differ by region.
    country = str(form.get("country") or "")
    # A code the holiday calendar would quietly replace (GB-XYZ by GB) is named as such, so
    # nobody takes its holidays as handled; the list check keeps the exact codes offered.
    problem = places.region_problem(country) if country.strip() else None
    if problem is not None:
        errors["country"] = problem
    elif country not in places.client_places():
        errors["country"] = "Choose the client's country or region from the list."

    go_live = form.get("go_live")
    if not isinstance(go_live, dt.date):
        try:
            go_live = dt.date.fromisoformat(str(go_live))
        except ValueError:
            go_live = None
            errors["go_live"] = "Pick the target go-live date."
    if go_live is not None and go_live < now.astimezone(zone).date():
        errors["go_live"] = "The go-live date is in the past: pick today or a later date."

    playbook = str(form.get("playbook") or "")
    if playbook not in playbooks:
        errors["playbook"] = "Choose one of the playbooks listed."

    if errors:
        raise InvalidInput(errors)
    assert isinstance(go_live, dt.date)
    return NewClient(name, tier, contact_name, email, timezone, country, go_live, playbook)


def start(
    db: Database,
    cause: audit.Cause,
    new: NewClient,
    playbook: Playbook,
    team: Team,
    now: dt.datetime,
    submission: str | None = None,
) -> Client | None:
    """Record the client and queue everything Slack must do for it; one transaction.

    `submission` names the form (its view ID): when Slack did not get the ack in time and the
    person submits the same form again, the second submission finds the first and adds nothing.
    """
    for attempt in range(5):
        try:
            with db.transaction() as session:
                if submission is not None:
                    key = f"submission:{submission}"
                    if session.get(ProcessedRequest, key) is not None:
                        return None
                    session.add(ProcessedRequest(key=key, at=now))
                return _record(session, cause, new, playbook, team, now)
        except IntegrityError:
            # Another request took the same slug between our check and our insert.
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _record(
    session: Session,
    cause: audit.Cause,
    new: NewClient,
    playbook: Playbook,
    team: Team,
    now: dt.datetime,
) -> Client:
    slug = _free_slug(session, channels.slug_for(new.name))
    client = Client(
        slug=slug,
        name=new.name,
        tier=new.tier,
        timezone=new.timezone,
        country=new.country,
        go_live=new.go_live,
        playbook_key=playbook.key,
        playbook=playbook.snapshot(),
        stage_key=playbook.stages[0].key,
        status="setting_up",
        account_manager=cause.actor,
        created_at=now,
    )
    contact = Contact(role="primary", name=new.contact_name, email=new.contact_email)
    client.contacts.append(contact)
    session.add(client)
    session.flush()
    journey.enter_stage(session, client, playbook.stages[0], cause, now)
    audit.record(
        session,
        cause,
        "client.created",
        client_id=client.id,
        subject=slug,
        details={
            "tier": new.tier,
            "timezone": new.timezone,
            "country": new.country,
            "go_live": new.go_live.isoformat(),
            "playbook": playbook.key,
            "stage": client.stage_key,
        },
        at=now,
    )
    audit.record(
        session,
        cause,
        "contact.added",
        client_id=client.id,
        subject=f"contact:{contact.id}",
        at=now,
    )
    invitees = [cause.actor, *(m for m in team.members if m != cause.actor)]
    outbox.enqueue(
        session,
        f"client:{client.id}:channel",
        channels.CREATE_CHANNEL,
        {
            "slug": slug,
            "is_private": team.private,
            "invite": invitees,
            "connect": team.slack_connect,
        },
        client_id=client.id,
        now=now,
    )
    return client


def _free_slug(session: Session, base: str) -> str:
    taken = set(session.scalars(select(Client.slug).where(Client.slug.like(f"{base}%"))))
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, 10_000) if f"{base}-{n}" not in taken)


def channel_created(row: OutboxMessage, channel: dict[str, Any]) -> Callable[[Session], None]:
    """What follows a new channel: record it, then queue topic, invites, welcome, confirmation."""

    def follow_up(session: Session) -> None:
        client = session.get_one(Client, row.client_id)
        client.channel_id, client.channel_name = channel["channel"], channel["name"]
        if client.status == "setting_up":  # the journey may have moved on while Slack was away
            client.status = "active"
        audit.record(
            session,
            audit.Cause.system(),
            "channel.created",
            client_id=client.id,
            subject=channel["channel"],
            details={"name": channel["name"], "private": channel["private"]},
        )
        _queue_channel_setup(session, client, row.payload)

    return follow_up


def _queue_channel_setup(session: Session, client: Client, setup: dict[str, Any]) -> None:
    playbook = Playbook.model_validate(client.playbook)
    stage = playbook.stages[0]
    channel, key = client.channel_id, f"client:{client.id}"
    assert channel is not None

    def call(step: str, method: str, args: dict[str, Any], action: str, **extra: Any) -> None:
        outbound.enqueue_call(
            session,
            f"{key}:{step}",
            method,
            args,
            client_id=client.id,
            audit_action=action,
            **extra,
        )

    # The stage current now: the journey may have moved on while Slack was away.
    journey.set_topic(session, client, playbook.stage(client.stage_key), f"{key}:topic")
    describe = render_texts("channel_description", client=client, stage=stage, playbook=playbook)
    call(
        "purpose",
        "conversations.setPurpose",
        {"channel": channel, "purpose": describe["purpose"]},
        "channel.purpose_set",
    )
    invitees = list(dict.fromkeys(setup["invite"]))
    for n, start in enumerate(range(0, len(invitees), 100)):
        batch = invitees[start : start + 100]
        call(
            f"invite:{n}",
            "conversations.invite",
            {"channel": channel, "users": ",".join(batch), "force": True},
            "channel.invited",
            audit_details={"users": batch},
        )
    if setup["connect"]:
        refused = render_message("connect_refused", client=client)
        call(
            "connect",
            "conversations.inviteShared",
            {"channel": channel, "emails": [client.contacts[0].email], "external_limited": True},
            "channel.connect_invited",
            audit_details={"contact": f"contact:{client.contacts[0].id}"},
            on_refused=[
                outbound.fallback(
                    f"{key}:connect-refused",
                    "chat.postMessage",
                    {"channel": channel, **refused},
                    audit_action="channel.connect_fallback_posted",
                )
            ],
        )
    welcome = render_message(
        "welcome",
        client=client,
        playbook=playbook,
        stage=stage,
        team=invitees,
    )
    call("welcome", "chat.postMessage", {"channel": channel, **welcome}, "channel.welcomed")
    journey.refresh_card(session, client, "first")
    confirmation = render_message("client_created", client=client, stage=stage)
    call(
        "confirmation",
        "chat.postMessage",
        {"channel": client.account_manager, **confirmation},
        "client.confirmation_sent",
        audit_details={"to": client.account_manager},
    )


class Onboarding:
    """The service behind `/onboard new`: the form's choices, and its submission."""

    def __init__(
        self,
        db: Database,
        playbooks: dict[str, Playbook],
        team: Team,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.playbooks = playbooks
        self.team = team
        self.clock = clock
        self.wake = wake

    def form_choices(self, typed_name: str, user_tz: str | None) -> dict[str, Any]:
        """What the "New client" modal offers, pre-filled from the command and the user."""
        from onboard.bot.playbooks import DEFAULT_PLAYBOOK

        default = (
            DEFAULT_PLAYBOOK if DEFAULT_PLAYBOOK in self.playbooks else next(iter(self.playbooks))
        )
        return {
            "name": " ".join(typed_name.split())[:MAX_NAME],
            "tiers": TIERS,
            "timezone": user_tz if user_tz in places.timezones() else None,
            "playbooks": {key: p.name for key, p in self.playbooks.items()},
            "default_playbook": default,
        }

    def form_again(self, typed: dict[str, Any], problem: str) -> dict[str, Any]:
        """The modal's choices once more, filled in as typed, saying why nothing was saved."""
        choices = self.form_choices(str(typed.get("name") or ""), typed.get("timezone"))
        if typed.get("playbook") in self.playbooks:
            choices["default_playbook"] = typed["playbook"]
        return choices | {"values": typed, "problem": problem, "countries": places.client_places()}

    def check(self, form: dict[str, Any]) -> NewClient:
        """The form validated; `InvalidInput` names each bad field. Reads nothing stored."""
        return validate(form, self.playbooks, self.clock())

    def create(
        self, new: NewClient, cause: audit.Cause, submission: str | None = None
    ) -> Client | None:
        """Record the client and queue its set-up, in one transaction.

        None when this very form (`submission`, its view ID) was already recorded.
        """
        client = start(
            self.db, cause, new, self.playbooks[new.playbook], self.team, self.clock(), submission
        )
        self.wake()
        return client

    def submit(
        self, form: dict[str, Any], cause: audit.Cause, submission: str | None = None
    ) -> Client | None:
        """`check`, then `create`: nothing is written when a field is wrong."""
        return self.create(self.check(form), cause, submission)
