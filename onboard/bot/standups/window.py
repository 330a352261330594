"""The hypercare window: started (or restarted) on entering the stage, left or exited into BAU,
and the milestones in between: every exit criterion met, or the window over without them.
A playbook without a hypercare stage goes into BAU when the client completes (`complete`).

Each function runs inside the sweep's transaction, under the client's lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot import outbound
from onboard.bot.calendar import BusinessCalendar
from onboard.bot.standups import records
from onboard.bot.standups.care import Care, review_cadence
from onboard.bot.standups.reviews import REVIEW_GRACE_DAYS
from onboard.bot.standups.schedule import DAILY, WEEKLY, review_dates, slots, standup_time
from onboard.messages.render import render_message
from onboard.storage import audit
from onboard.storage.models import Client, Hypercare


def start(session: Session, client: Client, row: Hypercare, care: Care, at: dt.datetime) -> int:
    """The client entered the hypercare stage (or entered it again): plan and announce it."""
    again = row.started_at is not None
    started = client.stage_entered_at or at
    calendar = records.calendar_with_days_off(session, client)
    row.status, row.stage_key, row.started_at = "active", care.stage_key, started
    row.start_date = calendar.local_date(started)
    row.end_date = row.start_date + dt.timedelta(days=care.rules.days - 1)
    row.ended_at = row.review_cadence = row.bau_started_on = None
    planned = slots(row, care.rules, calendar)
    assert client.channel_id is not None
    message = render_message(
        "hypercare_started",
        client=client,
        care=care,
        row=row,
        standups=[s.day for s in planned if s.kind == DAILY],
        reviews=[s.day for s in planned if s.kind == WEEKLY],
        time=standup_time(row, care.rules),
        criteria=records.criteria(session, client, care),
    )
    outbound.enqueue_call(
        session,
        f"hypercare:{client.id}:started:{started.isoformat()}",
        "chat.postMessage",
        {"channel": client.channel_id, **message},
        client_id=client.id,
        audit_action="hypercare.announced",
        not_before=at,
    )
    audit.record(
        session,
        audit.Cause.system(),
        "hypercare.restarted" if again else "hypercare.started",
        client_id=client.id,
        subject=care.stage_key,
        details={
            "from": row.start_date.isoformat(),
            "to": row.end_date.isoformat(),
            "standups": [s.day.isoformat() for s in planned if s.kind == DAILY],
        },
        at=at,
    )
    return 1


def finish(session: Session, client: Client, row: Hypercare, care: Care, at: dt.datetime) -> int:
    """The client left the hypercare stage: forward, BAU begins; back, hypercare stops."""
    keys = [s["key"] for s in client.playbook.get("stages", [])]
    forward = client.status == "completed" or (
        client.stage_key in keys and keys.index(client.stage_key) > care.stage_index
    )
    if not forward:
        row.status, row.ended_at = "left", at
        audit.record(
            session,
            audit.Cause.system(),
            "hypercare.left",
            client_id=client.id,
            subject=client.stage_key,
            at=at,
        )
        return 0
    criteria = records.criteria(session, client, care)
    met = sum(1 for _, _, status in criteria if status == "passed")
    ended = (client.completed_at if client.status == "completed" else None) or (
        client.stage_entered_at or at
    )
    row.status, row.ended_at = "exited", ended
    audit.record(
        session,
        audit.Cause.system(),
        "hypercare.exited",
        client_id=client.id,
        subject=care.stage_key,
        details={"criteria_met": met, "criteria": len(criteria)},
        at=at,
    )
    return _bau(session, client, row, ended, at, criteria=criteria, met=met)


def complete(session: Session, client: Client, row: Hypercare, at: dt.datetime) -> int:
    """A client whose playbook has no hypercare stage completed: BAU begins on its completion
    day, with the reviews its playbook gives its tier (none: the row only marks it seen)."""
    row.status = records.BAU
    ended = client.completed_at or at
    if review_cadence(client) is None:
        row.bau_started_on = records.calendar_with_days_off(session, client).local_date(ended)
        return 0
    # Clients completed before BAU started this way are not told now of reviews long past.
    announce = at - ended <= dt.timedelta(days=REVIEW_GRACE_DAYS)
    return _bau(session, client, row, ended, at, announce=announce)


def _bau(
    session: Session,
    client: Client,
    row: Hypercare,
    ended: dt.datetime,
    at: dt.datetime,
    *,
    criteria: list[tuple[str, str, str]] | None = None,
    met: int = 0,
    announce: bool = True,
) -> int:
    """BAU from the local day of `ended`: the tier's review cadence, audited and announced."""
    calendar = records.calendar_with_days_off(session, client)
    row.bau_started_on = calendar.local_date(ended)
    cadence = review_cadence(client)
    row.review_cadence = cadence
    first = next(review_dates(row.bau_started_on, cadence, calendar)) if cadence else None
    reviewer = row.sdm or client.account_manager
    audit.record(
        session,
        audit.Cause.system(),
        "bau.started",
        client_id=client.id,
        details={
            "cadence": cadence,
            "reviewer": reviewer,
            "first_review": first.isoformat() if first else None,
        },
        at=at,
    )
    if client.channel_id is None or not announce:
        return 0
    message = render_message(
        "hypercare_bau",
        client=client,
        cadence=cadence,
        first=first,
        reviewer=reviewer,
        criteria=criteria or [],
        met=met,
        after_hypercare=criteria is not None,
    )
    outbound.enqueue_call(
        session,
        f"hypercare:{client.id}:bau:{row.bau_started_on.isoformat()}",
        "chat.postMessage",
        {"channel": client.channel_id, **message},
        client_id=client.id,
        audit_action="bau.announced",
        not_before=at,
    )
    return 1


