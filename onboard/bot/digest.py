"""The managers' weekly digest: portfolio by stage, the week's movements, risks, decisions, KPIs.

Built as of any moment from the database (the audit chain for history), so re-runs agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session, defer, lazyload

from onboard.bot.calendar import BusinessCalendar, latest_local_date
from onboard.bot.playbooks import Playbook
from onboard.bot.portfolio import DONE, Portfolio, median_days, portfolios
from onboard.bot.surveys import satisfaction
from onboard.storage.models import (
    AuditEvent,
    Client,
    Decision,
    Deliverable,
    DeliverableVersion,
    Task,
)

WEEK = dt.timedelta(days=7)
QUARTER = dt.timedelta(days=91)
MAX_RISKS = 15  # the template shows 8 a section: 2 of the message's 50 blocks
NAMES_SHOWN = 8  # names listed of each of the week's movements (started, gone live, completed)
STAGES_SHOWN = 25


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
    names_shown: int = NAMES_SHOWN  # of each of started, went_live, completed
    stages_shown: int = STAGES_SHOWN

    def shortened(self, risks: int, names: int, stages: int) -> Digest:
        """The same digest listing fewer lines: at most `risks` clients at risk, `names` of
        each week's movement and `stages` stages; the rest are counted ("…and N more")."""
        return dataclasses.replace(
            self,
            risks=self.risks[:risks],
            risks_more=self.risks_more + max(0, len(self.risks) - risks),
            names_shown=min(names, self.names_shown),
            stages_shown=min(stages, self.stages_shown),
        )


class _Calendars:
    """Each client's business calendar, made once per place (time zone and country): the
    digest reads every client's, and most share a few places."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], BusinessCalendar] = {}

    def __call__(self, client: Client) -> BusinessCalendar:
        key = (client.timezone, client.country)
        if key not in self._made:
            self._made[key] = BusinessCalendar(*key)
        return self._made[key]


def _names(session: Session) -> tuple[dict[int, str], dict[int, Playbook], dict[int, Client]]:
    clients = {
        c.id: c
        for c in session.scalars(
            select(Client).options(defer(Client.playbook), lazyload(Client.contacts))
        )
    }
    return {cid: c.name for cid, c in clients.items()}, _playbooks(session), clients


def _playbooks(session: Session) -> dict[int, Playbook]:
    """Each client's playbook snapshot, parsed once per distinct snapshot, not once per client."""
    parsed: dict[str, Playbook] = {}
    found = {}
    for client_id, text in session.execute(select(Client.id, cast(Client.playbook, Text))):
        if text not in parsed:
            parsed[text] = Playbook.model_validate_json(text)
        found[client_id] = parsed[text]
    return found


def _stage_name(playbook: Playbook | None, key: str) -> str:
    if key == DONE:
        return "Completed"
    if playbook is None:
        return key
    stage = next((s for s in playbook.stages if s.key == key), None)
    return stage.name if stage else key


def _live_keys_of(playbooks: dict[int, Playbook]) -> dict[int, set[str]]:
    """By client, where it is live: its playbook's first hypercare stage (the go-live) and the
    stages after it, or completed. A playbook without hypercare goes live as it completes."""
    by_playbook: dict[int, set[str]] = {}  # clients share a few playbooks
    for playbook in playbooks.values():
        if id(playbook) not in by_playbook:
            stages = playbook.stages
            first = next(
                (i for i, s in enumerate(stages) if s.automation and s.automation.hypercare),
                len(stages),
            )
            by_playbook[id(playbook)] = {*(s.key for s in stages[first:]), DONE}
    return {cid: by_playbook[id(p)] for cid, p in playbooks.items()}


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"  # "7 Aug 2026": no platform's strftime flags


def build(session: Session, as_of: dt.datetime, *, nudge_days: int = 2) -> Digest:
    names, playbooks, clients = _names(session)
    before, now = portfolios(session, [as_of - WEEK, as_of])
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
    calendars = _Calendars()
    live_keys = _live_keys_of(playbooks)
    risks = _risks(session, clients, playbooks, live_keys, as_of, nudge_days, calendars)
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
    digest.kpis, digest.trend = _kpis(session, now, playbooks, live_keys, clients, calendars, as_of)
    return digest


def _stage_order(playbooks: dict[int, Playbook]) -> dict[str, int]:
    order: dict[str, int] = {}
    for playbook in playbooks.values():
        for index, stage in enumerate(playbook.stages):
            order.setdefault(stage.name, index)
    order["Completed"] = 1000
    return order


