"""Deciding on a version: one decision per approver, recorded only when it is theirs to take.

The server decides who may decide, from its own records; a button only says what was clicked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onboard.bot.active_clients import refuse_unless_under_way
from onboard.bot.approvers import USER_ID, still_designated
from onboard.bot.deliverable_versions import find_version, refresh
from onboard.bot.errors import InvalidInput, NotAllowed, Refused
from onboard.bot.playbooks import Stage
from onboard.bot.settlement import settle, stage_on_hold
from onboard.messages.render import Mrkdwn
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, Decision, Deliverable, DeliverableVersion

# What an erased or completed client's refusal says (active_clients.refuse_unless_under_way).
CLOSED_TO_DECISIONS = "its sign-offs take no more decisions"


@dataclass(frozen=True)
class Verdict:
    """What a click achieved, for the private answer to the person who clicked."""

    outcome: str  # recorded | already | refused
    text: str


class Decisions:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        is_internal: Callable[[str], bool],
    ) -> None:
        """`is_internal` (the directory's): whether someone is on the agency's team, who may
        not decide for the client."""
        self.db = db
        self.clock = clock
        self.wake = wake
        self.is_internal = is_internal

    def check_can_decide(self, version_id: int, user: str, channel: str | None = None) -> str:
        """The deliverable's title (as typed) when `user` may decide on this version; else
        raise NotAllowed, auditing a refusal as `decide` does. `channel`: where the button
        was clicked."""
        internal = self.is_internal(user)
        try:
            with self.db.transaction() as session:
                version, deliverable = find_version(session, version_id)
                client = session.get_one(Client, deliverable.client_id)
                trusted = internal or channel in (None, client.channel_id)
                _refuse_unless_theirs(session, version, deliverable, user, trusted)
                refuse_unless_under_way(session, client, CLOSED_TO_DECISIONS)
                already = _decision_of(session, version, user)
                if already is not None:
                    raise NotAllowed(_already(already))
                _refuse_unless_pending(version, deliverable)
                _refuse_unless_may_decide(session, version, deliverable, user, internal)
                return version.title
        except Refused as exc:
            self._audit_refused(version_id, user, exc.code)
            raise

    def decide(
        self,
        version_id: int,
        outcome: str,
        reason: str,
        cause: audit.Cause,
        channel: str | None = None,
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
                version, deliverable = find_version(session, version_id, lock=True)
                client = session.get_one(Client, deliverable.client_id)
                trusted = internal or channel in (None, client.channel_id)
                _refuse_unless_theirs(session, version, deliverable, cause.actor, trusted)
                refuse_unless_under_way(session, client, CLOSED_TO_DECISIONS)
                already = _decision_of(session, version, cause.actor)
                if already is not None:
                    return Verdict("already", _already(already))
                _refuse_unless_pending(version, deliverable)
                _refuse_unless_may_decide(session, version, deliverable, cause.actor, internal)
                held = stage_on_hold(client, deliverable.gate_key)
                if outcome == "approved" and held is not None:
                    raise Refused(
                        f"“{version.title}” v{version.number} is on hold until "
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
                settle(session, version, deliverable, cause, now)
                refresh(session, version, f"decision:{cause.actor}")
        except Refused as exc:
            self._audit_refused(version_id, cause.actor, exc.code)
            raise
        except IntegrityError:
            # A concurrent click of the same person won the race: the one decision stands.
            return Verdict("already", "Your decision was already recorded.")
        self.wake()
        return Verdict("recorded", f"Recorded: you {_words(outcome)} this.")

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


def _gate_name(stage: Stage, gate_key: str | None) -> str:
    return next((g.name for g in stage.gates if g.key == gate_key), gate_key or "")


def _refuse_unless_theirs(
    session: Session,
    version: DeliverableVersion,
    deliverable: Deliverable,
    user: str,
    trusted: bool,
) -> None:
    """First, before any answer that names something: a button clicked outside the client's
    channel, by someone outside the agency who is not among the version's approvers, learns
    nothing of it. A button's value is the clicker's to forge, and each refusal below names
    the client, the title or the approvers: another client's user trying IDs in turn would
    read every client's deliverables. `trusted`: someone of the agency, or a click in the
    client's own channel, or the changes form (opened only once its click passed this)."""
    if trusted or user in version.approvers:
        return
    if user in still_designated(session, version, deliverable):
        return
    raise Refused("Only this deliverable's approvers can decide on it.", "not_an_approver")


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
        who = ", ".join(f"<@{u}>" for u in allowed if USER_ID.fullmatch(u))
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
        raise Refused(f"“{version.title}” v{version.number} is already decided.", "decided")


def _words(outcome: str) -> str:
    return "approved" if outcome == "approved" else "requested changes to"