def milestones(
    session: Session,
    client: Client,
    row: Hypercare,
    care: Care,
    calendar: BusinessCalendar,
    at: dt.datetime,
) -> int:
    """Say once when every exit criterion holds, and once when the window ends without.

    "Once" is the outbox key, checked under the client's lock before it is written.
    """
    criteria = records.criteria(session, client, care)
    held = bool(criteria) and all(status == "passed" for _, _, status in criteria)
    assert row.started_at is not None and row.end_date is not None
    if held and client.channel_id:
        key = f"hypercare:{client.id}:exit-ready:{row.started_at.isoformat()}"
        if records.queued(session, key):
            return 0
        message = render_message("hypercare_exit_ready", client=client, care=care)
        return _announce(
            session, client, key, client.channel_id, message, "hypercare.exit_ready", at
        )
    if not held and calendar.local_date(at) > row.end_date:
        key = f"hypercare:{client.id}:overrun:{row.started_at.isoformat()}"
        if records.queued(session, key):
            return 0
        message = render_message(
            "hypercare_overrun", client=client, care=care, row=row, criteria=criteria
        )
        return _announce(
            session,
            client,
            key,
            client.account_manager,
            message,
            "hypercare.window_ended",
            at,
            details={"open": [k for k, _, s in criteria if s != "passed"]},
        )
    return 0


def _announce(
    session: Session,
    client: Client,
    key: str,
    channel: str,
    message: dict[str, Any],
    action: str,
    at: dt.datetime,
    *,
    details: dict[str, Any] | None = None,
) -> int:
    """Queue a milestone's post under `key` and record `action` now, not when it is sent.

    The caller checks `records.queued` first, so a message already said is not even rendered.
    """
    outbound.enqueue_call(
        session,
        key,
        "chat.postMessage",
        {"channel": channel, **message},
        client_id=client.id,
        not_before=at,
    )
    audit.record(
        session,
        audit.Cause.system(),
        action,
        client_id=client.id,
        subject=key,
        details=details,
        at=at,
    )
    return 1
