"""Where a client's journey stands: stages done, current and ahead, tasks, gates, lateness.

Read-only: computed from the database and the client's playbook snapshot, as of a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot.calendar import BusinessCalendar
from onboard.bot.playbooks import Playbook, Stage
from onboard.storage.models import Client, GateState, Task


@dataclass(frozen=True)
class StageLine:
    stage: Stage
    state: str  # done | current | upcoming


@dataclass(frozen=True)
class Progress:
    client: Client
    playbook: Playbook
    stage: Stage
    position: int  # 1-based
    stages: list[StageLine]
    tasks: list[Task]
    gates: list[tuple[str, str, str]]  # (key, name, status) of the current stage
    days_in_stage: int
    today: dt.date

    @property
    def done_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.done_at is not None)

    @property
    def percent(self) -> int:
        """Share of the current stage's tasks done; 0 when it has none (`/onboard status` then
        says so rather than show a percentage)."""
        return round(100 * self.done_tasks / len(self.tasks)) if self.tasks else 0

    @property
    def stage_share(self) -> float:
        """How far the current stage is, 0 to 1: its tasks done and gates passed, one step
        each. A stage with neither counts nothing: it is done only once the journey moves on."""
        steps = len(self.tasks) + len(self.gates)
        passed = self.done_tasks + len(self.gates) - len(self.open_gates)
        return passed / steps if steps else 0.0

    @property
    def overdue(self) -> list[Task]:
        return [t for t in self.tasks if t.done_at is None and t.due and t.due < self.today]

    @property
    def open_gates(self) -> list[tuple[str, str, str]]:
        return [g for g in self.gates if g[2] != "passed"]

    @property
    def next_task(self) -> Task | None:
        open_tasks = [t for t in self.tasks if t.done_at is None]
        return min(open_tasks, key=lambda t: (t.due or dt.date.max, t.number), default=None)

    @property
    def late(self) -> bool:
        return self.days_in_stage > self.stage.duration_days.max

    @property
    def overall_percent(self) -> int:
        """Share of stages behind the client, counting the current one by its tasks and gates.
        100% is kept for a completed journey: the last stage with every step done still waits
        for `/onboard advance`."""
        if self.client.status == "completed":
            return 100
        count = len(self.playbook.stages)
        return min(99, round(100 * ((self.position - 1) + self.stage_share) / count))

    @property
    def health(self) -> str:
        if self.client.status == "completed":
            return "done"
        if self.overdue or self.late:
            return "at risk"
        return "on track"


def progress(session: Session, client: Client, now: dt.datetime) -> Progress:
    playbook = Playbook.model_validate(client.playbook)
    keys = [s.key for s in playbook.stages]
    index = keys.index(client.stage_key)
    finished = client.status == "completed"
    lines = [
        StageLine(s, "done" if i < index or finished else "current" if i == index else "upcoming")
        for i, s in enumerate(playbook.stages)
    ]
    stage = playbook.stages[index]
    tasks = list(
        session.scalars(
            select(Task)
            .where(Task.client_id == client.id, Task.stage_key == stage.key)
            .order_by(Task.number)
        )
    )
    states = {
        g.gate_key: g.status
        for g in session.scalars(select(GateState).where(GateState.client_id == client.id))
    }
    gates = [(g.key, g.name, states.get(g.key, "open")) for g in stage.gates]
    calendar = BusinessCalendar(client.timezone, client.country)
    today = calendar.local_date(now)
    entered = calendar.local_date(client.stage_entered_at or client.created_at)
    return Progress(
        client=client,
        playbook=playbook,
        stage=stage,
        position=index + 1,
        stages=lines,
        tasks=tasks,
        gates=gates,
        days_in_stage=calendar.stage_day(entered, today),
        today=today,
    )
