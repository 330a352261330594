"""App Home for someone with more clients than it shows: the ones under way, and a count."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from onboard.bot import home
from onboard.storage.audit import Cause
from onboard.storage.models import Client
from tests.conftest import People, Running
from tests.handlers.test_new_client import good_form


def home_blocks(onboard: Running, user: str) -> str:
    onboard.driver.event({"type": "app_home_opened", "user": user, "tab": "home"})
    return json.dumps(onboard.wait_until(lambda: onboard.workspace.home_of(user)).blocks)


def test_an_admins_home_shows_clients_under_way_first_and_counts_the_rest(
    onboard: Running, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home, "MAX_CLIENTS", 2)
    am = Cause(people.am.id, "T0HOME")
    for name in ("Acme Rockets", "Blue Widgets", "Cobalt Labs", "Delta Foods"):
        onboard.bot.onboarding.submit(good_form(name=name), am)
        onboard.deliver()
    with onboard.bot.db.transaction() as session:  # the two newest have finished
        session.execute(
            update(Client)
            .where(Client.name.in_(["Cobalt Labs", "Delta Foods"]))
            .values(status="completed")
        )
    onboard.bot.onboarding.submit(good_form(name="Echo Travel"), am)  # its channel comes later

    blocks = home_blocks(onboard, people.admin.id)

    assert "Echo Travel" in blocks and "Blue Widgets" in blocks  # being set up, under way
    assert "Delta Foods" not in blocks and "Cobalt Labs" not in blocks
    assert "\\u2026and 3 more" in blocks  # …: Acme Rockets and the two completed
