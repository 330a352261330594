"""Posting deliverables for sign-off: the form, its checks, and each new version of one.

A new version supersedes the pending one before it; decisions are the job of `decisions`.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from onboard.bot.approvers import USER_ID, adopt_contacts, approver_ids
from onboard.bot.deliverable_versions import latest, refresh
from onboard.bot.errors import InvalidInput, NotFound
from onboard.bot.gateway import SlackGateway
from onboard.bot.journey import find_client, playbook_of
from onboard.bot.playbooks import Gate
from onboard.bot.settlement import RULES, stage_on_hold
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, Deliverable, DeliverableVersion


@dataclass(frozen=True)
class DeliverableForm:
    title: str
    link: str | None
    description: str | None
    gate_key: str | None
    approvers: list[str]
    rule: str
    required: int
    replaces: int | None  # a deliverable ID: this is its next version


class Deliverables:
    def __init__(
        self,
        db: Database,
        gateway: SlackGateway,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.clock = clock
        self.wake = wake

    def form_choices(self, channel_id: str | None) -> dict[str, Any]:
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            adopt_contacts(session, client, self.gateway, self.clock)
            gates = [(g.key, g.name) for g in _signed_off_gates(client)]
            open_deliverables = [
                (d.id, d.title)
                for d in session.scalars(
                    select(Deliverable)
                    .where(Deliverable.client_id == client.id)
                    .order_by(Deliverable.id)
                )
            ]
            return {
                "client_id": client.id,
                "gates": gates,
                "approvers": approver_ids(session, client.id),
                "deliverables": open_deliverables,
            }

    def post(self, client_id: int, form: dict[str, Any], cause: audit.Cause) -> DeliverableVersion:
        now = self.clock()
        with self.db.transaction() as session:
            client = session.get(Client, client_id)
            if client is None:
                raise NotFound("That client no longer exists.")
            valid = _validate(form, client)
            designated = set(approver_ids(session, client.id))
            strangers = [u for u in valid.approvers if u not in designated]
            if strangers:
                raise InvalidInput(
                    {
                        "approvers": "Only the client's approvers can sign off: add them "
                        "first with `/onboard approvers add @name`."
                    }
                )
            if valid.replaces is not None:
                deliverable = session.get(Deliverable, valid.replaces)
                if deliverable is None or deliverable.client_id != client.id:
                    raise InvalidInput({"replaces": "Choose one of this client's deliverables."})
                # Locked: a decision on it in flight (PostgreSQL) commits first, and this
                # then sees it approved instead of superseding it over the decision.
                previous = latest(session, deliverable.id, lock=True)
                number = previous.number + 1
                if previous.status == "pending":
                    previous.status = "superseded"
                    refresh(session, previous, f"superseded:{number}")
                # A gate left empty keeps the replaced version's: the form does not show it.
                deliverable.title = valid.title
                deliverable.gate_key = valid.gate_key or _kept_gate(client, deliverable.gate_key)
                deliverable.rule, deliverable.required = valid.rule, valid.required
            else:
                deliverable = Deliverable(
                    client_id=client.id,
                    title=valid.title,
                    gate_key=valid.gate_key,
                    rule=valid.rule,
                    required=valid.required,
                    created_by=cause.actor,
                    created_at=now,
                )
                session.add(deliverable)
                session.flush()
                number = 1
            version = DeliverableVersion(
                deliverable_id=deliverable.id,
                number=number,
                title=valid.title,
                rule=valid.rule,
                required=valid.required,
                link=valid.link,
                description=valid.description,
                approvers=valid.approvers,
                status="pending",
                posted_at=now,
            )
            session.add(version)
            session.flush()
            audit.record(
                session,
                cause,
                "deliverable.posted",
                client_id=client.id,
                subject=f"deliverable:{deliverable.id}:v{number}",
                details={
                    "gate": deliverable.gate_key,
                    "rule": valid.rule,
                    "required": valid.required,
                    "approvers": valid.approvers,
                },
                at=now,
            )
            refresh(session, version, "posted")
        self.wake()
        return version


def _validate(form: dict[str, Any], client: Client) -> DeliverableForm:
    errors: dict[str, str] = {}
    title = " ".join(str(form.get("title") or "").split())
    if not title:
        errors["title"] = "Give the deliverable a title."
    elif len(title) > 150:
        errors["title"] = "Keep the title under 150 characters."
    link = str(form.get("link") or "").strip() or None
    if link is not None:
        try:
            parts = urllib.parse.urlsplit(link)
        except ValueError:  # "https://[tenant].example": brackets are for IPv6 only
            parts = urllib.parse.SplitResult("", "", "", "", "")
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 3000:
            errors["link"] = "Paste a full link starting with https://"
    description = str(form.get("description") or "").strip() or None
    if description and len(description) > 2500:
        errors["description"] = "Keep the description under 2,500 characters."
    gate = form.get("gate") or None
    if gate is not None and gate not in {g.key for g in _signed_off_gates(client)}:
        errors["gate"] = "Choose one of this stage's sign-off gates."
    approvers = list(dict.fromkeys(form.get("approvers") or []))
    if not all(isinstance(a, str) and USER_ID.fullmatch(a) for a in approvers):
        errors["approvers"] = "Choose approvers from the list."
    elif not approvers:
        errors["approvers"] = "Choose at least one approver."
    rule = str(form.get("rule") or "all")
    if rule not in RULES:
        errors["rule"] = "Choose all, any, or a number of approvers."
    required = 1
    if rule == "n":
        raw = str(form.get("required") or "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= max(1, len(approvers)):
            errors["required"] = f"Enter a number from 1 to {max(1, len(approvers))}."
        else:
            required = int(raw)
    replaces = form.get("replaces")
    if errors:
        raise InvalidInput(errors)
    return DeliverableForm(
        title,
        link,
        description,
        gate,
        approvers,
        rule,
        required,
        int(replaces) if replaces else None,
    )


def _signed_off_gates(client: Client) -> list[Gate]:
    """The gates a deliverable's approval may pass: the current stage's sign-offs. A later
    stage's gate opens afresh when that stage is entered, which would undo an approval given
    before it."""
    return [g for g in playbook_of(client).stage(client.stage_key).gates if g.kind == "approval"]


def _kept_gate(client: Client, gate_key: str | None) -> str | None:
    """The replaced version's gate, for a new version whose form names none: kept while it is
    a sign-off of the current stage, or of one ahead (then held until that stage); a passed
    stage's gate decides nothing any more."""
    if gate_key is None:
        return None
    if gate_key in {g.key for g in _signed_off_gates(client)}:
        return gate_key
    return gate_key if stage_on_hold(client, gate_key) is not None else None
