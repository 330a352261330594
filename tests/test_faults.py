"""Slack misbehaving during a whole journey: every message lands once, the outcome is the same.

Outbox calls get 429s, 500s, slow answers, dropped connections and answers lost after the
work was done; the run is compared with a fault-free run of the same journey.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import select

from onboard.storage import audit
from onboard.storage.models import Client, Decision, GateState, OutboxMessage, Task
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client
from tests.handlers.test_playbook_journeys import pass_gates_and_advance

OUTBOX_METHODS = (
    "conversations.create",
    "conversations.setTopic",
    "conversations.setPurpose",
    "conversations.invite",
    "chat.postMessage",
    "chat.update",
    "pins.add",
    "conversations.history",
)


def deliver_everything(onboard: Running, clock: FixedClock) -> None:
    for _ in range(200):
        onboard.deliver()
        with onboard.bot.db.transaction() as session:
            pending = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == "pending")
            ).all()
        if not pending:
            return
        clock.now += dt.timedelta(minutes=10)  # past any Retry-After or backoff
    raise AssertionError("the outbox never drained")


def journey(onboard: Running, people: People, clock: FixedClock) -> None:
    onboard_client(onboard, people)
    deliver_everything(onboard, clock)
    channel = channel_of(onboard)
    onboard.workspace.channels[channel].members.append(people.client.id)
    say(onboard, people.am.id, "task done 1")
    for _ in range(3):  # through the first stages: conditions, sign-offs, advance
        pass_gates_and_advance(onboard, people, lambda: deliver_everything(onboard, clock))
        deliver_everything(onboard, clock)


def outcome(onboard: Running) -> dict[str, Any]:
    with onboard.bot.db.transaction() as session:
        client = session.scalars(select(Client)).one()
        state = {
            "client": (client.slug, client.status, client.stage_key, client.channel_name),
            "tasks": sorted(
                (t.number, t.done_at is not None) for t in session.scalars(select(Task))
            ),
            "gates": sorted((g.gate_key, g.status) for g in session.scalars(select(GateState))),
            "decisions": [(d.approver, d.outcome) for d in session.scalars(select(Decision))],
            "failed": session.scalars(
                select(OutboxMessage.key).where(OutboxMessage.status != "sent")
            ).all(),
            "chain": audit.verify_database(session)[1],
        }
    channel = onboard.workspace.channels[client.channel_id or ""]
    state["messages"] = Counter(m.text for m in onboard.workspace.messages_in(channel.id))
    state["members"] = sorted(channel.members)
    state["topic"] = channel.topic
    state["pins"] = len(channel.pins)
    return state


def test_a_journey_through_a_misbehaving_slack_ends_exactly_like_a_calm_one(
    start_bot: BotFactory, people: People
) -> None:
    calm_clock = FixedClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    calm = start_bot(clock=calm_clock)
    journey(calm, people, calm_clock)
    expected = outcome(calm)
    calm.server.stop()
    calm.bot.stop()

    with calm.bot.db.engine.begin() as conn:  # the same database, emptied for the second run
        for table in (
            "decisions",
            "deliverable_versions",
            "deliverables",
            "approvers",
            "gate_states",
            "tasks",
            "outbox",
            "contacts",
            "processed_requests",
        ):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql("DELETE FROM clients")
    calm.workspace.channels = {
        k: v for k, v in calm.workspace.channels.items() if not v.name.startswith("client-")
    }

    stormy_clock = FixedClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    stormy = start_bot(clock=stormy_clock)
    workspace = stormy.workspace
    lost_posts = workspace.inject("chat.postMessage", lose_answer=True, times=3)
    for method in OUTBOX_METHODS:
        workspace.inject(method, lose_answer=True, times=None, share=0.2)
    for method in OUTBOX_METHODS:
        workspace.inject(method, status=429, retry_after=1, times=None, share=0.15)
        workspace.inject(method, status=500, times=None, share=0.1)
        workspace.inject(method, drop=True, times=None, share=0.1)
        workspace.inject(method, delay=0.05, times=None, share=0.1)
    journey(stormy, people, stormy_clock)
    workspace.clear_faults()
    got = outcome(stormy)

    assert sum(1 for c in workspace.calls if c.faulted) > 10, "the storm never hit"
    assert lost_posts.hits == 3, "no post lost its answer"
    expected_chain, got_chain = expected.pop("chain"), got.pop("chain")
    assert expected_chain is None and got_chain is None
    assert got == expected
