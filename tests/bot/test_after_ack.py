"""Slack gets its answer first; the work a click sets off follows on the after-ack pool."""

from __future__ import annotations

import logging
import threading

import pytest

from onboard.bot.after_ack import AfterAck
from onboard.bot.logs import request_id
from tests.conftest import People, Running
from tests.handlers.test_approvals import decisions, post_deliverable, shared  # noqa: F401
from tests.handlers.test_journey import channel_of


def test_a_click_is_answered_while_its_work_is_still_waiting(
    shared: Running,  # noqa: F811
    people: People,
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id])
    release = threading.Event()
    decide = shared.bot.approvals.decide

    def slow_decide(*args: object, **kwargs: object) -> object:
        release.wait(10)  # the database or Slack being slow, after the ack
        return decide(*args, **kwargs)  # type: ignore[arg-type]

    shared.bot.approvals.decide = slow_decide  # type: ignore[method-assign]
    answer = shared.driver.click_button(people.client.id, channel_of(shared), "approve")

    assert answer.status == 200  # acked with the decision not yet made
    assert decisions(shared) == []
    release.set()
    shared.wait_until(lambda: decisions(shared))
    assert decisions(shared) == [(people.client.id, "approved")]


def test_work_after_the_ack_keeps_the_requests_id_for_its_logs() -> None:
    pool = AfterAck(2)
    seen: list[str | None] = []
    token = request_id.set("req-42")
    try:
        pool(lambda: seen.append(request_id.get()))
    finally:
        request_id.reset(token)
    assert pool.wait_idle(5)
    assert seen == ["req-42"]
    pool.stop()


def test_work_that_fails_is_logged_and_the_pool_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    pool = AfterAck(1)
    done = threading.Event()

    def broken() -> None:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR, logger="onboard.bot.after_ack"):
        pool(broken)
        pool(done.set)
        assert done.wait(5)
        assert pool.wait_idle(5)
    assert "work after the ack failed" in caplog.text
    assert pool.pending == 0
    pool.stop()


def test_stopping_lets_queued_work_finish_first() -> None:
    pool = AfterAck(1)
    finished: list[int] = []
    gate = threading.Event()
    pool(gate.wait, 5)
    for n in range(3):
        pool(finished.append, n)
    assert pool.pending == 4
    gate.set()
    pool.stop(timeout=5)
    assert finished == [0, 1, 2]
