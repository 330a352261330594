"""Work after an ack starts once the server has written the ack's answer, not before."""

from __future__ import annotations

import contextvars
import threading

import pytest

from onboard.bot.answers import Sent, answering, wait_for_the_answer


def work_deferred_in(context: contextvars.Context) -> threading.Event:
    """Work the request's listener deferred: it waits for the answer, then starts."""
    started = threading.Event()

    def work() -> None:
        wait_for_the_answer(most=10)
        started.set()

    threading.Thread(target=context.run, args=(work,), daemon=True).start()
    return started


def test_the_work_waits_until_the_server_closes_the_answer_it_wrote() -> None:
    with answering() as sent:
        started = work_deferred_in(contextvars.copy_context())
        answer = Sent([b'{"response_action": "update"}'], sent)

    assert len(answer) == 1 and list(answer) == [b'{"response_action": "update"}']
    assert not started.wait(0.2)  # handled, but not yet written
    answer.close()
    assert started.wait(5)


def test_when_handling_fails_the_work_does_not_wait_for_an_answer() -> None:
    with pytest.raises(RuntimeError), answering():
        started = work_deferred_in(contextvars.copy_context())
        raise RuntimeError("a bug in a listener")

    assert started.wait(5)
