"""The answer to the Slack request being handled: work after its ack can wait until it has left.

A listener that acks with `response_action: update` and then calls `views.update` after the ack
must not overtake its own answer: Slack would apply the ack's view last and undo the update.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_answered: ContextVar[threading.Event | None] = ContextVar("answered", default=None)


@contextmanager
def answering() -> Iterator[None]:
    """Around the handling of one request (web.py): marks its answer sent on the way out."""
    answered = threading.Event()
    token = _answered.set(answered)
    try:
        yield
    finally:
        answered.set()
        _answered.reset(token)


def wait_for_the_answer(most: float = 3) -> None:
    """In work after an ack (which runs in a copy of the request's context): until that
    request's answer is on its way to Slack, so that a `views.update` lands after it."""
    answered = _answered.get()
    if answered is not None:
        answered.wait(most)