def _risks(
    session: Session,
    clients: dict[int, Client],
    playbooks: dict[int, Playbook],
    live_keys: dict[int, set[str]],
    as_of: dt.datetime,
    nudge_days: int,
    calendar: _Calendars,
) -> list[Risk]:
    """Clients with overdue tasks, a stage past its expected length, past their target
    go-live and not live, or sign-offs waiting.

    Computed in bulk (one query per kind, one calendar per place) rather than through
    `progress()` client by client: the digest covers the whole portfolio at once.
    """
    live = {cid: c for cid, c in clients.items() if c.status in ("active", "setting_up")}
    overdue: Counter[int] = Counter()
    # Overdue is due before the client's own date: no client's is later than this bound, in
    # whatever offset `as_of` was written (the CLI's --as-of keeps the one typed).
    bound = latest_local_date(as_of)
    for client_id, stage_key, due in session.execute(
        select(Task.client_id, Task.stage_key, Task.due).where(
            Task.done_at.is_(None), Task.due.is_not(None), Task.due < bound
        )
    ):
        client = live.get(client_id)
        current = client is not None and stage_key == client.stage_key
        if current and due < calendar(client).local_date(as_of):  # type: ignore[arg-type]
            overdue[client_id] += 1
    reasons: dict[int, list[str]] = {}
    for client in live.values():
        found = []
        if overdue[client.id]:
            count = overdue[client.id]
            found.append(f"{count} overdue task{'s' if count != 1 else ''}")
        stage = playbooks[client.id].stage(client.stage_key)
        place = calendar(client)
        days = place.stage_day(  # counted as status and the plan count it
            place.local_date(client.stage_entered_at or client.created_at), place.local_date(as_of)
        )
        if days > stage.duration_days.max:
            found.append(f"{stage.name} running {days} of {stage.duration_days.max} days")
        # The target is a date on the client's own calendar: missed once that date is past.
        missed = place.local_date(as_of) > client.go_live
        if missed and client.stage_key not in live_keys[client.id]:
            found.append(f"go-live was {_day(client.go_live)}; not live yet")
        if found:
            reasons[client.id] = found
    for client_id, posted_at, title in session.execute(
        select(Deliverable.client_id, DeliverableVersion.posted_at, Deliverable.title)
        .join(DeliverableVersion, DeliverableVersion.deliverable_id == Deliverable.id)
        .where(DeliverableVersion.status == "pending")
    ):
        client = live.get(client_id)
        if client is None:
            continue
        place = calendar(client)
        days = place.business_days_between(place.local_date(posted_at), place.local_date(as_of))
        if days >= nudge_days:
            reasons.setdefault(client_id, []).append(
                f"sign-off “{title}” waiting {days} business days"
            )
    ranked = sorted(
        reasons.items(),
        key=lambda item: (-(overdue[item[0]] + len(item[1])), clients[item[0]].name),
    )
    return [Risk(clients[cid].name, clients[cid].channel_id, found) for cid, found in ranked]


def _retention(session: Session, as_of: dt.datetime) -> str:
    """Of the clients that completed onboarding in the year to `as_of`, the share not reopened
    since (sent back to a stage after completing).

    Read from the audit chain: a reopened client's row no longer says it ever completed, and
    whether a client stays with the agency is recorded nowhere, so the onboarding holding is
    the retention signal there is. A client reopened and completed again still counts as
    reopened: its first completion did not hold.
    """
    year_ago = as_of - dt.timedelta(days=365)
    completed: set[int] = set()
    reopened: set[int] = set()
    for client_id, action in session.execute(
        select(AuditEvent.client_id, AuditEvent.action)
        .where(
            AuditEvent.action.in_(("journey.completed", "stage.sent_back")),
            AuditEvent.at >= year_ago,
            AuditEvent.at < as_of,
            AuditEvent.client_id.is_not(None),
        )
        .order_by(AuditEvent.seq)
    ):
        if action == "journey.completed":
            completed.add(client_id)
        elif client_id in completed:
            reopened.add(client_id)
    if not completed:
        return "no clients onboarded in the last year"
    kept = len(completed) - len(reopened)
    return (
        f"{round(100 * kept / len(completed))}% of the {len(completed)} "
        f"client{'s' if len(completed) != 1 else ''} onboarded in the last year stayed completed"
        + (f" ({len(reopened)} reopened)" if reopened else "")
    )


def _on_time(
    portfolio: Portfolio,
    live_keys: dict[int, set[str]],
    clients: dict[int, Client],
    calendar: _Calendars,
    since: dt.datetime,
    until: dt.datetime,
) -> str:
    """Of the clients that went live in [since, until), how many did by their target go-live
    date (on their own calendar). Going live is the first time the client reached a live
    stage (`_live_keys_of`): one sent back and live again went live when it first did."""
    went_live: dict[int, dt.datetime] = {}
    for client_id, stage, at in portfolio.entered:  # in the chain's order
        if client_id not in went_live and stage in live_keys.get(client_id, ()):
            went_live[client_id] = at
    timely = [
        calendar(clients[cid]).local_date(at) <= clients[cid].go_live
        for cid, at in went_live.items()
        if since <= at < until and cid in clients
    ]
    if not timely:
        return "no client went live in the last 91 days"
    return (
        f"{sum(timely)} of {len(timely)} went live by the target date "
        f"(the client{'s' if len(timely) != 1 else ''} gone live in the last 91 days)"
    )


def _kpis(
    session: Session,
    portfolio: Portfolio,
    playbooks: dict[int, Playbook],
    live_keys: dict[int, set[str]],
    clients: dict[int, Client],
    calendar: _Calendars,
    as_of: dt.datetime,
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
        for p in {id(p): p for p in playbooks.values()}.values()
        for s in p.stages
        if s.automation and s.automation.hypercare
    }
    # Leaving a stage: the next one entered, or the journey completed when it was the last.
    exits = [
        details
        for details in session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action.in_(("stage.advanced", "journey.completed")),
                AuditEvent.at < as_of,
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
    retention = _retention(session, as_of)
    average, answers = satisfaction(session, quarter_start, as_of)
    satisfied = (
        f"{average:g}/10 from {answers} answer{'s' if answers != 1 else ''} in 91 days"
        if answers
        else "no survey answers in the last 91 days"
    )
    return (
        {
            "Time to onboard": time_to_onboard,
            "On-time go-live": _on_time(
                portfolio, live_keys, clients, calendar, quarter_start, as_of
            ),
            "Client satisfaction": satisfied,
            "First delivery success": first_delivery,
            "Retention": retention,
            "Hypercare exit": hypercare_exit,
        },
        trend,
    )
