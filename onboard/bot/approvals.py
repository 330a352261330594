"""Client sign-offs: approvers per client, deliverables in versions, one decision per approver.

The server decides who may decide, from its own records; a button only says what was clicked.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onboard.bot import live_messages
from onboard.bot.delivery import Outcome
from onboard.bot.erasure import ERASED_ACTION
from onboard.bot.errors import InvalidInput, NotAllowed, NotFound, Refused
from onboard.bot.gateway import SlackCallError, SlackGateway
from onboard.bot.journey import find_client, playbook_of, refresh_card, set_gate
from onboard.bot.playbooks import Gate, Stage
from onboard.messages.render import Mrkdwn, render_message
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import (
    Approver,
    AuditEvent,
    Client,
    Decision,
    Deliverable,
    DeliverableVersion,
    OutboxMessage,
)

MESSAGE = "deliverable.message"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
RULES = ("all", "any", "n")


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


@dataclass(frozen=True)
class Verdict:
    """What a click achieved, for the private answer to the person who clicked."""

    outcome: str  # recorded | already | refused
    text: str


@dataclass(frozen=True)
class ApproverChange:
    """The client's approvers after `/onboard approvers add|remove`, and what a removal did
    to versions waiting for sign-off (each shown as "“title” vN")."""

    client: Client
    approvers: list[str]
    settled: list[tuple[str, str]]  # (version, its new status): the removed were the last
    stranded: list[str]  # nobody left who may decide: a new version is needed


class Approvals:
    def __init__(
        self,
        db: Database,
        gateway: SlackGateway,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        is_internal: Callable[[str], bool],
    ) -> None:
        """`is_internal` (the directory's): whether someone is on the agency's team, who may
        not sign off for the client."""
        self.db = db
        self.gateway = gateway
        self.clock = clock
        self.wake = wake
        self.is_internal = is_internal

    # -- approvers ----------------------------------------------------------------------------

    def approvers(self, reference: str, channel_id: str | None) -> tuple[Client, list[str]]:
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            self._adopt_contacts(session, client)
            return client, _approver_ids(session, client.id)

    def change_approvers(
        self,
        channel_id: str | None,
        add: bool,
        users: list[str],
        cause: audit.Cause,
    ) -> ApproverChange:
        """Add or remove approvers. Approvers sign off for the client: the team's own people
        are refused, or the agency could pass its own
        gates. A removal settles the versions that waited only for those removed."""
        if not users:
            raise InvalidInput({"users": "Mention who: `/onboard approvers add @someone`."})
        if add:
            team = [u for u in dict.fromkeys(users) if _on_the_team(self.is_internal, u)]
            if team:
                who = ", ".join(f"<@{u}>" for u in team if _USER_ID.fullmatch(u))
                raise NotAllowed(
                    Mrkdwn(
                        f"{who} {'is' if len(team) == 1 else 'are'} on the onboarding team: "
                        "approvers sign off for the client, so only the client's people can "
                        "be approvers. Nobody was added."
                    )
                )
        now = self.clock()
        removed: set[str] = set()
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            current = set(_approver_ids(session, client.id))
            for user in users:
                if add and user not in current:
                    session.add(
                        Approver(
                            client_id=client.id, user_id=user, added_by=cause.actor, added_at=now
                        )
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
            settled, stranded = (
                self._resettle(session, client, removed, now) if removed else ([], [])
            )
            return ApproverChange(client, _approver_ids(session, client.id), settled, stranded)

    def _resettle(
        self, session: Session, client: Client, removed: set[str], now: dt.datetime
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """Settle again the pending versions that named someone just removed: the rest may
        all have decided already. A version with nobody left stays pending, for the team to
        post a new one (an "all" of no one would otherwise pass by itself)."""
        settled: list[tuple[str, str]] = []
        stranded: list[str] = []
        change = uuid.uuid4().hex[:16]
        pending = session.execute(
            select(DeliverableVersion, Deliverable)
            .join(Deliverable, Deliverable.id == DeliverableVersion.deliverable_id)
            .where(Deliverable.client_id == client.id, DeliverableVersion.status == "pending")
            .order_by(DeliverableVersion.id)
            # Locked as a decision locks it: a click on it in flight settles first, or after.
            .with_for_update(of=DeliverableVersion)
            .execution_options(populate_existing=True)
        ).all()
        for version, deliverable in pending:
            if removed.isdisjoint(version.approvers):
                continue
            shown = f"“{deliverable.title}” v{version.number}"
            if not still_designated(session, version, deliverable):
                stranded.append(shown)
                continue
            self._settle(session, version, deliverable, audit.Cause.system(), now)
            if version.status != "pending":
                settled.append((shown, version.status))
                _refresh(session, version, f"approvers:{change}")
        return settled, stranded

    def _adopt_contacts(self, session: Session, client: Client) -> None:
        """Contacts with a Slack account (Slack Connect included) become approvers once. One
        the team removed stays removed: its removal is in the audit chain, and adopting it
        again at the next listing would undo the team's decision."""
        removed = session.scalars(
            select(AuditEvent.subject).where(
                AuditEvent.client_id == client.id, AuditEvent.action == "approver.removed"
            )
        )
        known = {*_approver_ids(session, client.id), *removed}
        for contact in client.contacts:
            if contact.slack_user_id is None:
                try:
                    found = self.gateway.call("users.lookupByEmail", email=contact.email)
                except SlackCallError:
                    continue  # not in Slack yet (or Slack busy): try again next time
                contact.slack_user_id = found["user"]["id"]
            if contact.slack_user_id not in known:
                session.add(
                    Approver(
                        client_id=client.id,
                        user_id=contact.slack_user_id,
                        added_by="system",
                        added_at=self.clock(),
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

    # -- posting ------------------------------------------------------------------------------

    def form_choices(self, channel_id: str | None) -> dict[str, Any]:
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            self._adopt_contacts(session, client)
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
                "approvers": _approver_ids(session, client.id),
                "deliverables": open_deliverables,
            }

    def post(self, client_id: int, form: dict[str, Any], cause: audit.Cause) -> DeliverableVersion:
        now = self.clock()
        with self.db.transaction() as session:
            client = session.get(Client, client_id)
            if client is None:
                raise NotFound("That client no longer exists.")
            valid = _validate(form, client)
            designated = set(_approver_ids(session, client.id))
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
                previous = _latest(session, deliverable.id, lock=True)
                number = previous.number + 1
                if previous.status == "pending":
                    previous.status = "superseded"
                    _refresh(session, previous, f"superseded:{number}")
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
            _refresh(session, version, "posted")
        self.wake()
        return version

    # -- deciding -----------------------------------------------------------------------------

    def check_can_decide(self, version_id: int, user: str) -> str:
        """The deliverable's title (as typed) when `user` may decide on this version; else
        raise NotAllowed, auditing a refusal as `decide` does."""
        internal = self.is_internal(user)
        try:
            with self.db.transaction() as session:
                version, deliverable = _version(session, version_id)
                _refuse_unless_open(session, session.get_one(Client, deliverable.client_id))
                already = _decision_of(session, version, user)
                if already is not None:
                    raise NotAllowed(_already(already))
                _refuse_unless_pending(version, deliverable)
                _refuse_unless_may_decide(session, version, deliverable, user, internal)
                return deliverable.title
        except Refused as exc:
            self._audit_refused(version_id, user, exc.code)
            raise

    def decide(
        self,
        version_id: int,
        outcome: str,
        reason: str,
        cause: audit.Cause,
    ) -> Verdict:
        """Record `cause.actor`'s decision, if theirs to take: an approver still designated,
        of the client, on the newest version, while the client is active (not completed, not
        erased) and, for an approval, while the journey is at its gate's stage or past it."""
        if outcome not in ("approved", "changes_requested"):
            raise InvalidInput({"outcome": "unknown decision"})
        if outcome == "changes_requested" and not reason.strip():
            raise InvalidInput({"reason": "Say what should change."})
        internal = self.is_internal(cause.actor)  # Slack, maybe: before the transaction
        now = self.clock()
        try:
            with self.db.transaction() as session:
                version, deliverable = _version(session, version_id, lock=True)
                client = session.get_one(Client, deliverable.client_id)
                _refuse_unless_open(session, client)
                already = _decision_of(session, version, cause.actor)
                if already is not None:
                    return Verdict("already", _already(already))
                _refuse_unless_pending(version, deliverable)
                _refuse_unless_may_decide(session, version, deliverable, cause.actor, internal)
                held = stage_on_hold(client, deliverable.gate_key)
                if outcome == "approved" and held is not None:
                    raise Refused(
                        f"“{deliverable.title}” v{version.number} is on hold until "
                        f"{held.name}: the journey went back, and its sign-off “"
                        f"{_gate_name(held, deliverable.gate_key)}” opens again when "
                        f"{held.name} begins. Approve it then.",
                        "on_hold",
                    )
                session.add(
                    Decision(
                        version_id=version.id,
                        approver=cause.actor,
                        outcome=outcome,
                        reason=reason.strip()[:3000] or None,
                        decided_at=now,
                    )
                )
                session.flush()
                audit.record(
                    session,
                    cause,
                    "decision.recorded",
                    client_id=deliverable.client_id,
                    subject=f"deliverable:{deliverable.id}:v{version.number}",
                    details={"outcome": outcome, "has_reason": bool(reason.strip())},
                    at=now,
                )
                self._settle(session, version, deliverable, cause, now)
                _refresh(session, version, f"decision:{cause.actor}")
        except Refused as exc:
            self._audit_refused(version_id, cause.actor, exc.code)
            raise
        except IntegrityError:
            # A concurrent click of the same person won the race: the one decision stands.
            return Verdict("already", "Your decision was already recorded.")
        self.wake()
        return Verdict("recorded", f"Recorded: you {_words(outcome)} this.")

    def _settle(
        self,
        session: Session,
        version: DeliverableVersion,
        deliverable: Deliverable,
        cause: audit.Cause,
        now: dt.datetime,
    ) -> None:
        """Conclude the version once its rule is met, counting only the approvers still
        designated (the only ones who may decide): one removed is neither waited for nor
        counted. With nobody left it stays pending, and so it does while an approval would
        pass the gate of a stage ahead of the journey (reset when that stage begins)."""
        eligible = set(still_designated(session, version, deliverable))
        if not eligible:
            return
        decisions = [
            d
            for d in session.scalars(select(Decision).where(Decision.version_id == version.id))
            if d.approver in eligible
        ]
        approved = sum(1 for d in decisions if d.outcome == "approved")
        changes = sum(1 for d in decisions if d.outcome == "changes_requested")
        size = len(eligible)
        # N of M with fewer than N left: every one left, as "all" of those left.
        needed = {"all": size, "any": 1, "n": min(deliverable.required, size)}[deliverable.rule]
        client = session.get_one(Client, deliverable.client_id)
        if approved >= needed:
            if stage_on_hold(client, deliverable.gate_key) is not None:
                return
            version.status, version.decided_at = "approved", now
        elif size - changes < needed:
            version.status, version.decided_at = "changes_requested", now
        else:
            return
        audit.record(
            session,
            audit.Cause.system(),
            f"deliverable.{version.status}",
            client_id=client.id,
            subject=f"deliverable:{deliverable.id}:v{version.number}",
            details={"approved": approved, "changes_requested": changes, "rule": deliverable.rule},
            at=now,
        )
        if version.status == "approved" and deliverable.gate_key:
            set_gate(
                session,
                client,
                deliverable.gate_key,
                True,
                audit.Cause.system(),
                now,
                note=f"deliverable {deliverable.id} v{version.number} approved",
            )
            refresh_card(session, client, f"gate:{deliverable.gate_key}:{version.id}")

    def _audit_refused(self, version_id: int, user: str, code: str) -> None:
        with self.db.transaction() as session:
            version = session.get(DeliverableVersion, version_id)
            deliverable = session.get(Deliverable, version.deliverable_id) if version else None
            audit.record(
                session,
                audit.Cause(actor=user),
                "decision.refused",
                client_id=deliverable.client_id if deliverable else None,
                subject=f"version:{version_id}",
                details={"why": code},
            )


# -- rules --------------------------------------------------------------------------------------


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
    if not all(isinstance(a, str) and _USER_ID.fullmatch(a) for a in approvers):
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


def still_designated(
    session: Session, version: DeliverableVersion, deliverable: Deliverable
) -> list[str]:
    """The version's approvers who are still the client's approvers: only they may decide,
    so only they are counted, waited for and nudged."""
    designated = set(_approver_ids(session, deliverable.client_id))
    return [u for u in version.approvers if u in designated]


def stage_on_hold(client: Client, gate_key: str | None) -> Stage | None:
    """The stage of `gate_key` when it is ahead of the journey (sent back since the version
    was posted): an approval now would pass a gate that opens afresh when that stage begins."""
    if gate_key is None or client.status != "active":
        return None
    stages = playbook_of(client).stages
    here = next((i for i, s in enumerate(stages) if s.key == client.stage_key), len(stages))
    for index, stage in enumerate(stages):
        if any(g.key == gate_key for g in stage.gates):
            return stage if index > here else None
    return None


def _kept_gate(client: Client, gate_key: str | None) -> str | None:
    """The replaced version's gate, for a new version whose form names none: kept while it is
    a sign-off of the current stage, or of one ahead (then held until that stage); a passed
    stage's gate decides nothing any more."""
    if gate_key is None:
        return None
    if gate_key in {g.key for g in _signed_off_gates(client)}:
        return gate_key
    return gate_key if stage_on_hold(client, gate_key) is not None else None


def _gate_name(stage: Stage, gate_key: str | None) -> str:
    return next((g.name for g in stage.gates if g.key == gate_key), gate_key or "")


def _refuse_unless_may_decide(
    session: Session,
    version: DeliverableVersion,
    deliverable: Deliverable,
    user: str,
    internal: bool,
) -> None:
    """Only the version's approvers still designated decide, and never the team's own people
    (designated before they were refused as approvers, or listed by a stale form)."""
    allowed = still_designated(session, version, deliverable)
    if user not in allowed:
        who = ", ".join(f"<@{u}>" for u in allowed if _USER_ID.fullmatch(u))
        if who:
            raise Refused(Mrkdwn(f"Only {who} can decide on this deliverable."), "not_an_approver")
        raise Refused(
            "Nobody who may still decide on this version is left: the team will post a new one.",
            "not_an_approver",
        )
    if internal:
        raise Refused(
            "Approvers sign off for the client: the onboarding team cannot decide on its own "
            "deliverable.",
            "team_member",
        )


def _on_the_team(is_internal: Callable[[str], bool], user: str) -> bool:
    try:
        return is_internal(user)
    except NotAllowed:  # Slack knows no such user here: not one of the team, at least
        return False


def _refuse_unless_open(session: Session, client: Client) -> None:
    """Decisions are for an onboarding under way: not once it completed, and never after
    the client's data was erased (a decision's reason would be new personal data)."""
    erased = session.scalar(
        select(AuditEvent.action)
        .where(AuditEvent.client_id == client.id, AuditEvent.action == ERASED_ACTION)
        .limit(1)
    )
    if erased is not None:
        raise Refused(
            "This client's records were erased: its deliverables take no more decisions.",
            "client_erased",
        )
    if client.status != "active":
        done = "has completed onboarding" if client.status == "completed" else "is not under way"
        raise Refused(f"{client.name} {done}: its sign-offs are closed.", "client_closed")


def _decision_of(session: Session, version: DeliverableVersion, user: str) -> Decision | None:
    return session.scalars(
        select(Decision).where(Decision.version_id == version.id, Decision.approver == user)
    ).first()


def _already(decision: Decision) -> str:
    return (
        f"You already {_words(decision.outcome)} this version: one decision per approver. "
        "Ask the team for a new version if something should change."
    )


def _refuse_unless_pending(version: DeliverableVersion, deliverable: Deliverable) -> None:
    if version.status == "superseded":
        raise Refused(
            f"This is an old version of “{deliverable.title}”: decide on the newest.", "superseded"
        )
    if version.status != "pending":
        raise Refused(f"“{deliverable.title}” v{version.number} is already decided.", "decided")


def _words(outcome: str) -> str:
    return "approved" if outcome == "approved" else "requested changes to"


def _approver_ids(session: Session, client_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Approver.user_id).where(Approver.client_id == client_id).order_by(Approver.id)
        )
    )


