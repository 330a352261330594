"""Pacing the stand-up executor's Slack calls: one post a second per channel, and 429s honoured.

Used for bursts (every client's prompt due the same minute); other sends keep their own pace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from onboard.bot.gateway import SlackGateway, SlackRetryLater


class Pacer:
    """Keeps this process's posts within Slack's published pace: one message a second per
    channel, and after a 429 no call of that method until its Retry-After has passed.

    A channel's next post that is not due yet goes back to the outbox ("retry later"), so posts
    to other channels go meanwhile; a method held after a 429 is waited out when the wait is
    short, since no other call of it could go sooner anyway.
    """

    def __init__(
        self,
        per_channel: float = 1.0,
        max_sleep: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_channel = per_channel
        self.max_sleep = max_sleep
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}  # channel → earliest moment of its next post
        self._held: dict[str, float] = {}  # method → held until (after a 429)
        self._lock = threading.Lock()

    def wait(self, method: str, channel: str | None) -> None:
        with self._lock:
            now = self.clock()
            held = self._held.get(method, 0.0) - now
            if held > self.max_sleep:
                raise SlackRetryLater(method, "paced", retry_after=held)
            start = now + max(held, 0.0)
            if method == "chat.postMessage" and channel is not None:
                spacing = self._next.get(channel, 0.0) - start
                if spacing > 0:
                    raise SlackRetryLater(method, "paced", retry_after=spacing + max(held, 0.0))
                self._next[channel] = start + self.per_channel
                if len(self._next) > 10_000:  # forget channels whose spacing has passed
                    self._next = {c: t for c, t in self._next.items() if t > now}
        if held > 0:
            self.sleep(held)

    def limited(self, method: str, retry_after: float) -> None:
        with self._lock:
            until = self.clock() + retry_after
            self._held[method] = max(self._held.get(method, 0.0), until)


class PacedGateway(SlackGateway):
    """The gateway as the stand-up executor uses it: every call waits for the pacer first."""

    def __init__(self, inner: SlackGateway, pacer: Pacer) -> None:
        super().__init__(inner.client)
        self.inner = inner
        self.pacer = pacer

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        channel = args.get("channel")
        self.pacer.wait(method, str(channel) if channel else None)
        try:
            return self.inner.call(method, **args)
        except SlackRetryLater as exc:
            if exc.error == "ratelimited" and exc.retry_after:
                self.pacer.limited(method, exc.retry_after)
            raise
