"""A client's walk through its playbook: entering stages, gates, advancing, looping back.

Every transition is one transaction with its audit event, its channel post and a card refresh.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from onboard.bot import outbound
from onboard.bot.calendar import BusinessCalendar
from onboard.bot.errors import InvalidInput, NotAllowed, NotFound, OnboardError
from onboard.bot.playbooks import Gate, Playbook, Stage
from onboard.messages.render import render_message, render_texts
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import Client, GateState, Task

CARD = "journey.card"


class GatesOpen(OnboardError):
    """The stage cannot close: these gates do not hold yet."""

    def __init__(self, stage: Stage, missing: list[str]) -> None:
        names = ", ".join(f"“{m}”" for m in missing)
        super().__init__(f"*{stage.name}* cannot close yet. Still open: {names}.")
        self.missing = missing


def playbook_of(client: Client) -> Playbook:
    return Playbook.model_validate(client.playbook)


def calendar_of(client: Client) -> BusinessCalendar:
    return BusinessCalendar(client.timezone, client.country)


# -- finding the client a command is about ----------------------------------------------------


def find_client(session: Session, reference: str, channel_id: str | None) -> Client:
    """The client named by slug or name, or else the one whose channel the command came from."""
    reference = reference.strip()
    if reference:
        matches = list(
            session.scalars(
                select(Client)
                .where(
                    or_(
                        Client.slug == reference.lower(),
                        func.lower(Client.name) == reference.lower(),
                    )
                )
                .order_by(Client.id)
            )
        )
        # A slug names one client; a name may be two clients' (the second's slug ends "-2").
        exact = [c for c in matches if c.slug == reference.lower()]
        here = [c for c in matches if channel_id and c.channel_id == channel_id]
        found = exact or here or matches
        if not found:
            shown = reference if len(reference) <= 80 else reference[:79] + "…"
            raise NotFound(f"No client called “{shown}”. Try its channel or its slug.")
        if len(found) > 1:
            slugs = ", ".join(f"`{c.slug}`" for c in found[:10])
            raise NotFound(f"More than one client has that name: use its slug ({slugs}).")
        return found[0]
    if channel_id:
        found = session.scalars(select(Client).where(Client.channel_id == channel_id)).first()
        if found is not None:
            return found
    raise NotFound("Name the client, or use the command in the client's channel.")


# -- entering a stage -------------------------------------------------------------------------


def enter_stage(
    session: Session, client: Client, stage: Stage, cause: audit.Cause, now: dt.datetime
) -> None:
    """Make `stage` current: its tasks (once; open ones re-dated on a return), its gates
    (reset to open), its timing."""
    client.stage_key, client.stage_entered_at = stage.key, now
    calendar = calendar_of(client)
    start = calendar.local_date(now)
    existing = list(
        session.scalars(
            select(Task)
            .where(Task.client_id == client.id, Task.stage_key == stage.key)
            .order_by(Task.number)
        )
    )
    if existing:
        _restart_playbook_tasks(stage, existing, calendar, start)
    else:
        number = session.scalar(select(func.max(Task.number)).where(Task.client_id == client.id))
        for offset, task in enumerate(stage.tasks, start=(number or 0) + 1):
            session.add(
                Task(
                    client_id=client.id,
                    stage_key=stage.key,
                    number=offset,
                    title=task.title,
                    owner_role=task.owner,
                    due=calendar.add_business_days(start, task.due_day),
                    created_at=now,
                )
            )
    for gate in stage.gates:
        state = session.scalars(
            select(GateState).where(
                GateState.client_id == client.id, GateState.gate_key == gate.key
            )
        ).first()
        if state is None:
            session.add(GateState(client_id=client.id, stage_key=stage.key, gate_key=gate.key))
        else:
            state.status, state.decided_at, state.decided_by = "open", None, None
    session.flush()


def _restart_playbook_tasks(
    stage: Stage, tasks: list[Task], calendar: BusinessCalendar, start: dt.date
) -> None:
    """The stage entered again (a loop back): its open playbook tasks are due as on a first
    entry and their reminders start over, or they are overdue on the stage's first day.

    Done tasks stay done: a loop re-asks the gate, it does not undo the checklist. Tasks the
    team added keep the dates the team gave them. `tasks` are by number: the playbook's come
    first, made on the first entry, before `/onboard task add` could reach the stage.
    """
    for planned, task in zip(stage.tasks, tasks, strict=False):
        if task.done_at is None:
            task.due = calendar.add_business_days(start, planned.due_day)
            task.reminders_sent, task.reminded_on = 0, None


def card_key(client_id: int, reason: str) -> str:
    """The outbox key of one refresh of a client's card: one row per `reason`."""
    return f"client:{client_id}:card:{reason}"


