"""Under a burst of Slack requests, background work waits for a gap, but never for long."""

from __future__ import annotations

import threading
import time

from onboard.bot.foreground import Foreground


def test_background_work_passes_at_once_when_no_request_is_being_answered() -> None:
    gate = Foreground()
    began = time.monotonic()
    gate.wait_for_gap(most=5)
    assert time.monotonic() - began < 1


def test_background_work_waits_for_the_request_being_answered_to_finish() -> None:
    gate = Foreground()
    passed = threading.Event()

    def background() -> None:
        gate.wait_for_gap(most=30)
        passed.set()

    with gate.answering():
        thread = threading.Thread(target=background)
        thread.start()
        assert not passed.wait(0.2)  # held while Slack waits for an answer
    assert passed.wait(5)  # the answer went: the work goes on
    thread.join()


def test_under_a_request_that_never_ends_background_work_still_moves() -> None:
    gate = Foreground()
    with gate.answering():
        began = time.monotonic()
        gate.wait_for_gap(most=0.05)
        gate.wait_for_gap(most=0.05)
        assert time.monotonic() - began >= 0.1  # one bounded wait each, then on
