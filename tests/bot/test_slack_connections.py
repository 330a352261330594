"""The bot's Slack calls reuse open connections, and fail as slack_sdk's own calls fail."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from onboard.bot.gateway import SlackGateway, SlackRefused, SlackRetryLater, web_client
from onboard.bot.slack_connections import KeepAliveWebClient
from onboard.standin import SlackStandIn


@pytest.fixture
def gateway(slack: SlackStandIn) -> SlackGateway:
    return SlackGateway(web_client(slack.workspace.bot_token, slack.api_url))


def test_twenty_messages_travel_on_one_connection(
    slack: SlackStandIn, gateway: SlackGateway
) -> None:
    channel = gateway.call("conversations.create", name="acme-onboarding")["channel"]["id"]
    for n in range(20):
        gateway.call("chat.postMessage", channel=channel, text=f"update {n}")

    assert len(slack.workspace.messages_in(channel)) == 20
    assert slack.connections == 1


def test_a_refusal_is_slacks_error_and_the_connection_stays(
    slack: SlackStandIn, gateway: SlackGateway
) -> None:
    with pytest.raises(SlackRefused) as refused:
        gateway.call("chat.postMessage", channel="C0NOSUCH", text="hello")
    assert refused.value.error == "channel_not_found"

    gateway.call("conversations.create", name="acme-onboarding")
    assert slack.connections == 1


def test_rate_limit_keeps_slacks_retry_after(slack: SlackStandIn, gateway: SlackGateway) -> None:
    slack.workspace.inject("conversations.create", status=429, retry_after=7)

    with pytest.raises(SlackRetryLater) as later:
        gateway.call("conversations.create", name="acme-onboarding")

    assert later.value.error == "ratelimited"
    assert later.value.retry_after == 7
    gateway.call("conversations.create", name="acme-onboarding")  # the next one goes through


def test_a_dropped_connection_is_a_network_failure_and_the_next_call_reconnects(
    slack: SlackStandIn, gateway: SlackGateway
) -> None:
    gateway.call("auth.test")
    slack.workspace.inject("conversations.create", drop=True)

    with pytest.raises(SlackRetryLater) as later:
        gateway.call("conversations.create", name="acme-onboarding")
    assert later.value.error.startswith("network")

    assert gateway.call("conversations.create", name="acme-onboarding")["ok"]
    assert slack.connections == 2


def test_server_errors_raise_slack_api_error_with_the_status(slack: SlackStandIn) -> None:
    client = web_client(slack.workspace.bot_token, slack.api_url)
    slack.workspace.inject("auth.test", status=503)

    with pytest.raises(SlackApiError) as failed:
        client.auth_test()

    assert failed.value.response.status_code == 503


def test_a_late_answer_is_never_sent_again(slack: SlackStandIn) -> None:
    # The call reached Slack; only its answer is late. A resend would post the message twice,
    # so a retry handler for dropped connections must not take it for one.
    client = KeepAliveWebClient(
        token=slack.workspace.bot_token,
        base_url=slack.api_url,
        timeout=1,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )
    channel = client.conversations_create(name="acme-onboarding")["channel"]["id"]
    slack.workspace.inject("chat.postMessage", delay=1.5)

    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=channel, text="Kickoff is on Monday")

    time.sleep(1.0)  # the stand-in finishes the delayed call
    assert [m.text for m in slack.workspace.messages_in(channel)] == ["Kickoff is on Monday"]
