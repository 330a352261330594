"""Settling a version: concluded once its rule (all, any, N of M) is met or can no longer be.

Only the approvers still designated count, and an approval holds while its gate's stage is ahead.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot.approvers import still_designated
from onboard.bot.deliverable_versions import refresh
from onboard.bot.journey import playbook_of, refresh_card, set_gate
from onboard.bot.playbooks import Stage
from onboard.storage import audit
from onboard.storage.models import Client, Decision, Deliverable, DeliverableVersion

RULES = ("all", "any", "n")


def settle(
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
    needed = {"all": size, "any": 1, "n": min(version.required, size)}[version.rule]
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
        details={"approved": approved, "changes_requested": changes, "rule": version.rule},
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


def resettle(
    session: Session, client: Client, removed: set[str], now: dt.datetime
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
        shown = f"“{version.title}” v{version.number}"
        if not still_designated(session, version, deliverable):
            stranded.append(shown)
            continue
        settle(session, version, deliverable, audit.Cause.system(), now)
        if version.status != "pending":
            settled.append((shown, version.status))
            refresh(session, version, f"approvers:{change}")
    return settled, stranded


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
