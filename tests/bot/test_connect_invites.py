"""A client invited through Slack Connect while Slack's answers go missing: invited once."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from sqlalchemy import select

from onboard.storage.models import AuditEvent
from tests.bot.test_delivery import NOW, outbox, submit_new_client
from tests.conftest import BotFactory, FixedClock, People, Running


def connect_story(onboard: Running, people: People, clock: FixedClock) -> list[dict[str, Any]]:
    """Onboard a client with Slack Connect through every retry; the channel's pending invites."""
    submit_new_client(onboard, people)
    for _ in range(10):
        onboard.deliver()
        clock.now += dt.timedelta(minutes=5)
    assert all(r.status == "sent" for r in outbox(onboard))
    channel = onboard.workspace.channel_by_name("client-acme-rockets")
    assert channel is not None
    return channel.pending_shared_invites


def connect_invited_events(onboard: Running) -> list[AuditEvent]:
    with onboard.bot.db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "channel.connect_invited")
            )
        )


def test_a_connect_invite_whose_answer_was_lost_invites_the_client_once(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock, slack_connect=True)
    # Slack sends the invitation, then the connection drops before the bot hears of it.
    lost = onboard.workspace.inject("conversations.inviteShared", lose_answer=True, times=1)

    pending = connect_story(onboard, people, clock)

    assert lost.hits == 1
    assert [i["email"] for i in pending] == ["carla@acme.example"]
    events = connect_invited_events(onboard)
    assert [e.details["invite_id"] for e in events] == [pending[0]["invite_id"]]


def test_a_connect_invite_is_sent_again_when_slack_will_not_list_invites(
    start_bot: BotFactory, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    # A team preference hides pending invites: better a second invitation than none at all.
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock, slack_connect=True)
    onboard.workspace.inject("conversations.inviteShared", lose_answer=True, times=1)
    onboard.workspace.inject("conversations.listConnectInvites", error="restricted_action")

    pending = connect_story(onboard, people, clock)

    assert [i["email"] for i in pending] == ["carla@acme.example"] * 2
    assert len(connect_invited_events(onboard)) == 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("restricted_action" in w and "second invitation" in w for w in warned)


def test_a_connect_invite_retried_after_a_429_does_not_list_invites_first(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(NOW)
    onboard = start_bot(clock=clock, slack_connect=True)
    onboard.workspace.inject("conversations.inviteShared", status=429, retry_after=1)

    pending = connect_story(onboard, people, clock)

    assert len(pending) == 1 and len(connect_invited_events(onboard)) == 1
    assert onboard.workspace.calls_to("conversations.listConnectInvites") == []
