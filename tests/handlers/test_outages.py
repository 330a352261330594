"""When the database or Slack is away, people are told plainly and nothing is half-written."""

from __future__ import annotations

from pathlib import Path

from onboard.bot import memory
from onboard.storage.db import Database
from tests.conftest import People, Running
from tests.handlers.test_new_client import good_form, open_form, saving, shown, written_rows

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"


def test_a_database_outage_brings_the_form_back_filled_in_saying_try_again(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    working = onboard.bot.onboarding.db
    onboard.bot.onboarding.db = Database(UNREACHABLE)

    assert saving(onboard.driver.submit_view(people.am.id, view_id, good_form()))

    assert shown(onboard, view_id) == "new_client"  # the form again, not "saved"
    modal = onboard.workspace.view(view_id)
    assert modal is not None
    blocks = {b.get("block_id"): b for b in modal.blocks}
    assert "nothing was saved" in blocks["problem"]["text"]["text"]
    assert blocks["contact_email"]["element"]["initial_value"] == "carla@acme.example"
    assert blocks["go_live"]["element"]["initial_date"] == good_form()["go_live"]
    assert blocks["country"]["element"]["initial_option"]["value"] == "GB"
    onboard.bot.onboarding.db = working
    assert written_rows(onboard) == (0, 0)
    # Back up again: the same form, submitted again, goes through.
    assert saving(onboard.driver.submit_view(people.am.id, view_id, good_form()))
    assert shown(onboard, view_id) == "new_client_saved"
    assert written_rows(onboard)[0] == 1


def test_health_check_says_when_the_database_is_away(onboard: Running) -> None:
    onboard.bot.db = Database(UNREACHABLE)
    answer = onboard.driver.get("/healthz")
    assert answer.status == 503
    assert answer.json() == {"status": "database unavailable"}


def test_slack_not_answering_who_someone_is_gets_a_try_again(
    onboard: Running, people: People
) -> None:
    onboard.workspace.inject("users.info", status=500)
    answer = onboard.driver.command(people.am.id, "help").json()
    assert "try again" in answer["text"]


def test_the_timezone_and_country_lists_filter_as_the_user_types(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    zones = onboard.driver.suggest(people.am.id, view_id, "timezone", "new york").json()
    assert [o["value"] for o in zones["options"]] == ["America/New_York"]
    countries = onboard.driver.suggest(people.am.id, view_id, "country", "germ").json()
    assert countries["options"][0]["value"] == "DE"
    everything = onboard.driver.suggest(people.am.id, view_id, "timezone", "").json()
    assert len(everything["options"]) == 100


def test_operators_scrape_metrics_in_prometheus_format(onboard: Running, people: People) -> None:
    onboard.driver.command(people.am.id, "help")
    onboard.workspace.inject("users.info", status=500)
    onboard.driver.command(people.engineer.id, "help")
    answer = onboard.driver.get("/metrics")
    assert answer.status == 200
    text = answer.text
    assert 'onboard_requests_total{path="/slack/events",status="200"}' in text
    assert "onboard_ack_seconds_bucket" in text
    assert "onboard_outbox_depth 0.0" in text
    assert "onboard_after_ack_pending" in text
    assert 'onboard_slack_errors_total{error="http_500",method="users.info"} 1.0' in text
    # Memory: the resident size, and whether live objects or the allocators' free pages hold it.
    if Path("/proc/self/stat").exists():  # Linux
        assert "process_resident_memory_bytes" in text
    assert "onboard_python_allocated_blocks" in text
    if memory.heap().known:
        assert "onboard_malloc_in_use_bytes" in text
        assert "onboard_malloc_free_bytes" in text
    if memory.heap().sqlite_in_use is not None:
        assert "onboard_sqlite_memory_bytes" in text
    assert answer.headers.get("X-Request-Id")
