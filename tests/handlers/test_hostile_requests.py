"""Requests that are not what Slack would send get the right status, and change nothing."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from sqlalchemy import func, select

from onboard.storage.models import AuditEvent, Client, OutboxMessage
from tests.conftest import People, Running
from tests.handlers.test_journey import channel_of
from tests.handlers.test_new_client import onboard_client

FORM = "application/x-www-form-urlencoded"


def rows(onboard: Running) -> tuple[int, int, int]:
    with onboard.bot.db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(Client)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
        )


def payload_body(payload: object) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def test_a_replayed_request_older_than_five_minutes_is_refused(
    onboard: Running, people: People
) -> None:
    body = urllib.parse.urlencode({"command": "/onboard", "text": "help", "user_id": people.am.id})
    old = int(time.time()) - 301
    answer = onboard.driver.post(body.encode(), FORM, timestamp=old)
    assert answer.status == 401


@pytest.mark.parametrize("missing", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_missing_signing_headers_are_refused(onboard: Running, missing: str) -> None:
    answer = onboard.driver.post(b"command=%2Fonboard&text=help", FORM, headers={missing: ""})
    assert answer.status == 401


def test_an_oversized_body_is_refused_before_it_is_read(onboard: Running) -> None:
    try:
        status = onboard.driver.post(b"x" * (1024 * 1024 + 1), FORM).status
    except (ConnectionResetError, BrokenPipeError):
        # The server answered 413 and closed before the client finished sending: the client
        # meets the closed socket as a reset or a broken pipe, as the timing falls.
        status = 413
    assert status == 413
    assert rows(onboard) == (0, 0, 0)
    assert onboard.driver.get("/healthz").status == 200  # and it serves on


@pytest.mark.parametrize(
    "body",
    [
        b"payload=%7Bnot+json",
        payload_body({"type": "block_actions"}),
        payload_body({"type": "block_actions", "actions": [{"action_id": "no_such_action"}]}),
        payload_body({"type": "view_submission", "view": {"callback_id": "no_such_view"}}),
        payload_body([1, 2, 3]),
        b"",
    ],
)
def test_malformed_or_unknown_payloads_crash_nothing_and_write_nothing(
    onboard: Running, body: bytes
) -> None:
    before = rows(onboard)
    answer = onboard.driver.post(body, FORM)
    assert answer.status in (200, 400, 404)  # 404: Bolt has no listener for it
    assert rows(onboard) == before
    assert onboard.driver.get("/healthz").status == 200


def test_a_wrong_content_type_is_not_taken_for_a_command(onboard: Running, people: People) -> None:
    body = json.dumps({"command": "/onboard", "text": "new Acme", "user_id": people.am.id}).encode()
    answer = onboard.driver.post(body, "text/plain")
    assert answer.status == 415
    assert rows(onboard) == (0, 0, 0)


def test_a_view_the_bot_never_opened_is_refused(onboard: Running, people: People) -> None:
    payload = {
        "type": "view_submission",
        "user": {"id": people.am.id, "team_id": "T0HOME"},
        "view": {
            "id": "V0FORGED",
            "type": "modal",
            "callback_id": "deliverable_new",
            "private_metadata": "999",
            "state": {"values": {"title": {"title": {"type": "plain_text_input", "value": "x"}}}},
        },
    }
    answer = onboard.driver.post(payload_body(payload), FORM)
    assert answer.status == 200
    assert answer.json()["response_action"] == "errors"
    assert rows(onboard) == (0, 0, 0)


def test_a_button_of_a_deleted_client_is_answered_politely(
    onboard: Running, people: People
) -> None:
    onboard_client(onboard, people)
    channel = channel_of(onboard)
    with onboard.bot.db.transaction() as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
    onboard.driver.act(
        people.client.id,
        channel,
        "1.000001",
        {"type": "button", "action_id": "approve", "block_id": "decision", "value": "424242"},
    )
    onboard.workspace.channels[channel].members.append(people.client.id)
    onboard.driver.act(
        people.client.id,
        channel,
        "1.000001",
        {"type": "button", "action_id": "approve", "block_id": "decision", "value": "not-a-number"},
    )
    told = onboard.wait_until(
        lambda: [e for e in onboard.workspace.ephemerals if e.user == people.client.id]
    )
    assert "no longer" in told[0].text
    with onboard.bot.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
