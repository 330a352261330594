"""Slack failing in the middle of onboarding a client: nothing lost, nothing sent twice."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import select

from onboard.bot import outbound
from onboard.bot.delivery import Delivery, Outcome
from onboard.bot.gateway import SlackRetryLater
from onboard.standin.workspace import Workspace
from onboard.storage.models import AuditEvent, Client, OutboxMessage
from onboard.storage.outbox import enqueue
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import good_form, onboard_client, saving

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def submit_new_client(onboard: Running, people: People) -> None:
    onboard.driver.command(people.am.id, "new")
    view_id = onboard.wait_for_view(people.am.id)
    assert saving(onboard.driver.submit_view(people.am.id, view_id, good_form()))
    onboard.settle()


def outbox(onboard: Running) -> list[OutboxMessage]:
    with onboard.bot.db.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def welcome_posts(onboard: Running) -> list[str]:
    channel = onboard.workspace.channel_by_name("client-acme-rockets")
    assert channel is not None
    return [m.text for m in onboard.workspace.messages_in(channel.id) if "Welcome" in m.text]


def channel_texts(onboard: Running) -> list[str]:
    channel = onboard.workspace.channel_by_name("client-acme-rockets")
    assert channel is not None
    return [m.text for m in onboard.workspace.messages_in(channel.id)]


def test_slack_rate_limiting_a_step_delays_it_by_retry_after(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    onboard.workspace.inject("conversations.invite", status=429, retry_after=7)
    submit_new_client(onboard, people)

    onboard.deliver()
    invite = next(r for r in outbox(onboard) if r.operation == "slack.call" and ":invite:" in r.key)
    assert (invite.status, invite.last_error) == ("pending", "ratelimited")
    assert invite.next_attempt_at == NOW + dt.timedelta(seconds=7)

    clock.now = NOW + dt.timedelta(seconds=6)
    onboard.deliver()
    assert len(onboard.workspace.calls_to("conversations.invite")) == 1  # waited as told

    clock.now = NOW + dt.timedelta(seconds=7)
    onboard.deliver()
    assert all(r.status == "sent" for r in outbox(onboard))
    assert len(welcome_posts(onboard)) == 1


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": True}, {"error": "internal_error"}])
def test_slack_failing_a_step_is_retried_until_it_lands_once(
    start_bot: BotFactory, people: People, fault: dict[str, object]
) -> None:
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    onboard.workspace.inject("chat.postMessage", times=3, **fault)  # type: ignore[arg-type]
    onboard.workspace.inject("conversations.create", times=2, **fault)  # type: ignore[arg-type]
    submit_new_client(onboard, people)

    for _ in range(30):
        onboard.deliver()
        clock.now += dt.timedelta(minutes=5)

    assert all(r.status == "sent" for r in outbox(onboard))
    assert len(welcome_posts(onboard)) == 1
    created = [c for c in onboard.workspace.channels.values() if c.name.startswith("client-")]
    assert [c.name for c in created] == ["client-acme-rockets"]


def test_a_crash_after_commit_and_before_any_slack_call_is_delivered_after_restart(
    start_bot: BotFactory, people: People
) -> None:
    first = start_bot()
    submit_new_client(first, people)
    # The process dies here: the client is committed, its outbox rows are not delivered.
    first.server.stop()
    first.bot.stop()
    assert first.workspace.calls_to("conversations.create") == []

    second = start_bot()
    second.deliver()

    assert len(welcome_posts(second)) == 1
    with second.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "active"


def test_a_post_whose_answer_was_lost_is_not_posted_again(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    submit_new_client(onboard, people)
    onboard.workspace.inject("chat.postMessage", delay=0.01, times=None)
    original = onboard.bot.gateway.call
    lost = {"done": False}

    def lose_first_welcome_answer(method: str, **args: object) -> dict[str, object]:
        answer = original(method, **args)
        if (
            method == "chat.postMessage"
            and not lost["done"]
            and str(args["channel"]).startswith("C")
        ):
            lost["done"] = True
            raise SlackRetryLater(method, "network: ConnectionResetError")
        return answer

    onboard.bot.gateway.call = lose_first_welcome_answer  # type: ignore[method-assign]
    for _ in range(10):
        onboard.deliver()
        clock.now += dt.timedelta(minutes=1)

    assert lost["done"]
    assert len(welcome_posts(onboard)) == 1
    assert all(r.status == "sent" for r in outbox(onboard))


def test_a_channel_created_by_an_interrupted_attempt_is_adopted_not_duplicated(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    submit_new_client(onboard, people)
    original = onboard.bot.gateway.call
    lost = {"done": False}

    def lose_create_answer(method: str, **args: object) -> dict[str, object]:
        answer = original(method, **args)
        if method == "conversations.create" and not lost["done"]:
            lost["done"] = True
            raise SlackRetryLater(method, "network: TimeoutError")
        return answer

    onboard.bot.gateway.call = lose_create_answer  # type: ignore[method-assign]
    for _ in range(10):
        onboard.deliver()
        clock.now += dt.timedelta(minutes=1)

    names = [c.name for c in onboard.workspace.channels.values() if c.name.startswith("client-")]
    assert names == ["client-acme-rockets"]
    assert len(welcome_posts(onboard)) == 1


def test_slack_connect_refused_leaves_instructions_and_onboarding_goes_on(
    start_bot: BotFactory, people: People
) -> None:
    onboard = start_bot(slack_connect=True)
    onboard.workspace.paid_plan = False
    submit_new_client(onboard, people)
    onboard.deliver()

    texts = channel_texts(onboard)
    assert any("Slack Connect invitation" in t for t in texts)
    assert any("Welcome, Acme Rockets" in t for t in texts)
    # The welcome, posted before Slack answered the invite, claims no invitation was sent.
    channel = onboard.workspace.channel_by_name("client-acme-rockets")
    assert channel is not None
    welcome = next(m for m in onboard.workspace.messages_in(channel.id) if "Welcome" in m.text)
    assert "invited" not in str(welcome.blocks)
    with onboard.bot.db.transaction() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "channel.connect_invited.refused" in actions
    assert "channel.connect_fallback_posted" in actions
    assert "channel.welcomed" in actions


def test_slack_connect_invites_the_primary_contact_by_email(
    start_bot: BotFactory, people: People
) -> None:
    onboard = start_bot(slack_connect=True)
    submit_new_client(onboard, people)
    onboard.deliver()
    shared = onboard.workspace.calls_to("conversations.inviteShared")
    assert len(shared) == 1
    assert "carla@acme.example" in str(shared[0].args.get("emails"))
    assert not any("Slack Connect invitation" in t for t in channel_texts(onboard))


def test_a_step_slack_refuses_for_good_is_tried_once_and_the_account_manager_told(
    start_bot: BotFactory, people: People
) -> None:
    onboard = start_bot()
    onboard.workspace.inject("conversations.create", error="restricted_action")
    submit_new_client(onboard, people)
    onboard.deliver()
    onboard.deliver()

    assert len(onboard.workspace.calls_to("conversations.create")) == 1
    told = [
        c.args
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.am.id
    ]
    assert len(told) == 1 and "restricted_action" in told[0]["text"]
    with onboard.bot.db.transaction() as session:
        failed = session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "failed")
        ).one()
        assert failed.key.endswith(":channel")
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "slack.delivery_failed" in actions


def test_a_burst_of_updates_to_one_live_message_is_delivered_once(onboard: Running) -> None:
    delivered: list[dict[str, object]] = []

    def show(_gateway: object, row: OutboxMessage) -> Outcome:
        delivered.append(row.payload)
        return Outcome(result={"shown": True})

    onboard.bot.delivery.register("test.live", show, coalesce=True)
    with onboard.bot.db.transaction() as session:
        for n, version in enumerate([7, 7, 8, 7]):  # four clicks, on two deliverables
            enqueue(session, f"click:{n}", "test.live", {"version_id": version})

    assert onboard.bot.delivery.run_once() == 2

    assert sorted(p["version_id"] for p in delivered) == [7, 8]  # type: ignore[type-var]
    rows = {r.key: r for r in outbox(onboard) if r.operation == "test.live"}
    assert {k: r.status for k, r in rows.items()} == dict.fromkeys(rows, "sent")
    assert rows["click:0"].result == {"coalesced_into": "click:3"}
    assert rows["click:3"].result == {"shown": True}


def test_a_call_queued_by_a_process_whose_clock_runs_ahead_is_sent_at_once(
    start_bot: BotFactory, people: People
) -> None:
    # Replicas' clocks differ by a little; a row due "now" must not wait for the slowest one.
    behind = FixedClock(NOW - dt.timedelta(minutes=5))
    onboard = start_bot(clock=behind)
    channel = onboard.workspace.channel_by_name("general")
    assert channel is not None
    with onboard.bot.db.transaction() as session:
        enqueue(
            session,
            "ahead:hello",
            "slack.call",
            {"method": "chat.postMessage", "args": {"channel": channel.id, "text": "Hello"}},
            now=NOW,
        )

    onboard.deliver()

    assert "Hello" in [m.text for m in onboard.workspace.messages_in(channel.id)]


def test_a_card_whose_first_posts_answer_was_lost_is_not_posted_again_by_a_refresh(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    onboard = start_bot(clock=clock)
    # The welcome and the card are posted, but Slack's answers to both are lost.
    onboard.workspace.inject("chat.postMessage", lose_answer=True, times=2)
    onboard_client(onboard, people)
    channel = channel_of(onboard)
    # A refresh is queued before the first post's retry: it is its own row's first try.
    say(onboard, people.am.id, "task done 1")
    clock.now += dt.timedelta(minutes=10)
    onboard.deliver()

    cards = [
        m
        for m in onboard.workspace.messages_in(channel)
        if str((m.metadata or {}).get("event_payload", {}).get("key", "")).endswith(":card")
    ]
    assert len(cards) == 1
    assert onboard.workspace.channels[channel].pins == [cards[0].ts]


def test_a_team_member_slack_skips_in_the_invite_is_not_recorded_as_invited(
    start_bot: BotFactory, people: People
) -> None:
    # Slack invites with force: it invites the others and lists the one it skipped.
    onboard = start_bot(team=(people.engineer.id, "U0GONE"))
    onboard_client(onboard, people)
    onboard.deliver()

    with onboard.bot.db.transaction() as session:
        invited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "channel.invited")
        ).one()
    assert "U0GONE" not in invited.details["users"]
    assert invited.details["not_invited"] == {"U0GONE": "user_not_found"}
    told = [
        c.args["text"]
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.am.id and "refused" in c.args["text"]
    ]
    assert len(told) == 1 and "U0GONE: user_not_found" in told[0]


def test_an_invite_retried_after_its_answer_was_lost_is_done_but_for_the_one_skipped(
    start_bot: BotFactory, people: People
) -> None:
    # The engineer has left (deactivated): with force, Slack invites the others and skips
    # them. That answer is lost; the retry finds the others in, and Slack refuses it whole.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock, team=(people.engineer.id, people.admin.id))
    people.engineer.deleted = True
    submit_new_client(onboard, people)
    slack = onboard.bot.gateway.call
    lost: list[str] = []

    def lose_the_first_invites_answer(method: str, **args: object) -> dict[str, object]:
        answer = slack(method, **args)
        if method == "conversations.invite" and not lost:
            lost.append(method)
            raise SlackRetryLater(method, "network: TimeoutError")
        return answer

    onboard.bot.gateway.call = lose_the_first_invites_answer  # type: ignore[method-assign]
    for _ in range(3):
        onboard.deliver()
        clock.now += dt.timedelta(minutes=1)

    invite = next(r for r in outbox(onboard) if r.key.endswith(":invite:0"))
    assert (invite.status, invite.attempts) == ("sent", 2)
    with onboard.bot.db.transaction() as session:
        invited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "channel.invited")
        ).one()
    assert invited.details["not_invited"] == {people.engineer.id: "cant_invite"}
    assert people.engineer.id not in invited.details["users"]
    told = [
        c.args["text"]
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.am.id and "refused" in c.args["text"]
    ]
    assert len(told) == 1 and f"{people.engineer.id}: cant_invite" in told[0]


def test_a_row_whose_lease_ran_out_in_its_batch_is_sent_by_the_worker_that_took_it_only(
    start_bot: BotFactory,
) -> None:
    # Two replicas' workers. Slack is slow on the first row of A's batch: the second row's
    # lease runs out while it waits, and B claims and sends it. A must not send it again.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    sent: list[str] = []
    replica = Delivery(onboard.bot.db, onboard.bot.gateway, clock=clock)

    def slow_first(_gateway: object, row: OutboxMessage) -> Outcome:
        sent.append(row.key)
        if row.key == "slow:1":
            clock.now += dt.timedelta(seconds=61)
        return Outcome(result={"shown": True})

    for worker in (onboard.bot.delivery, replica):
        worker.register("test.slow", slow_first)

    def b_looks_for_due_rows() -> None:  # as A finishes the slow one
        replica.run_once()

    onboard.bot.delivery.on_sent = b_looks_for_due_rows
    with onboard.bot.db.transaction() as session:
        for n in (1, 2):
            enqueue(session, f"slow:{n}", "test.slow", {}, now=NOW)

    onboard.bot.delivery.run_once()

    assert sent == ["slow:1", "slow:2"]  # slow:2 once, by B
    assert {r.key: r.status for r in outbox(onboard) if r.operation == "test.slow"} == {
        "slow:1": "sent",
        "slow:2": "sent",
    }


def test_a_result_that_cannot_be_recorded_is_retried_then_surfaced_not_claimed_for_ever(
    start_bot: BotFactory,
) -> None:
    # Slack did the call, but the work recorded with its answer fails (a bug; a constraint).
    # The row is tried again with backoff and given up, told, at its last attempt: not
    # claimed again after every lease with no end.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock, outbox_max_attempts=3)
    calls: list[str] = []

    def broken_follow_up(session: object) -> None:
        raise RuntimeError("a constraint")

    def done_but_unrecordable(_gateway: object, row: OutboxMessage) -> Outcome:
        calls.append(row.key)
        return Outcome(result={"shown": True}, then=[broken_follow_up])

    onboard.bot.delivery.register("test.unrecordable", done_but_unrecordable)
    with onboard.bot.db.transaction() as session:
        enqueue(session, "unrecordable:1", "test.unrecordable", {}, now=NOW)
    for _ in range(5):
        onboard.bot.delivery.drain()
        clock.now += dt.timedelta(minutes=10)

    assert calls == ["unrecordable:1"] * 3
    (row,) = [r for r in outbox(onboard) if r.operation == "test.unrecordable"]
    assert row.status == "failed"
    assert row.last_error == "gave up after 3 attempts: not recorded: RuntimeError"


def lease_of(onboard: Running, key: str) -> dt.datetime | None:
    with onboard.bot.db.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).one()
        return row.claimed_until


def wait_for_renewal(onboard: Running, key: str, leased: dt.datetime | None) -> None:
    """Until the row's lease moves, 3 s at most (not renewed, it is found due)."""
    deadline = time.monotonic() + 3
    while lease_of(onboard, key) == leased and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_row_slack_answers_after_its_lease_is_not_sent_again_by_another_replica(
    start_bot: BotFactory,
) -> None:
    # Slack answers one call after 90 s (timeouts, the SDK's retries): longer than the row's
    # 60 s lease. A's worker is alive and still waiting, so it keeps the lease meanwhile, and
    # B, looking for due rows while the call is out, does not take the row and send it again.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    onboard.bot.delivery.leases.every = 0.01  # look often: this test's clock jumps
    replica = Delivery(onboard.bot.db, onboard.bot.gateway, clock=clock)
    sent: list[str] = []

    def slow(_gateway: object, row: OutboxMessage) -> Outcome:
        sent.append(row.key)
        if len(sent) == 1:  # A's call, still out
            for _ in range(3):
                leased = lease_of(onboard, row.key)
                clock.now += dt.timedelta(seconds=30)
                wait_for_renewal(onboard, row.key, leased)
            replica.run_once()
        return Outcome(result={"shown": True})

    for worker in (onboard.bot.delivery, replica):
        worker.register("test.slow", slow)
    with onboard.bot.db.transaction() as session:
        enqueue(session, "slow:1", "test.slow", {}, now=NOW)

    onboard.bot.delivery.run_once()

    assert sent == ["slow:1"]
    assert [r.status for r in outbox(onboard) if r.operation == "test.slow"] == ["sent"]


