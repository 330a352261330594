"""The managers' weekly digest: portfolio by stage, the week's movements, risks, decisions, KPIs.

Built as of any moment from the database (the audit chain for history), so re-runs agree.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onboard.bot.journey import calendar_of
from onboard.bot.playbooks import Playbook
from onboard.bot.portfolio import DONE, Portfolio, median_days, portfolio_as_of
from onboard.bot.progress import progress
from onboard.bot.surveys import satisfaction
from onboard.storage.models import (
    AuditEvent,
    Client,
    Decision,
    Deliverable,
    DeliverableVersion,
)

WEEK = dt.timedelta(days=7)
QUARTER = dt.timedelta(days=91)
MAX_RISKS = 15


@dataclass(frozen=True)
class Risk:
    client: str
    channel_id: str | None
    reasons: list[str]


@dataclass
class Digest:
    as_of: dt.datetime
    week_start: dt.datetime
    stages: list[tuple[str, int, int]]  # (stage name, clients now, change since last week)
    started: list[str]
    went_live: list[str]
    completed: list[str]
    risks: list[Risk]
    risks_more: int
    approved: int
    changes_requested: int
    kpis: dict[str, str] = field(default_factory=dict)
    trend: list[tuple[str, float | None]] = field(default_factory=list)  # (quarter, median days)
    total: int = 0


def _names(session: Session) -> tuple[dict[int, str], dict[int, Playbook], dict[int, Client]]:
    clients = {c.id: c for c in session.scalars(select(Client))}
    playbooks = {cid: Playbook.model_validate(c.playbook) for cid, c in clients.items()}
    return {cid: c.name for cid, c in clients.items()}, playbooks, clients


def _stage_name(playbook: Playbook | None, key: str) -> str:
    if key == DONE:
        return "Completed"
    if playbook is None:
        return key
    stage = next((s for s in playbook.stages if s.key == key), None)
    return stage.name if stage else key


def build(session: Session, as_of: dt.datetime, *, nudge_days: int = 2) -> Digest:
    names, playbooks, clients = _names(session)
    now = portfolio_as_of(session, as_of)
    before = portfolio_as_of(session, as_of - WEEK)
    week_start = as_of - WEEK

    def by_name(portfolio: Portfolio) -> Counter[str]:
        return Counter(
            _stage_name(playbooks.get(cid), key) for cid, key in portfolio.stage_of.items()
        )

    current, previous = by_name(now), by_name(before)
    order = _stage_order(playbooks)
    stages = sorted(
        (
            (name, current.get(name, 0), current.get(name, 0) - previous.get(name, 0))
            for name in set(current) | set(previous)
        ),
        key=lambda row: order.get(row[0], 999),
    )
    hypercare_keys = {
        s.key
        for p in playbooks.values()
        for s in p.stages
        if s.automation and s.automation.hypercare
    }
    risks = _risks(session, clients, as_of, nudge_days)
    decisions = Counter(
        session.scalars(
            select(Decision.outcome).where(
                Decision.decided_at >= week_start, Decision.decided_at < as_of
            )
        )
    )
    digest = Digest(
        as_of=as_of,
        week_start=week_start,
        stages=stages,
        started=[names[c] for c in now.started_between(week_start, as_of) if c in names],
        went_live=[
            names[c] for c in now.entered_between(hypercare_keys, week_start, as_of) if c in names
        ],
        completed=[names[c] for c in now.completed_between(week_start, as_of) if c in names],
        risks=risks[:MAX_RISKS],
        risks_more=max(0, len(risks) - MAX_RISKS),
        approved=decisions.get("approved", 0),
        changes_requested=decisions.get("changes_requested", 0),
        total=len(now.stage_of),
    )
    digest.kpis, digest.trend = _kpis(session, now, as_of)
    return digest


def _stage_order(playbooks: dict[int, Playbook]) -> dict[str, int]:
    order: dict[str, int] = {}
    for playbook in playbooks.values():
        for index, stage in enumerate(playbook.stages):
            order.setdefault(stage.name, index)
    order["Completed"] = 1000
    return order


def _risks(
    session: Session, clients: dict[int, Client], as_of: dt.datetime, nudge_days: int
) -> list[Risk]:
    waiting = session.execute(
        select(Deliverable.client_id, DeliverableVersion.posted_at, Deliverable.title)
        .join(DeliverableVersion, DeliverableVersion.deliverable_id == Deliverable.id)
        .where(DeliverableVersion.status == "pending")
    ).all()
    pending: dict[int, list[str]] = {}
    for client_id, posted_at, title in waiting:
        client = clients.get(client_id)
        if client is None:
            continue
        calendar = calendar_of(client)
        days = calendar.business_days_between(
            calendar.local_date(posted_at), calendar.local_date(as_of)
        )
        if days >= nudge_days:
            pending.setdefault(client_id, []).append(
                f"sign-off “{title}” waiting {days} business days"
            )
    found: list[tuple[int, Risk]] = []
    for client in clients.values():
        if client.status not in ("active", "setting_up"):
            continue
        p = progress(session, client, as_of)
        reasons = []
        if p.overdue:
            reasons.append(f"{len(p.overdue)} overdue task{'s' if len(p.overdue) != 1 else ''}")
        if p.late:
            reasons.append(
                f"{p.stage.name} running {p.days_in_stage} of {p.stage.duration_days.max} days"
            )
        reasons += pending.get(client.id, [])
        if reasons:
            found.append(
                (len(p.overdue) + len(reasons), Risk(client.name, client.channel_id, reasons))
            )
    found.sort(key=lambda item: (-item[0], item[1].client))
    return [risk for _, risk in found]


def _kpis(
    session: Session, portfolio: Portfolio, as_of: dt.datetime
) -> tuple[dict[str, str], list[tuple[str, float | None]]]:
    quarter_start = as_of - QUARTER
    this_quarter = portfolio.onboarding_days(quarter_start, as_of)
    last_quarter = portfolio.onboarding_days(quarter_start - QUARTER, quarter_start)
    median_now, median_before = median_days(this_quarter), median_days(last_quarter)
    if median_now is None:
        time_to_onboard = "no client completed in the last 91 days"
    else:
        time_to_onboard = f"median {median_now:g} days ({len(this_quarter)} completed)"
        if median_before is not None:
            delta = median_now - median_before
            time_to_onboard += f", {'+' if delta >= 0 else '−'}{abs(delta):g} on the quarter before"
    trend = []
    for back in range(3, -1, -1):
        end = as_of - QUARTER * back
        label = (end - QUARTER).strftime("%b") + "–" + end.strftime("%b %Y")
        trend.append((label, median_days(portfolio.onboarding_days(end - QUARTER, end))))
    first_versions = session.execute(
        select(DeliverableVersion.status).where(
            DeliverableVersion.number == 1, DeliverableVersion.status != "pending"
        )
    ).scalars()
    first = Counter("approved" if s == "approved" else "not" for s in first_versions)
    decided = first["approved"] + first["not"]
    first_delivery = (
        f"{round(100 * first['approved'] / decided)}% of first versions approved "
        f"as delivered ({decided})"
        if decided
        else "no first deliveries decided yet"
    )
    hypercare = {
        s.key
        for c in session.scalars(select(Client.playbook))
        for s in Playbook.model_validate(c).stages
        if s.automation and s.automation.hypercare
    }
    exits = [
        details
        for details in session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "stage.advanced", AuditEvent.at < as_of
            )
        )
        if details.get("from") in hypercare
    ]
    forced = sum(1 for d in exits if d.get("forced"))
    hypercare_exit = (
        f"{len(exits) - forced} of {len(exits)} left hypercare with every exit criterion met"
        + (f" ({forced} forced)" if forced else "")
        if exits
        else "no client has left hypercare yet"
    )
    year_ago = as_of - dt.timedelta(days=365)
    completed_year = (
        session.scalar(
            select(func.count()).where(Client.completed_at >= year_ago, Client.completed_at < as_of)
        )
        or 0
    )
    kept = (
        session.scalar(
            select(func.count()).where(
                Client.completed_at >= year_ago,
                Client.completed_at < as_of,
                Client.status == "completed",
            )
        )
        or 0
    )
    retention = (
        f"{round(100 * kept / completed_year)}% of the {completed_year} clients onboarded this year"
        if completed_year
        else "no clients onboarded in the last year"
    )
    average, answers = satisfaction(session, quarter_start, as_of)
    satisfied = (
        f"{average:g}/10 from {answers} answer{'s' if answers != 1 else ''} in 91 days"
        if answers
        else "no survey answers in the last 91 days"
    )
    return (
        {
            "Time to onboard": time_to_onboard,
            "Client satisfaction": satisfied,
            "First delivery success": first_delivery,
            "Retention": retention,
            "Hypercare exit": hypercare_exit,
        },
        trend,
    )
