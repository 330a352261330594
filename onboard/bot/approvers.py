"""Who may sign off for a client: its approvers, adopted from its contacts or named by the team.

Approvers sign off for the client, so the agency's own people are never among them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot.errors import InvalidInput, NotAllowed
from onboard.bot.gateway import SlackCallError, SlackGateway
from onboard.bot.identity import on_the_team
from onboard.messages.render import Mrkdwn
from onboard.storage import audit
from onboard.storage.models import Approver, AuditEvent, Client, Deliverable, DeliverableVersion

USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class ApproverChange:
    """The client's approvers after `/onboard approvers add|remove`, and what a removal did
    to versions waiting for sign-off (each shown as "“title” vN")."""

    client: Client
    approvers: list[str]
    settled: list[tuple[str, str]]  # (version, its new status): the removed were the last
    stranded: list[str]  # nobody left who may decide: a new version is needed


def approver_ids(session: Session, client_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Approver.user_id).where(Approver.client_id == client_id).order_by(Approver.id)
        )
    )


def still_designated(
    session: Session, version: DeliverableVersion, deliverable: Deliverable
) -> list[str]:
    """The version's approvers who are still the client's approvers: only they may decide,
    so only they are counted, waited for and nudged."""
    designated = set(approver_ids(session, deliverable.client_id))
    return [u for u in version.approvers if u in designated]


def refuse_unless_may_change(
    is_internal: Callable[[str], bool], add: bool, users: list[str]
) -> None:
    """Someone must be named, and none of the team's own people added, or the agency could
    pass its own gates."""
    if not users:
        raise InvalidInput({"users": "Mention who: `/onboard approvers add @someone`."})
    if add:
        team = [u for u in dict.fromkeys(users) if on_the_team(is_internal, u)]
        if team:
            who = ", ".join(f"<@{u}>" for u in team if USER_ID.fullmatch(u))
            raise NotAllowed(
                Mrkdwn(
                    f"{who} {'is' if len(team) == 1 else 'are'} on the onboarding team: "
                    "approvers sign off for the client, so only the client's people can "
                    "be approvers. Nobody was added."
                )
            )


def change(
    session: Session,
    client: Client,
    add: bool,
    users: list[str],
    cause: audit.Cause,
    now: dt.datetime,
) -> set[str]:
    """Add or remove the client's approvers, each change audited; the users removed."""
    removed: set[str] = set()
    current = set(approver_ids(session, client.id))
    for user in users:
        if add and user not in current:
            session.add(
                Approver(client_id=client.id, user_id=user, added_by=cause.actor, added_at=now)
            )
            audit.record(
                session, cause, "approver.added", client_id=client.id, subject=user, at=now
            )
        elif not add and user in current:
            session.execute(
                Approver.__table__.delete().where(
                    Approver.client_id == client.id, Approver.user_id == user
                )
            )
            removed.add(user)
            audit.record(
                session,
                cause,
                "approver.removed",
                client_id=client.id,
                subject=user,
                at=now,
            )
    session.flush()
    return removed


def adopt_contacts(
    session: Session,
    client: Client,
    gateway: SlackGateway,
    clock: Callable[[], dt.datetime],
) -> None:
    """Contacts with a Slack account (Slack Connect included) become approvers once. One
    the team removed stays removed: its removal is in the audit chain, and adopting it
    again at the next listing would undo the team's decision."""
    removed = session.scalars(
        select(AuditEvent.subject).where(
            AuditEvent.client_id == client.id, AuditEvent.action == "approver.removed"
        )
    )
    known = {*approver_ids(session, client.id), *removed}
    for contact in client.contacts:
        if contact.slack_user_id is None:
            try:
                found = gateway.call("users.lookupByEmail", email=contact.email)
            except SlackCallError:
                continue  # not in Slack yet (or Slack busy): try again next time
            contact.slack_user_id = found["user"]["id"]
        if contact.slack_user_id not in known:
            session.add(
                Approver(
                    client_id=client.id,
                    user_id=contact.slack_user_id,
                    added_by="system",
                    added_at=clock(),
                )
            )
            audit.record(
                session,
                audit.Cause.system(),
                "approver.added",
                client_id=client.id,
                subject=contact.slack_user_id,
                details={"from": f"contact:{contact.id}"},
            )
            known.add(contact.slack_user_id)
    session.flush()
