"""App Home for someone with more clients than it shows: the ones under way, and a count."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from onboard.bot import home
from onboard.standin.workspace import Workspace
from onboard.storage.audit import Cause
from onboard.storage.models import Client
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_journey import say
from tests.handlers.test_new_client import good_form, onboard_client

MONDAY = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def home_blocks(onboard: Running, user: str) -> str:
    onboard.driver.event({"type": "app_home_opened", "user": user, "tab": "home"})
    return json.dumps(onboard.wait_until(lambda: onboard.workspace.home_of(user)).blocks)


def home_text(onboard: Running, user: str) -> str:
    """The Home published for `user` as it is now ("" before the first)."""
    shown = onboard.workspace.home_of(user)
    return json.dumps(shown.blocks) if shown else ""


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


def test_a_clients_person_sees_whether_it_is_done_never_the_teams_view_of_its_health(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(MONDAY)
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    clock.now = MONDAY + dt.timedelta(days=10)  # its first tasks overdue, its stage late

    # The team sees the client at risk; Carla, the client's contact, sees her onboarding's
    # progress and nothing of what the team makes of it.
    assert "at risk" in home_blocks(onboard, people.admin.id)
    carla = home_blocks(onboard, people.client.id)
    assert "Acme Rockets" in carla
    assert "at risk" not in carla and "on track" not in carla and "overdue" not in carla

    for _ in range(10):  # through every stage
        say(onboard, people.admin.id, "advance --force done")
    with onboard.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "completed"
    onboard.driver.event({"type": "app_home_opened", "user": people.client.id, "tab": "home"})
    onboard.wait_until(lambda: ":white_check_mark: done" in home_text(onboard, people.client.id))


def test_an_engineer_on_the_team_sees_every_client_being_onboarded(
    onboard: Running, people: People, workspace: Workspace
) -> None:
    # ONBOARD_TEAM (the engineer) is invited to every new client's channel: each client being
    # onboarded is theirs, though they are neither its account manager nor a task's assignee.
    am = Cause(people.am.id, "T0HOME")
    for name in ("Acme Rockets", "Blue Widgets", "Cobalt Labs"):
        onboard.bot.onboarding.submit(good_form(name=name), am)
    onboard.deliver()
    with onboard.bot.db.transaction() as session:  # finished, and never the engineer's
        session.execute(
            update(Client).where(Client.name == "Cobalt Labs").values(status="completed")
        )

    blocks = home_blocks(onboard, people.engineer.id)

    assert "Your clients" in blocks
    assert "Acme Rockets" in blocks and "Blue Widgets" in blocks
    assert "Cobalt Labs" not in blocks
    # A colleague outside ONBOARD_TEAM still sees only the clients that are theirs.
    dora = workspace.add_user("dora.designer")
    assert "No clients yet" in home_blocks(onboard, dora.id)


def test_an_admin_with_many_clients_gets_a_home_within_slacks_limits(
    onboard: Running, people: People
) -> None:
    am = Cause(people.am.id, "T0HOME")
    for n in range(home.MAX_CLIENTS + 15):
        onboard.bot.onboarding.submit(good_form(name=f"Client {n} <!channel> & <@U0X>"), am)

    onboard.driver.event({"type": "app_home_opened", "user": people.admin.id, "tab": "home"})
    blocks = onboard.wait_until(lambda: onboard.workspace.home_of(people.admin.id)).blocks
    text = json.dumps(blocks)

    assert len(blocks) <= 100  # Slack's limit for a Home view
    assert "and 15 more" in text
    # A client's name is shown as typed, never as a mention that pings.
    assert "<!channel>" not in text and "<@U0X>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U0X&gt;" in text
