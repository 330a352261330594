"""Leases kept while this process works on their rows, so slow work is not taken for dead.

The outbox and the inbox claim a row for a while (its lease); a row nobody finished in that
long is taken to belong to a process that died, and another process claims it and does it.
Work that is only slow (Slack answering after the SDK's timeouts and retries) must not look
dead: while it runs, its lease is renewed, or another replica would do it a second time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from onboard.storage.db import Database

log = logging.getLogger(__name__)

Renew = Callable[[Session, int, dt.datetime], bool]  # False: the lease ran out, row taken


class LeaseKeeper:
    """Renews the leases of the rows held here once a third of a lease has gone by."""

    def __init__(
        self,
        db: Database,
        renew: Renew,
        lease_seconds: float,
        clock: Callable[[], dt.datetime],
        *,
        name: str,
    ) -> None:
        self.db = db
        self.renew = renew
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.name = name
        self.every = lease_seconds / 6  # how often to look: renewals come at 1/3 to 1/2
        self._held: dict[int, dt.datetime] = {}  # row → when its lease was last set
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, row_id: int, since: dt.datetime) -> Iterator[None]:
        """While the block runs, keep the lease on `row_id`, last set at `since`."""
        with self._lock:
            self._held[row_id] = since
            if self._thread is None:  # started by the first row held, not before
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(row_id, None)

    def renew_due(self) -> None:
        """Renew every held lease a third of which has gone by (one transaction for all)."""
        now = self.clock()
        third = dt.timedelta(seconds=self.lease_seconds / 3)
        with self._lock:
            due = [row for row, since in self._held.items() if now - since >= third]
        if not due:
            return
        with self.db.transaction() as session:
            kept = {row for row in due if self.renew(session, row, now)}
        with self._lock:
            for row in due:
                if row not in self._held:  # finished meanwhile
                    continue
                if row in kept:
                    self._held[row] = now
                else:  # another process took it; nothing to do but say so, once
                    del self._held[row]
                    log.warning("%s: a lease ran out while its work was running", self.name)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew_due()
            except Exception:  # the database may be away; the next look tries again
                log.warning("%s: renewing leases failed", self.name, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
