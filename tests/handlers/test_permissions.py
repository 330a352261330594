"""Who may do what, decided on the server: every command, button and modal against every kind
of user (admin, account manager, engineer, guest, the client's approver, another client's user).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from onboard.standin.records import User
from onboard.storage.models import AuditEvent, Decision
from tests.conftest import BotFactory, People, Running
from tests.handlers.test_approvals import SIGNOFF
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client

KINDS = ("admin", "am", "engineer", "guest", "approver", "stranger")
INTERNAL = {"admin", "am", "engineer"}
REFUSED = "for the onboarding team"


@pytest.fixture
def world(
    start_bot: BotFactory, tmp_path: Path, people: People, workspace
) -> tuple[Running, dict[str, User]]:  # type: ignore[no-untyped-def]
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(SIGNOFF)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    stranger = workspace.add_user("olga.other", team_id="T0OTHER")
    users = {
        "admin": people.admin,
        "am": people.am,
        "engineer": people.engineer,
        "guest": people.guest,
        "approver": people.client,
        "stranger": stranger,
    }
    channel = channel_of(onboard)
    for user in users.values():
        if user.id not in workspace.channels[channel].members:
            workspace.channels[channel].members.append(user.id)
    return onboard, users


COMMANDS = [
    "help",
    "status",
    "task add Check the firewall",
    "task done 1",
    "gate kickoff-held pass",
    "approvers",
    "mute reminders 1",
    "advance --force because",
]


@pytest.mark.parametrize("text", COMMANDS)
@pytest.mark.parametrize("kind", KINDS)
def test_commands(world: tuple[Running, dict[str, User]], kind: str, text: str) -> None:
    onboard, users = world
    answer = say(onboard, users[kind].id, text)
    if kind not in INTERNAL:
        assert REFUSED in answer
    elif text.startswith("advance --force") and kind != "admin":
        assert "Only an admin" in answer
    else:
        assert REFUSED not in answer and "Only an admin" not in answer


@pytest.mark.parametrize("kind", KINDS)
def test_opening_forms(world: tuple[Running, dict[str, User]], kind: str) -> None:
    onboard, users = world
    for text in ("new", "deliverable"):
        answer = say(onboard, users[kind].id, text)
        if kind in INTERNAL:
            onboard.wait_for_view(users[kind].id)
            onboard.workspace.close_views(users[kind].id)
        else:
            assert REFUSED in answer
            assert onboard.workspace.open_views_for(users[kind].id) == []


def post_deliverable(onboard: Running, users: dict[str, User]) -> None:
    say(onboard, users["am"].id, "deliverable")
    view_id = onboard.wait_for_view(users["am"].id)
    form = {"title": "Design", "approvers": [users["approver"].id]}
    assert onboard.driver.submit_view(users["am"].id, view_id, form).json() == {
        "response_action": "clear"
    }
    onboard.deliver()


@pytest.mark.parametrize("kind", KINDS)
def test_approve_button(world: tuple[Running, dict[str, User]], kind: str) -> None:
    onboard, users = world
    post_deliverable(onboard, users)
    onboard.driver.click_button(users[kind].id, channel_of(onboard), "approve")
    told = onboard.wait_until(
        lambda: [e for e in onboard.workspace.ephemerals if e.user == users[kind].id]
    )
    with onboard.bot.db.transaction() as session:
        decisions = session.scalars(select(Decision.approver)).all()
        refused = session.scalar(
            select(func.count()).where(AuditEvent.action == "decision.refused")
        )
    if kind == "approver":
        assert decisions == [users[kind].id] and refused == 0
    else:
        assert decisions == [] and refused == 1
        assert "can decide" in told[-1].text


@pytest.mark.parametrize("kind", KINDS)
def test_request_changes_button(world: tuple[Running, dict[str, User]], kind: str) -> None:
    onboard, users = world
    post_deliverable(onboard, users)
    onboard.driver.click_button(users[kind].id, channel_of(onboard), "request_changes")
    if kind == "approver":
        onboard.wait_for_view(users[kind].id)
    else:
        onboard.wait_until(
            lambda: [e for e in onboard.workspace.ephemerals if e.user == users[kind].id]
        )
        assert onboard.workspace.open_views_for(users[kind].id) == []


@pytest.mark.parametrize("kind", KINDS)
def test_ticking_a_task_on_the_card(world: tuple[Running, dict[str, User]], kind: str) -> None:
    onboard, users = world
    onboard.driver.click_checkbox(users[kind].id, channel_of(onboard), "task_done", ["1:1"])
    if kind in INTERNAL:
        onboard.wait_until(lambda: "1 of 2 done" in _card_text(onboard) or onboard.deliver())
    else:
        onboard.wait_until(
            lambda: [e for e in onboard.workspace.ephemerals if e.user == users[kind].id]
        )
        onboard.deliver()
        assert "0 of 2 done" in _card_text(onboard)


def _card_text(onboard: Running) -> str:
    channel = onboard.workspace.channels[channel_of(onboard)]
    return str(
        [m.blocks for m in onboard.workspace.messages_in(channel.id) if m.ts in channel.pins]
    )
