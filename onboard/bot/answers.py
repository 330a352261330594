"""The answer to the Slack request being handled: work after its ack waits until it has left.

A listener that acks with `response_action: update` and then calls `views.update` after the ack
must not overtake its own answer: Slack would apply the ack's view last and undo the update.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_answered: ContextVar[threading.Event | None] = ContextVar("answered", default=None)


@contextmanager
def answering() -> Iterator[Callable[[], None]]:
    """Around the handling of one request (web.py): gives what marks its answer sent, to be
    called once the server has written it (`Sent`). Marked at once if the handling raises."""
    answered = threading.Event()
    token = _answered.set(answered)
    try:
        yield answered.set
    except BaseException:
        answered.set()
        raise
    finally:
        _answered.reset(token)


class Sent:
    """A WSGI response body that marks its answer sent when the server closes it: WSGI servers
    close a body after writing all of it, and waitress writes it to the socket as it goes."""

    def __init__(self, body: list[bytes], sent: Callable[[], None]) -> None:
        self.body = body
        self.sent = sent

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def __len__(self) -> int:  # waitress sets Content-Length itself for a one-chunk body
        return len(self.body)

    def close(self) -> None:
        self.sent()


def wait_for_the_answer(most: float = 3) -> None:
    """In work after an ack (which runs in a copy of the request's context): until that
    request's answer is on its way to Slack, so that a `views.update` lands after it."""
    answered = _answered.get()
    if answered is not None:
        answered.wait(most)