def test_a_card_post_refused_with_429_is_retried_without_searching_the_channel(
    start_bot: BotFactory, people: People
) -> None:
    # A 429 says nothing was posted: the retry needs no history search (Tier 3, which a
    # burst of posts under 429s would otherwise queue behind).
    clock = FixedClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    onboard = start_bot(clock=clock)
    onboard.workspace.inject("chat.postMessage", status=429, retry_after=0, times=3)
    onboard_client(onboard, people)
    clock.now += dt.timedelta(minutes=10)
    onboard.deliver()

    assert onboard.workspace.calls_to("conversations.history") == []
    cards = [
        m
        for m in onboard.workspace.messages_in(channel_of(onboard))
        if str((m.metadata or {}).get("event_payload", {}).get("key", "")).endswith(":card")
    ]
    assert len(cards) == 1


def test_a_burst_of_posts_under_slacks_rate_limit_is_all_delivered_once(
    start_bot: BotFactory, workspace: Workspace
) -> None:
    # Slack allows about one post a second in a channel and answers 429 beyond it. Fifteen
    # updates queued at once all land, each once, and the 429s do not use up their attempts.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    channel = workspace.add_channel("client-busy")
    last_post: list[float] = []

    def one_post_a_second(method: str, now: float) -> float | None:
        if method != "chat.postMessage":
            return None
        if last_post and now - last_post[-1] < 1.0:
            return 1.0
        last_post.append(now)
        return None

    workspace.clock = lambda: clock.now.timestamp()
    workspace.rate_limiter = one_post_a_second
    with onboard.bot.db.transaction() as session:
        for n in range(15):
            outbound.enqueue_call(
                session,
                f"update:{n}",
                "chat.postMessage",
                {"channel": channel.id, "text": f"Update {n}"},
                client_id=None,
            )
    for _ in range(30):
        onboard.deliver()
        clock.now += dt.timedelta(seconds=1)

    assert [r.status for r in outbox(onboard)] == ["sent"] * 15
    texts = [m.text for m in workspace.messages_in(channel.id)]
    assert sorted(texts) == sorted(f"Update {n}" for n in range(15))
    # Once Slack said wait, the other rows waited too rather than each earning a 429.
    posts = workspace.calls_to("chat.postMessage")
    assert len(posts) < 15 * 2


