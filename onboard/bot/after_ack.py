"""Work that follows Slack's answer: a listener acks, then hands what can wait to this pool.

Bolt runs each listener on the HTTP thread and answers Slack when it returns
(`process_before_response`), so an ack never waits for a free worker thread nor for Bolt's
10 ms poll. What comes after (a decision, an ephemeral reply, a `views.open`) runs here, on
`ONBOARD_AFTER_ACK_THREADS` threads: CPython runs one thread's Python at a time, so a burst of
clicks waits in this queue instead of crowding the threads that answer the next requests.
Work queued here is in memory: what a process killed mid-burst had acked and not yet done is
not redone (a decision clicked again is taken; a form says "Saving…" and nothing is written).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from onboard.bot.answers import wait_for_the_answer

log = logging.getLogger(__name__)


class AfterAck:
    """A bounded pool for listeners' work after the ack; its failures are logged, not raised."""

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(threads, "after-ack")
        self._pending = 0
        self._idle = threading.Condition()

    def __call__(self, work: Callable[..., Any], *args: Any) -> None:
        # The request's context (its request ID for the logs) goes with the work.
        context = contextvars.copy_context()
        with self._idle:
            self._pending += 1
        self.pool.submit(context.run, self._run, work, *args)

    def _run(self, work: Callable[..., Any], *args: Any) -> None:
        try:
            wait_for_the_answer()
            work(*args)
        except Exception:  # the user was answered already; a bug must not kill the thread
            log.exception("work after the ack failed", extra={"work": work.__qualname__})
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    @property
    def pending(self) -> int:
        """Work queued or running (the backlog /metrics shows)."""
        return self._pending

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until no work is queued or running (tests, the demo, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 10) -> None:
        """Let the queued work finish (up to `timeout`), then stop taking more."""
        self.wait_idle(timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)
