"""Every built-in playbook runs end to end through Slack, sign-offs and a loop back included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from onboard.bot.playbook_files import available
from onboard.bot.playbooks import Playbook, Stage
from onboard.storage import audit
from onboard.storage.models import AuditEvent, Client, GateState
from tests.conftest import BotFactory, People, Running
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client


def current(onboard: Running) -> Client:
    with onboard.bot.db.transaction() as session:
        return session.scalars(select(Client)).one()


def sign_off(
    onboard: Running, people: People, gate_key: str, deliver: Callable[[], None] | None = None
) -> None:
    """The account manager posts a deliverable for the gate; the client approves it."""
    deliver = deliver or onboard.deliver
    say(onboard, people.am.id, "deliverable")
    view_id = onboard.wait_for_view(people.am.id)
    form = {"title": f"Sign-off: {gate_key}", "gate": gate_key, "approvers": [people.client.id]}
    assert onboard.driver.submit_view(people.am.id, view_id, form).json() == {
        "response_action": "clear"
    }
    deliver()
    onboard.driver.click_button(people.client.id, channel_of(onboard), "approve")

    def passed() -> bool:
        with onboard.bot.db.transaction() as session:
            state = session.scalars(select(GateState).where(GateState.gate_key == gate_key)).first()
            return state is not None and state.status == "passed"

    onboard.wait_until(passed)
    deliver()


def satisfied(onboard: Running, people: People, gate_key: str) -> None:
    """The satisfaction gate is the survey's, not typed: the client scores 9/10 and it passes."""
    say(onboard, people.am.id, "survey")
    onboard.driver.click_button(people.client.id, channel_of(onboard), "survey_score_9")

    def passed() -> bool:
        with onboard.bot.db.transaction() as session:
            state = session.scalars(select(GateState).where(GateState.gate_key == gate_key)).first()
            return state is not None and state.status == "passed"

    onboard.wait_until(passed)
    onboard.deliver()


def surveyed(stage: Stage) -> str | None:
    """The stage's gate its satisfaction survey decides, if any."""
    hypercare = stage.automation.hypercare if stage.automation else None
    return hypercare.satisfaction_gate if hypercare else None


def pass_gates_and_advance(
    onboard: Running, people: People, deliver: Callable[[], None] | None = None
) -> None:
    """The team confirms each condition, the client signs off each approval, then advance."""
    client = current(onboard)
    stage = Playbook.model_validate(client.playbook).stage(client.stage_key)
    for gate in stage.gates:
        if gate.key == surveyed(stage):
            satisfied(onboard, people, gate.key)
        elif gate.kind == "condition":
            assert "Recorded" in say(onboard, people.am.id, f"gate {gate.key} pass")
        else:
            sign_off(onboard, people, gate.key, deliver)
    answer = say(onboard, people.am.id, "advance")
    assert "moved on" in answer or "completed onboarding" in answer, answer


@pytest.mark.parametrize("key", sorted(available()))
def test_a_client_completes_every_stage_of_the_playbook(
    start_bot: BotFactory, people: People, key: str
) -> None:
    onboard = start_bot()
    onboard_client(onboard, people, playbook=key)
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    playbook = available()[key]
    looped = False
    for _ in range(len(playbook.stages) * 3):
        client = current(onboard)
        if client.status == "completed":
            break
        stage = playbook.stage(client.stage_key)
        for gate in stage.gates:
            if gate.on_fail is not None and not looped:
                answer = say(onboard, people.am.id, f"gate {gate.key} fail found a problem")
                assert "back to" in answer
                looped = True
                break
            if gate.key == surveyed(stage):
                satisfied(onboard, people, gate.key)
            elif gate.kind == "condition":
                assert "Recorded" in say(onboard, people.am.id, f"gate {gate.key} pass")
            else:
                sign_off(onboard, people, gate.key)
        else:
            if not looped and playbook.stages.index(stage) == 1:
                say(onboard, people.am.id, f"back {playbook.stages[0].key} scope changed")
                looped = True
                continue
            answer = say(onboard, people.am.id, "advance")
            assert "moved on" in answer or "completed onboarding" in answer, answer
    client = current(onboard)
    assert client.status == "completed"
    assert looped
    with onboard.bot.db.transaction() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
        assert audit.verify_database(session)[1] is None
    assert actions.count("stage.advanced") >= len(playbook.stages) - 1
    assert "stage.sent_back" in actions and "journey.completed" in actions
