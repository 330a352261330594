"""A sweep's visits, each on its own: one that fails is logged and rolled back alone, and the
sweep goes on to the next (clients, sign-offs, managers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class Failures:
    """A sweep's visits that raised. Each is logged and rolled back alone, and the sweep goes
    on to the next: one client whose row or playbook trips the work must not leave every
    client after it unvisited, run after run. The sweep raises at its end, so the scheduler's
    log and metrics still count it as failed."""

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def of(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception:
            log.exception("sweep failed for %s; going on with the others", what)
            self.count += 1

    def raise_any(self) -> None:
        if self.count:
            raise RuntimeError(f"the sweep failed for {self.count} of its visits; see the log")
