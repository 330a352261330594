"""Only Slack can talk to the bot: unsigned, forged or replayed-late requests get 401."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from tests.conftest import BotFactory, People, Running
from tests.handlers.test_new_client import written_rows


def slash_body(people: People, trigger: str) -> bytes:
    return urllib.parse.urlencode(
        {
            "command": "/onboard",
            "text": "new Acme",
            "user_id": people.am.id,
            "team_id": "T0HOME",
            "channel_id": "C0GENERAL",
            "trigger_id": trigger,
        }
    ).encode()


@pytest.mark.parametrize(
    "tamper",
    ["forged signature", "stale timestamp", "future timestamp", "no signature", "body changed"],
)
def test_a_request_not_signed_by_slack_is_refused_and_changes_nothing(
    onboard: Running, people: People, tamper: str
) -> None:
    driver = onboard.driver
    body = slash_body(people, onboard.workspace.issue_trigger(people.am.id))
    now = int(time.time())
    form = "application/x-www-form-urlencoded"
    if tamper == "forged signature":
        answer = driver.post(body, form, signature="v0=" + "0" * 64)
    elif tamper == "stale timestamp":
        stale = now - 6 * 60
        answer = driver.post(body, form, timestamp=stale)
    elif tamper == "future timestamp":
        answer = driver.post(body, form, timestamp=now + 6 * 60)
    elif tamper == "no signature":
        answer = driver.post(body, form, signature="")
    else:
        signed_for = driver.signature(body, now)
        answer = driver.post(body + b"&text=help", form, timestamp=now, signature=signed_for)

    assert answer.status == 401
    time.sleep(0.2)
    assert onboard.workspace.open_views_for(people.am.id) == []
    assert onboard.workspace.calls == []
    assert written_rows(onboard) == (0, 0)


def test_a_forged_modal_submission_is_refused(onboard: Running, people: People) -> None:
    payload = {"type": "view_submission", "user": {"id": people.am.id}, "view": {"id": "V1"}}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    answer = onboard.driver.post(
        body, "application/x-www-form-urlencoded", signature="v0=" + "a" * 64
    )
    assert answer.status == 401
    assert written_rows(onboard) == (0, 0)


def test_health_check_reports_the_database(onboard: Running) -> None:
    answer = onboard.driver.get("/healthz")
    assert (answer.status, answer.json()) == (200, {"status": "ok"})


def test_an_event_delivered_twice_is_handled_once(onboard: Running, people: People) -> None:
    event = {"type": "app_home_opened", "user": people.am.id, "tab": "home"}
    first = onboard.driver.event(event, event_id="Ev0SAME")
    again = onboard.driver.event(event, event_id="Ev0SAME", retry=1)
    assert first.status == again.status == 200
    from sqlalchemy import select

    from onboard.storage.models import ProcessedRequest

    with onboard.bot.db.transaction() as session:
        assert session.scalars(select(ProcessedRequest.key)).all() == ["event:Ev0SAME"]


def test_without_a_signing_secret_nothing_from_slack_is_believed(
    start_bot: BotFactory, people: People
) -> None:
    # `serve` refuses to start without one; a bot built without it all the same fails closed.
    bot = start_bot(slack_signing_secret=None)
    body = slash_body(people, bot.workspace.issue_trigger(people.am.id))

    answer = bot.driver.post(body, "application/x-www-form-urlencoded")

    assert answer.status == 401
    assert written_rows(bot) == (0, 0)


def ack_count(onboard: Running) -> float:
    exposition = onboard.driver.get("/metrics").text.splitlines()
    return float(
        next(ln.split()[-1] for ln in exposition if ln.startswith("onboard_ack_seconds_count"))
    )


def test_requests_not_from_slack_do_not_count_as_acks(onboard: Running, people: People) -> None:
    # Anyone can reach /slack/events: their requests must not drown the ack latency operators
    # watch in /metrics.
    before = ack_count(onboard)
    body = slash_body(people, onboard.workspace.issue_trigger(people.am.id))
    for _ in range(5):
        onboard.driver.post(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert ack_count(onboard) == before
    onboard.driver.command(people.am.id, "help")
    assert ack_count(onboard) == before + 1
