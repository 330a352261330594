"""Fixtures: a database per test, the Slack stand-in over HTTP, and the bot serving HTTP.

Set ONBOARD_TEST_DATABASE_URL=postgresql://… to run everything against PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, event, text

from onboard.bot.app import Onboard, build
from onboard.bot.settings import Settings
from onboard.bot.web import HttpServer
from onboard.standin.driver import SlackDriver
from onboard.standin.records import User
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace

T = TypeVar("T")
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    url = os.environ.get("ONBOARD_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path}/onboard.db"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def workspace() -> Workspace:
    return Workspace()


@pytest.fixture
def slack(workspace: Workspace) -> Iterator[SlackStandIn]:
    with SlackStandIn(workspace) as standin:
        yield standin


@dataclass
class People:
    """The cast of a story: the agency's team, and people who are not on it."""

    am: User  # an account manager
    engineer: User
    admin: User
    guest: User  # a guest account in the agency's workspace
    client: User  # a client's user, from another workspace (Slack Connect)


@pytest.fixture
def people(workspace: Workspace) -> People:
    return People(
        am=workspace.add_user("alice.am", tz="Europe/London"),
        engineer=workspace.add_user("eric.engineer", tz="America/New_York"),
        admin=workspace.add_user("ada.admin"),
        guest=workspace.add_user("gus.guest", guest=True),
        client=workspace.add_user("carla.client", team_id="T0CLIENT", email="carla@acme.example"),
    )


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Running:
    """The bot serving HTTP, and a way to talk to it as Slack does."""

    bot: Onboard
    server: HttpServer
    driver: SlackDriver
    workspace: Workspace

    def wait_for_view(self, user_id: str, *, after: int = 0, timeout: float = 10) -> str:
        """The ID of the modal the bot opens for `user_id` after acking (it opens after the ack)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = self.workspace.open_views_for(user_id)
            if len(views) > after:
                return views[-1].id
            time.sleep(0.01)
        raise AssertionError(f"no modal opened for {user_id}")

    def wait_until(self, found: Callable[[], T | None], timeout: float = 10) -> T:
        """What `found` returns once it is something: for work the bot does after its ack."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = found()
            if value:
                return value
            time.sleep(0.01)
        raise AssertionError("the bot did not get there in time")

    def transactions(self) -> list[None]:
        """An item for each transaction this thread commits on the bot's database from now on:
        a sweep's cost (on SQLite each one is a turn of the write lock the acks need)."""
        committed: list[None] = []
        here = threading.get_ident()

        def count(_connection: object) -> None:
            if threading.get_ident() == here:
                committed.append(None)

        event.listen(self.bot.db.engine, "commit", count)
        return committed

    def settle(self) -> None:
        """Let the work the bot does after its acks finish (a decision, a saved form)."""
        assert self.bot.inbox.wait_idle(30), "work after an ack did not finish"

    def deliver(self) -> None:
        """Let the work after the acks finish, then the outbox worker send everything due now."""
        self.settle()
        self.bot.delivery.drain()


BotFactory = Callable[..., Running]


@pytest.fixture
def start_bot(database_url: str, slack: SlackStandIn, people: People) -> Iterator[BotFactory]:
    running: list[Running] = []

    def start(clock: Callable[[], dt.datetime] | None = None, **overrides: Any) -> Running:
        defaults: dict[str, Any] = {
            "slack_bot_token": slack.workspace.bot_token,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            "database_url": database_url,
            "team": (people.engineer.id,),
            "admins": (people.admin.id,),
            "http_threads": 4,
        }
        settings = Settings(**(defaults | overrides))
        kwargs: dict[str, Any] = {"clock": clock} if clock else {}
        bot = build(settings, **kwargs)
        server = HttpServer(bot, "127.0.0.1", 0).start()
        run = Running(
            bot, server, SlackDriver(server.url, SIGNING_SECRET, slack.workspace), slack.workspace
        )
        running.append(run)
        return run

    yield start
    for run in running:
        run.server.stop()
        run.bot.stop()


@pytest.fixture
def onboard(start_bot: BotFactory) -> Running:
    return start_bot()