def refresh_card(session: Session, client: Client, reason: str) -> bool:
    """Queue a refresh of the pinned journey card; it renders the state current when sent.
    True when queued now (not before, under the same `reason`)."""
    if client.channel_id is None:
        return False  # the card is first posted once the channel exists
    return outbox.enqueue(
        session,
        card_key(client.id, reason),
        CARD,
        {"client_id": client.id},
        client_id=client.id,
    )


def set_topic(session: Session, client: Client, stage: Stage, key: str) -> None:
    """Queue the channel topic naming `stage` (or the journey complete): set when the channel
    is made and again at each move, so its header never shows a stage left behind."""
    if client.channel_id is None:
        return  # the channel's set-up sets it, naming the stage current then
    described = render_texts(
        "channel_description", client=client, stage=stage, playbook=playbook_of(client)
    )
    outbound.enqueue_call(
        session,
        key,
        "conversations.setTopic",
        {"channel": client.channel_id, "topic": described["topic"]},
        client_id=client.id,
        audit_action="channel.topic_set",
    )


def _announce_stage(session: Session, client: Client, stage: Stage, key: str, **extra: Any) -> None:
    if client.channel_id is None:
        return
    playbook = playbook_of(client)
    tasks = list(
        session.scalars(
            select(Task)
            .where(Task.client_id == client.id, Task.stage_key == stage.key)
            .order_by(Task.number)
        )
    )
    message = render_message(
        "stage_entered", client=client, playbook=playbook, stage=stage, tasks=tasks, **extra
    )
    outbound.enqueue_call(
        session,
        key,
        "chat.postMessage",
        {"channel": client.channel_id, **message},
        client_id=client.id,
        audit_action="stage.announced",
        audit_details={"stage": stage.key},
    )


# -- the service ------------------------------------------------------------------------------


