"""Who someone is, asked of Slack and remembered for a while, within a bound."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from onboard.bot import identity
from onboard.bot.identity import Directory
from onboard.storage.models import Task
from tests.conftest import BotFactory, People, Running
from tests.handlers.test_journey import channel_of
from tests.handlers.test_new_client import onboard_client


def test_people_are_looked_up_once_and_the_least_recent_forgotten_past_the_bound(
    onboard: Running, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A big workspace must not grow the process's memory for good: past the bound the person
    # looked up longest ago is forgotten, and asked of Slack again when needed.
    monkeypatch.setattr(identity, "PEOPLE_KEPT", 2)
    directory = Directory(onboard.bot.gateway)
    asked = len(onboard.workspace.calls_to("users.info"))

    def lookups() -> int:
        return len(onboard.workspace.calls_to("users.info")) - asked

    directory.person(people.am.id)
    directory.person(people.am.id)
    assert lookups() == 1  # remembered
    directory.person(people.engineer.id)
    directory.person(people.guest.id)  # the account manager is forgotten
    assert directory.person(people.am.id).tz == "Europe/London"
    assert lookups() == 4


def test_when_slack_is_slow_to_say_who_someone_is_their_command_is_refused_in_time(
    start_bot: BotFactory, people: People
) -> None:
    # The permission check asks Slack who the admin is before the ack. Slack takes 4 s: past
    # its own 3 s for the ack, so the admin would see an error while the task got added,
    # and typing it again would add it twice. The bot gives up first and says so.
    onboard = start_bot()
    onboard_client(onboard, people)
    onboard.workspace.inject("users.info", delay=4, times=None)

    answer = onboard.driver.command(
        people.admin.id, "task add Call the client back", channel_id=channel_of(onboard)
    )

    assert "Slack did not answer; try again in a moment." in answer.text
    onboard.workspace.clear_faults()
    onboard.settle()
    with onboard.bot.db.transaction() as session:
        assert "Call the client back" not in session.scalars(select(Task.title)).all()


def test_someone_who_left_the_workspace_is_known_as_such_and_remembered(
    onboard: Running, people: People
) -> None:
    # Eric leaves the agency: his account is deactivated (users.info says `deleted`). The bot
    # stops writing to him; asking Slack once a while is enough.
    onboard.workspace.users[people.engineer.id].deleted = True
    directory = Directory(onboard.bot.gateway)
    asked = len(onboard.workspace.calls_to("users.info"))

    assert directory.person(people.engineer.id).deleted
    assert directory.has_left(people.engineer.id)
    assert len(onboard.workspace.calls_to("users.info")) - asked == 1  # remembered
    assert not directory.has_left(people.am.id)
    assert directory.has_left("U0NOSUCH1")  # Slack does not know them: nobody reads a DM
