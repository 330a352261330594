"""Injected faults: what a test asks to go wrong, which calls it hits, and the reply instead.

Mixed into the Workspace as FaultInjection, so tests say `workspace.inject(...)`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from onboard.standin.answers import Reply


@dataclass
class Fault:
    method: str
    status: int = 429
    retry_after: int = 1
    remaining: int | None = 1
    error: str | None = None
    delay: float = 0.0
    drop: bool = False
    share: float = 1.0  # the fraction of matching calls it hits (chaos), drawn from the seed
    lose_answer: bool = False  # the method runs, then the connection drops before the answer
    hits: int = 0

    @property
    def replaces_answer(self) -> bool:
        if self.lose_answer:
            return False
        return self.drop or self.error is not None or self.status != 200


class FaultInjection:
    """The workspace's injected faults; uses the workspace's lock and seeded random numbers."""

    lock: threading.RLock
    faults: list[Fault]
    _rng: random.Random

    def inject(
        self,
        method: str,
        status: int | None = None,
        retry_after: int = 1,
        times: int | None = 1,
        error: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        share: float = 1.0,
        lose_answer: bool = False,
    ) -> Fault:
        """Fault the next `times` calls of method ("*" = any; times None = until cleared).

        drop closes the connection; error answers 200 {"ok": false, "error": error}; otherwise
        HTTP status (default 429, with Retry-After). delay sleeps first; delay alone (no status,
        error or drop) only slows the call down and the method still runs.
        """
        if status is None:
            status = 200 if delay > 0 and error is None and not drop else 429
        fault = Fault(method, status, retry_after, times, error, delay, drop, share, lose_answer)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        """The first fault that hits this call of method, counted as used (lock held)."""
        for fault in self.faults:
            if fault.method in (method, "*"):
                if fault.share < 1.0 and self._rng.random() >= fault.share:
                    continue
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None


def fault_reply(fault: Fault) -> Reply:
    """What is sent instead of the method's answer: a dropped link, a refusal or an HTTP error."""
    if fault.drop:
        return Reply(0, None, drop=True)
    if fault.error is not None:
        return Reply(200, {"ok": False, "error": fault.error})
    if fault.status == 429:
        headers = {"Retry-After": str(fault.retry_after)}
        return Reply(429, {"ok": False, "error": "ratelimited"}, headers)
    return Reply(fault.status, None)
