"""An operator with no public URL runs `onboard socket`: Slack's requests arrive over Socket
Mode's WebSocket instead of HTTP, and every flow answers the same way."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

from onboard.standin.server import SlackStandIn
from onboard.standin.socket_mode import SocketModeDriver
from tests.bot.test_serve import serve_environment
from tests.conftest import People
from tests.handlers.test_new_client import good_form, saving
from tests.test_replicas import saved, start, wait_for


def test_onboard_socket_answers_commands_and_forms_over_the_websocket_and_stops_on_sigterm(
    slack: SlackStandIn, people: People, database_url: str, tmp_path: Path
) -> None:
    link = slack.socket_mode()
    workspace = slack.workspace
    env = serve_environment(slack, database_url) | {
        "SLACK_APP_TOKEN": workspace.app_token,
        "ONBOARD_TEAM": people.engineer.id,
    }
    log = tmp_path / "socket.log"
    process = start(["socket"], env, log)
    try:
        assert link.wait_connected(60), log.read_text()
        # Once, with the app-level token: the stand-in refuses the bot token for it.
        assert len(workspace.calls_to("apps.connections.open")) == 1
        driver = SocketModeDriver(link, workspace)

        help_ack = driver.command(people.am.id, "help")
        assert help_ack.status == 200
        assert "/onboard new" in help_ack.text

        assert driver.command(people.am.id, "new").status == 200
        wait_for(lambda: workspace.open_views_for(people.am.id), 10, "no modal")
        view_id = workspace.open_views_for(people.am.id)[-1].id
        mistakes = driver.submit_view(people.am.id, view_id, good_form(contact_email="carla"))
        assert mistakes.json()["response_action"] == "errors"
        assert saving(driver.submit_view(people.am.id, view_id, good_form()))
        wait_for(lambda: saved(workspace, view_id), 20, "the form was not saved")
        wait_for(lambda: workspace.channel_by_name("client-acme-rockets"), 20, "no channel")
        channel = workspace.channel_by_name("client-acme-rockets")
        assert channel is not None
        wait_for(lambda: people.engineer.id in channel.members, 20, "the team was not invited")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert workspace.app_token not in output and workspace.bot_token not in output


def test_the_link_is_only_handed_to_the_app_level_token(slack: SlackStandIn) -> None:
    slack.socket_mode()
    client = slack.client()
    url = client.apps_connections_open(app_token=slack.workspace.app_token)["url"]
    assert url.startswith("ws://127.0.0.1:")
    with pytest.raises(SlackApiError) as refused:
        client.apps_connections_open(app_token=slack.workspace.bot_token)
    assert refused.value.response["error"] == "not_allowed_token_type"