def _latest(session: Session, deliverable_id: int, *, lock: bool = False) -> DeliverableVersion:
    query = (
        select(DeliverableVersion)
        .where(DeliverableVersion.deliverable_id == deliverable_id)
        .order_by(DeliverableVersion.number.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()  # type: ignore[return-value]


def _version(
    session: Session, version_id: int, *, lock: bool = False
) -> tuple[DeliverableVersion, Deliverable]:
    query = (
        select(DeliverableVersion, Deliverable)
        .join(Deliverable, Deliverable.id == DeliverableVersion.deliverable_id)
        .where(DeliverableVersion.id == version_id)
    )
    if lock:  # concurrent decisions on one version settle in turn
        query = query.with_for_update(of=DeliverableVersion)
    found = session.execute(query).first()
    if found is None:
        raise NotFound("This deliverable no longer exists.")
    version, deliverable = found
    return version, deliverable


def _refresh(session: Session, version: DeliverableVersion, reason: str) -> None:
    deliverable = session.get_one(Deliverable, version.deliverable_id)
    outbox.enqueue(
        session,
        f"version:{version.id}:{reason}",
        MESSAGE,
        {"version_id": version.id},
        client_id=deliverable.client_id,
    )


# -- the live message ---------------------------------------------------------------------------


def make_executor(db: Database) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    def load(session: Session, payload: dict[str, Any]) -> live_messages.Shown:
        version, deliverable = _version(session, payload["version_id"])
        client = session.get_one(Client, deliverable.client_id)
        decisions = list(
            session.scalars(
                select(Decision).where(Decision.version_id == version.id).order_by(Decision.id)
            )
        )
        newest = _latest(session, deliverable.id)
        message = render_message(
            "deliverable",
            client=client,
            deliverable=deliverable,
            version=version,
            decisions=decisions,
            newest=newest.number,
        )
        assert client.channel_id is not None
        return live_messages.Shown(
            client.channel_id, version.message_ts, message, f"version:{version.id}"
        )

    def remember(session: Session, payload: dict[str, Any], ts: str) -> None:
        version = session.get_one(DeliverableVersion, payload["version_id"])
        version.message_ts = ts

    return live_messages.make_executor(db, load, remember)