def test_a_post_whose_answer_was_lost_is_not_posted_again_when_the_search_meets_a_429(
    start_bot: BotFactory, people: People
) -> None:
    # The welcome is posted but its answer lost; the retry's search of the channel meets a
    # 429, which says nothing about the post: the next try searches again, and finds it.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock)
    submit_new_client(onboard, people)
    slack = onboard.bot.gateway.call
    welcomes: list[str] = []
    limited: list[str] = []

    def lose_then_limit(method: str, **args: Any) -> dict[str, Any]:
        key = str((args.get("metadata") or {}).get("event_payload", {}).get("key", ""))
        if method == "chat.postMessage" and key.endswith(":welcome"):
            welcomes.append(key)
            if len(welcomes) == 1:
                slack(method, **args)  # posted; the answer is lost
                raise SlackRetryLater(method, "network: ConnectionResetError")
        if method == "conversations.history" and welcomes and not limited:
            limited.append(method)
            raise SlackRetryLater(method, "ratelimited", 1.0)
        return slack(method, **args)

    onboard.bot.gateway.call = lose_then_limit  # type: ignore[method-assign]
    for _ in range(10):
        onboard.deliver()
        clock.now += dt.timedelta(minutes=1)

    assert limited
    assert all(r.status == "sent" for r in outbox(onboard))
    assert len(welcome_posts(onboard)) == 1