class Journey:
    """Commands that move a client along its playbook."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], dt.datetime],
        is_admin: Callable[[str], bool],
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.clock = clock
        self.is_admin = is_admin
        self.wake = wake

    def advance(
        self, reference: str, channel_id: str | None, cause: audit.Cause, force: str | None = None
    ) -> Client:
        now = self.clock()
        with self.db.transaction() as session:
            client = _locked(session, find_client(session, reference, channel_id))
            if client.status == "completed":
                raise InvalidInput({"client": f"{client.name} has completed onboarding."})
            playbook = playbook_of(client)
            keys = [s.key for s in playbook.stages]
            index = keys.index(client.stage_key)
            stage = playbook.stages[index]
            missing = [
                g.name for g in stage.gates if _gate_status(session, client.id, g.key) != "passed"
            ]
            if force is not None:
                if not self.is_admin(cause.actor):
                    raise NotAllowed("Only an admin can force a stage closed.")
                if not force.strip():
                    raise InvalidInput({"reason": "Say why: `/onboard advance --force <reason>`."})
            elif missing:
                raise GatesOpen(stage, missing)
            details: dict[str, Any] = {"from": stage.key, "open_gates": len(missing)}
            # The reason may name people: a note beside the chain, where erasure reaches it.
            note = force.strip()[:500] if force is not None else None
            if force is not None:
                details["forced"] = True
            if index + 1 == len(keys):
                client.status, client.completed_at = "completed", now
                audit.record(
                    session,
                    cause,
                    "journey.completed",
                    client_id=client.id,
                    details=details,
                    at=now,
                    note=note,
                )
                _announce_completion(session, client)
                set_topic(session, client, stage, f"client:{client.id}:topic:{change_key(session)}")
                from onboard.bot.surveys import open_survey  # surveys build on the journey

                open_survey(session, client, "completion", now)
            else:
                following = playbook.stages[index + 1]
                details["to"] = following.key
                enter_stage(session, client, following, cause, now)
                audit.record(
                    session,
                    cause,
                    "stage.advanced",
                    client_id=client.id,
                    subject=following.key,
                    details=details,
                    at=now,
                    note=note,
                )
                change = change_key(session)
                _announce_stage(session, client, following, f"client:{client.id}:enter:{change}")
                set_topic(session, client, following, f"client:{client.id}:topic:{change}")
            refresh_card(session, client, f"advance:{change_key(session)}")
        self.wake()
        return client

    def back(
        self, reference: str, channel_id: str | None, target: str, reason: str, cause: audit.Cause
    ) -> Client:
        now = self.clock()
        with self.db.transaction() as session:
            client = _locked(session, find_client(session, reference, channel_id))
            playbook = playbook_of(client)
            stage = _stage_named(playbook, target)
            keys = [s.key for s in playbook.stages]
            if client.status != "completed" and keys.index(stage.key) > keys.index(
                client.stage_key
            ):
                raise InvalidInput({"stage": f"{stage.name} is ahead: use `/onboard advance`."})
            if not reason.strip():
                raise InvalidInput({"reason": "Say why the journey goes back."})
            self._go_back(session, client, stage, reason, cause, now, loop=None)
        self.wake()
        return client

    def _go_back(
        self,
        session: Session,
        client: Client,
        stage: Stage,
        reason: str,
        cause: audit.Cause,
        now: dt.datetime,
        loop: str | None,
    ) -> None:
        playbook = playbook_of(client)
        keys = [s.key for s in playbook.stages]
        origin = client.stage_key
        # Every gate after the target must hold again (the target's own reset on entry).
        for later in playbook.stages[keys.index(stage.key) + 1 :]:
            for gate in later.gates:
                state = session.scalars(
                    select(GateState).where(
                        GateState.client_id == client.id, GateState.gate_key == gate.key
                    )
                ).first()
                if state is not None:
                    state.status, state.decided_at, state.decided_by = "open", None, None
        client.status, client.completed_at = "active", None
        enter_stage(session, client, stage, cause, now)
        audit.record(
            session,
            cause,
            "stage.sent_back",
            client_id=client.id,
            subject=stage.key,
            details={"from": origin, "to": stage.key, "loop": loop},
            at=now,
            note=reason.strip()[:500],
        )
        change = change_key(session)
        _announce_stage(
            session,
            client,
            stage,
            f"client:{client.id}:back:{change}",
            back_reason=reason,
            loop=loop,
        )
        set_topic(session, client, stage, f"client:{client.id}:topic:{change}")
        refresh_card(session, client, f"back:{change}")

    def decide_gate(
        self,
        reference: str,
        channel_id: str | None,
        gate_key: str,
        passed: bool,
        note: str,
        cause: audit.Cause,
    ) -> tuple[Client, str]:
        """An internal user confirms (or fails) a condition gate of the current stage."""
        now = self.clock()
        with self.db.transaction() as session:
            client = _locked(session, find_client(session, reference, channel_id))
            playbook = playbook_of(client)
            stage = next(s for s in playbook.stages if s.key == client.stage_key)
            gate = next((g for g in stage.gates if g.key == gate_key), None)
            if gate is None:
                keys = ", ".join(f"`{g.key}`" for g in stage.gates) or "none"
                raise InvalidInput(
                    {"gate": f"No gate `{gate_key}` in {stage.name}. Gates: {keys}."}
                )
            _refuse_typed_decision(stage, gate, passed)
            loop = gate.on_fail
            if not passed and not note.strip():
                raise InvalidInput(
                    {"reason": "Say what failed: `/onboard gate <key> fail <reason>`."}
                )
            set_gate(session, client, gate.key, passed, cause, now, note=note)
            outcome = gate.name
            if not passed and loop is not None:
                target = _stage_named(playbook, loop.back_to)
                label = loop.label
                self._go_back(session, client, target, note, cause, now, loop=label)
                outcome = f"{gate.name}: back to {target.name}"
            else:
                refresh_card(session, client, f"gate:{change_key(session)}")
        self.wake()
        return client, outcome


def _refuse_typed_decision(stage: Stage, gate: Gate, passed: bool) -> None:
    """Gates someone else decides are not typed past, nor failed: a sign-off is its approvers'
    (a typed `fail` would undo the client's approval, and nobody could pass it back), and the
    satisfaction gate is the survey's. An admin can still force the stage."""
    force = "An admin can force the stage: `/onboard advance --force <reason>`."
    if gate.kind == "approval":
        if passed:
            raise NotAllowed(
                f"“{gate.name}” is a sign-off: it passes when its approvers approve the "
                "deliverable (`/onboard deliverable`)."
            )
        raise NotAllowed(
            f"“{gate.name}” is a sign-off: only its approvers decide it, and they ask for "
            "changes with *Request changes* on the deliverable. To go back a stage, "
            f"`/onboard back <stage> <reason>`. {force}"
        )
    hypercare = stage.automation.hypercare if stage.automation else None
    if hypercare is not None and hypercare.satisfaction_gate == gate.key:
        raise NotAllowed(
            f"“{gate.name}” is decided by the satisfaction survey: it passes when the "
            f"approvers' average reaches {hypercare.satisfaction_target:g}/10 "
            f"(`/onboard survey` posts it). {force}"
        )


def _locked(session: Session, client: Client) -> Client:
    """The client's row locked for this move (PostgreSQL; SQLite's writers take turns): two
    moves at once (an advance typed twice, an advance and a back) each read the stage the
    other left, rather than both moving from the same one, announcing it twice."""
    session.refresh(client, with_for_update=True)
    return client


def set_gate(
    session: Session,
    client: Client,
    gate_key: str,
    passed: bool,
    cause: audit.Cause,
    now: dt.datetime,
    note: str = "",
) -> None:
    """Record a gate's outcome (also used by approvals when a deliverable is approved)."""
    state = session.scalars(
        select(GateState).where(GateState.client_id == client.id, GateState.gate_key == gate_key)
    ).first()
    if state is None:
        state = GateState(client_id=client.id, stage_key=client.stage_key, gate_key=gate_key)
        session.add(state)
    state.status = "passed" if passed else "failed"
    state.decided_at, state.decided_by = now, cause.actor
    audit.record(
        session,
        cause,
        "gate.passed" if passed else "gate.failed",
        client_id=client.id,
        subject=gate_key,
        at=now,
        note=note.strip()[:500] or None,
    )


def _gate_status(session: Session, client_id: int, gate_key: str) -> str:
    status = session.scalar(
        select(GateState.status).where(
            GateState.client_id == client_id, GateState.gate_key == gate_key
        )
    )
    return status or "open"


def _stage_named(playbook: Playbook, name: str) -> Stage:
    wanted = name.strip().lower()
    for index, stage in enumerate(playbook.stages, start=1):
        if wanted in (stage.key, stage.name.lower(), str(index)):
            return stage
    keys = ", ".join(f"`{s.key}`" for s in playbook.stages)
    raise InvalidInput({"stage": f"No stage “{name}”. Stages: {keys}."})


def change_key(session: Session) -> str:
    """A key for this transaction's change of the journey (a move, a task ticked or reopened),
    for its outbox rows' keys: each change (a stage entered again included) posts anew. The
    audit event's seq once served, but events get their seq only as the transaction commits
    (storage/audit.py)."""
    transaction = session.get_transaction()
    held = session.info.get(_CHANGE)
    if held is None or held[0] is not transaction:  # a key per transaction, not per session
        held = session.info[_CHANGE] = (transaction, uuid.uuid4().hex[:16])
    return str(held[1])


_CHANGE = "journey_change"


def _announce_completion(session: Session, client: Client) -> None:
    if client.channel_id is None:
        return
    message = render_message("journey_completed", client=client, playbook=playbook_of(client))
    outbound.enqueue_call(
        session,
        f"client:{client.id}:completed:{change_key(session)}",
        "chat.postMessage",
        {"channel": client.channel_id, **message},
        client_id=client.id,
        audit_action="journey.completion_announced",
    )


def status_of(db: Database, reference: str, channel_id: str | None, now: dt.datetime) -> Any:
    """The Progress of the client named (or of the channel's client)."""
    from onboard.bot.progress import progress

    with db.transaction() as session:
        return progress(session, find_client(session, reference, channel_id), now)
