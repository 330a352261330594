"""Slack's requests come first: background work waits for a gap between them, for a bounded time.

Slack gives an ack 3 seconds and then fails the user's click; the outbox and the work after an
ack have minutes. CPython runs one thread's Python at a time, so under a burst of requests the
background threads would take turns with the threads answering Slack. Instead each unit of
background work waits until no request is being answered, or `most` seconds, whichever comes
first, and they pass one at a time: a burst is answered first and its work follows, while
background work still moves at least one unit per `most` seconds under any load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Set once the request being handled has its answer: work after an ack can wait for it.
_answered: ContextVar[threading.Event | None] = ContextVar("answered", default=None)


class Foreground:
    """Counts the Slack requests being answered; background work waits for a gap."""

    def __init__(self) -> None:
        self._answering = 0
        self._gap = threading.Condition()
        self._turn = threading.Lock()

    @contextmanager
    def answering(self) -> Iterator[None]:
        answered = threading.Event()
        token = _answered.set(answered)
        with self._gap:
            self._answering += 1
        try:
            yield
        finally:
            answered.set()
            _answered.reset(token)
            with self._gap:
                self._answering -= 1
                if self._answering == 0:
                    self._gap.notify_all()

    def wait_for_gap(self, most: float) -> None:
        """Until no request is being answered, or `most` seconds; one waiter passes at a time."""
        with self._turn, self._gap:
            self._gap.wait_for(lambda: self._answering == 0, most)


def wait_for_the_answer(most: float = 3) -> None:
    """In work after an ack: until that request's answer is on its way to Slack, so that a
    `views.update` lands after the ack's own `response_action: update`, never before it."""
    answered = _answered.get()
    if answered is not None:
        answered.wait(most)
