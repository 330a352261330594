"""An operator with no public URL runs `onboard socket`: Slack's requests arrive over Socket
Mode's WebSocket instead of HTTP, and every flow answers the same way."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from onboard.bot.logs import RequestIdFilter
from onboard.bot.socket_mode import SocketMode
from onboard.handlers.failures import DATABASE_DOWN
from onboard.standin.driver import Answer
from onboard.standin.server import SlackStandIn
from onboard.standin.socket_mode import SocketModeDriver
from onboard.storage.models import Client, Task
from tests.bot.test_serve import serve_environment
from tests.conftest import BotFactory, People, Running
from tests.handlers.test_new_client import good_form, onboard_client, saving
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


@contextmanager
def over_socket_mode(
    onboard: Running, slack: SlackStandIn
) -> Iterator[tuple[SocketMode, SocketModeDriver]]:
    """The bot of `onboard` also connected over Socket Mode, as `onboard socket` connects it."""
    link = slack.socket_mode()
    socket_mode = SocketMode(onboard.bot)
    socket_mode.connect()
    try:
        assert link.wait_connected(10)
        yield socket_mode, SocketModeDriver(link, slack.workspace)
    finally:
        socket_mode.stop()


def test_a_form_whose_save_fails_at_once_ends_on_the_reason_not_on_saving_when_the_ack_is_slow(
    start_bot: BotFactory, slack: SlackStandIn, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    onboard = start_bot(slack_app_token=slack.workspace.app_token)
    workspace, am = slack.workspace, people.am.id

    def away(*_: Any, **__: Any) -> None:
        raise OperationalError("INSERT", None, Exception("server closed the connection"))

    monkeypatch.setattr(onboard.bot.onboarding, "create", away)  # the database goes away
    with over_socket_mode(onboard, slack) as (socket_mode, driver):
        # The bot's machine is busy: its "Saving…" ack takes a moment to go down the socket,
        # while saving the client fails at once and the form comes back saying why.
        send = socket_mode.client.send_socket_mode_response

        def busy(response: SocketModeResponse) -> None:
            time.sleep(0.5)
            send(response)

        monkeypatch.setattr(socket_mode.client, "send_socket_mode_response", busy)
        assert driver.command(am, "new").status == 200
        view_id = onboard.wait_for_view(am)
        assert saving(driver.submit_view(am, view_id, good_form()))
        onboard.settle()
    # Slack applied the "Saving…" ack before the form came back, not after it.
    view = workspace.view(view_id)
    assert view is not None and view.callback_id == "new_client"
    assert DATABASE_DOWN in str(view.blocks)


def test_sigterm_while_a_command_is_handled_still_answers_it_and_it_is_done_once(
    start_bot: BotFactory, slack: SlackStandIn, people: People, database_url: str, tmp_path: Path
) -> None:
    onboard = start_bot()
    onboard_client(onboard, people)
    with onboard.bot.db.transaction() as session:
        channel = session.scalars(select(Client.channel_id)).one()
    link = slack.socket_mode()
    workspace, am = slack.workspace, people.am.id
    env = serve_environment(slack, database_url) | {"SLACK_APP_TOKEN": workspace.app_token}
    log = tmp_path / "socket.log"
    process = start(["socket"], env, log)
    try:
        assert link.wait_connected(60), log.read_text()
        driver = SocketModeDriver(link, workspace)
        asked = len(workspace.calls_to("users.info"))
        # Slack is slow to say who Alice is, so her command is still being handled when the
        # operator stops the bot (a deploy).
        workspace.inject("users.info", delay=1.0)
        answers: list[Answer] = []

        def alice_types() -> None:
            answers.append(driver.command(am, "task add Call the client back", channel_id=channel))

        def being_handled() -> bool:
            return any(c.args.get("user") == am for c in workspace.calls_to("users.info")[asked:])

        alice = threading.Thread(target=alice_types)
        alice.start()
        wait_for(being_handled, 10, "the command was never handled")
        process.send_signal(signal.SIGTERM)
        alice.join(30)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = log.read_text()
    # Alice is told the task was added, so she does not type it again: it is there once.
    assert answers and answers[0].status == 200, output
    assert "Call the client back" in answers[0].text
    with onboard.bot.db.transaction() as session:
        titles = session.scalars(select(Task.title)).all()
    assert titles.count("Call the client back") == 1
    assert process.returncode == 0, output
    assert "Traceback" not in output, output


def test_the_log_lines_of_a_socket_mode_request_carry_its_request_id(
    start_bot: BotFactory, slack: SlackStandIn, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    onboard = start_bot(slack_app_token=slack.workspace.app_token)
    caplog.handler.addFilter(RequestIdFilter())  # as `onboard socket` logs (logs.configure)
    caplog.set_level(logging.INFO)
    # Alice's trigger has expired by the time the form would open: the bot logs why.
    slack.workspace.inject("views.open", error="expired_trigger_id")
    with over_socket_mode(onboard, slack) as (_, driver):
        assert driver.command(people.am.id, "new").status == 200
        onboard.settle()
    lines = [r for r in caplog.records if r.name.startswith("onboard.handlers")]
    assert [r.getMessage() for r in lines] == ["views.open failed: expired_trigger_id"]
    assert all(getattr(r, "request_id", None) for r in lines), [r.__dict__ for r in lines]


def test_a_command_that_comes_just_after_slack_renews_the_connection_is_acked_in_time(
    start_bot: BotFactory, slack: SlackStandIn, people: People
) -> None:
    onboard = start_bot(slack_app_token=slack.workspace.app_token)
    with over_socket_mode(onboard, slack) as (_, driver):
        # Every few hours Slack asks for a new connection (`disconnect`, `refresh_requested`)
        # and sends the next request down it as soon as it is open.
        for _ in range(2):  # and again: the new connection is renewed like the first
            assert driver.link.refresh(10)
            answer = driver.command(people.am.id, "help")
            assert answer.status == 200, "no ack within Slack's 3 s"
            assert "/onboard new" in answer.text
        wait_for(lambda: driver.link.connections == 1, 10, "the old connections were left open")
