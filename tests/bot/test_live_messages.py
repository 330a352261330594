"""Live messages refreshed by several replicas' outbox workers: the newest view lands last."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from onboard.bot.delivery import Delivery
from onboard.bot.gateway import SlackGateway
from onboard.standin.workspace import Workspace
from onboard.storage import outbox
from onboard.storage.db import Database
from onboard.storage.models import DeliverableVersion, OutboxMessage
from onboard.storage.schema import upgrade
from tests.conftest import People, Running
from tests.handlers import test_approvals
from tests.handlers.test_approvals import post_deliverable
from tests.handlers.test_journey import channel_of, say

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
LIVE = "test.live"
shared = test_approvals.shared  # the fixture: a client channel with its approver in it


class SlowUpdates(SlackGateway):
    """A replica's connection to Slack on which chat.update is slow to arrive."""

    def __init__(self, inner: SlackGateway) -> None:
        super().__init__(inner.client)
        self.inner, self.sending, self.go = inner, threading.Event(), threading.Event()

    def call(self, method: str, **kwargs: Any) -> Any:
        if method == "chat.update":
            self.sending.set()
            self.go.wait(30)
        return self.inner.call(method, **kwargs)


def replica_of(bot: Running, gateway: Any) -> Delivery:
    """Another `serve` process's outbox worker, on the same database."""
    replica = Delivery(bot.bot.db, gateway)
    replica.executors = bot.bot.delivery.executors
    replica.coalesced = bot.bot.delivery.coalesced
    replica.on_refused = bot.bot.delivery.on_refused
    return replica


def test_two_replicas_never_leave_an_older_view_of_the_deliverable(
    shared: Running, people: People, workspace: Workspace
) -> None:
    channel = channel_of(shared)
    second = workspace.add_user("sam.client", team_id="T0CLIENT")
    shared.workspace.channels[channel].members.append(second.id)
    say(shared, people.am.id, f"approvers add <@{second.id}|sam>")
    post_deliverable(shared, people, approvers=[people.client.id, second.id], rule="all")
    ts = shared.workspace.messages_in(channel)[-1].ts
    slow = SlowUpdates(shared.bot.delivery.gateway)
    a, b = replica_of(shared, slow), replica_of(shared, shared.bot.delivery.gateway)

    shared.driver.click_button(people.client.id, channel, "approve")
    shared.settle()
    first = threading.Thread(target=a.run_once)
    first.start()
    assert slow.sending.wait(10)  # A rendered "1 of 2, waiting" and is sending it
    shared.driver.click_button(second.id, channel, "approve")
    shared.settle()
    assert b.run_once() == 0  # B leaves "Approved" until A's update has landed
    slow.go.set()
    first.join(30)
    assert b.run_once() == 1  # now B renders and sends the state current now

    with shared.bot.db.transaction() as session:
        assert session.scalars(select(DeliverableVersion.status)).one() == "approved"
    shown = str(next(m for m in shared.workspace.messages_in(channel) if m.ts == ts).blocks)
    assert "Approved" in shown and "'action_id': 'approve'" not in shown, (
        "the channel shows the deliverable still waiting, with its buttons: " + shown[:300]
    )


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


def queue(db: Database, *rows: tuple[str, str, dict[str, Any]]) -> None:
    with db.transaction() as session:
        for key, operation, payload in rows:
            outbox.enqueue(session, key, operation, payload, now=NOW)


def claim(db: Database, worker: str, limit: int = 20) -> list[str]:
    with db.transaction() as session:
        rows = outbox.claim(session, worker, NOW, limit=limit, one_at_a_time={LIVE})
        return [r.key for r in rows]


def test_a_burst_behind_a_refresh_in_flight_holds_up_no_other_row(db: Database) -> None:
    queue(db, ("card:1", LIVE, {"client_id": 1}))
    assert claim(db, "a") == ["card:1"]  # A is refreshing client 1's card
    queue(db, *((f"card:1:{n}", LIVE, {"client_id": 1}) for n in range(25)))
    queue(db, ("card:2", LIVE, {"client_id": 2}), ("call", "slack.call", {"client_id": 1}))

    # More rows of client 1's card than a batch holds: the rows behind them are still taken.
    assert claim(db, "b") == ["card:2", "call"]

    with db.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.key == "card:1")).one()
        outbox.mark_sent(session, row.id, {}, NOW)
    assert claim(db, "b", limit=30) == [f"card:1:{n}" for n in range(25)]  # coalesced by B


def test_two_claims_at_once_take_one_live_messages_rows_in_one_of_them(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite runs one claim at a time (BEGIN IMMEDIATE)")
    queue(db, ("card:1:a", LIVE, {"client_id": 1}))
    with db.transaction() as session:
        # A's claim, not committed yet: B cannot see its lease, and SKIP LOCKED lets B past
        # the row A locked to the next row of the same card.
        taken = outbox.claim(session, "a", NOW, one_at_a_time={LIVE})
        assert [r.key for r in taken] == ["card:1:a"]
        queue(db, ("card:1:b", LIVE, {"client_id": 1}), ("card:2", LIVE, {"client_id": 2}))
        assert claim(db, "b") == ["card:2"]
    assert claim(db, "b") == []  # A's lease, committed now, holds card:1:b back
