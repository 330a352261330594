"""Operators read the logs of a full journey and find no token and no personal data in them."""

from __future__ import annotations

import io
import logging

import pytest

from onboard.bot.logs import configure
from tests.conftest import SIGNING_SECRET, BotFactory, People
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client
from tests.handlers.test_playbook_journeys import sign_off


def test_a_full_journey_logs_no_secret_and_no_personal_data(
    start_bot: BotFactory, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    onboard = start_bot(slack_connect=True)
    onboard.workspace.inject("chat.postMessage", status=429, retry_after=0, times=2)
    onboard_client(onboard, people, contact_name="Carla Rivera")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    say(onboard, people.am.id, "gate handoff-complete pass")
    say(onboard, people.am.id, "task add Call Carla Rivera at carla@acme.example")
    for _ in range(2):  # on to the solution's design, whose sign-off follows
        say(onboard, people.admin.id, "advance --force moving on for the test")
    sign_off(onboard, people, "sla-formalised")
    onboard.driver.command(people.am.id, "help", signature="v0=forged")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert logged, "the journey logged nothing at all"
    for secret in (onboard.workspace.bot_token, SIGNING_SECRET):
        assert secret not in logged
    for personal in ("carla@acme.example", "Carla Rivera", "Acme Rockets", people.am.name):
        assert personal not in logged, personal


def test_at_debug_level_slack_calls_arguments_stay_out_of_the_logs(
    start_bot: BotFactory, people: People
) -> None:
    # ONBOARD_LOG_LEVEL=DEBUG is for an operator chasing a problem; slack_sdk logs every Web
    # API call's arguments at DEBUG (an invite's email, a message's text).
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("DEBUG", "json")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        onboard = start_bot(slack_connect=True)
        onboard_client(onboard, people, contact_name="Carla Rivera")
        say(onboard, people.am.id, "task add Call Carla Rivera at carla@acme.example")
        onboard.deliver()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    logged = stream.getvalue()
    assert '"level": "DEBUG"' in logged  # it did log at DEBUG
    for personal in ("carla@acme.example", "Carla Rivera", "Acme Rockets"):
        assert personal not in logged, personal
