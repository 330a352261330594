"""Who someone is, asked of Slack and remembered for a while, within a bound."""

from __future__ import annotations

import pytest

from onboard.bot import identity
from onboard.bot.identity import Directory
from tests.conftest import People, Running


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
