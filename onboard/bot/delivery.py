"""Delivers the outbox: claims due rows, runs each through its executor, records the outcome.

Retries with backoff, honours Retry-After, and surfaces a permanent refusal once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot.gateway import PatientGateway, SlackGateway, SlackRefused, SlackRetryLater
from onboard.bot.leases import LeaseKeeper
from onboard.bot.logs import brief
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import OutboxMessage, claimant

log = logging.getLogger(__name__)

FollowUp = Callable[[Session], None]

# "Retry later" errors that are Slack's (or our pacing's) pace, not a failure.
WAITS = frozenset({"ratelimited", "paced"})


@dataclass
class Outcome:
    """What an executor achieved: Slack's answer, and work to commit with it."""

    result: dict[str, Any]
    then: list[FollowUp] = field(default_factory=list)


Executor = Callable[[SlackGateway, OutboxMessage], Outcome]
RefusalHandler = Callable[[Session, OutboxMessage, str], None]


class Delivery:
    """The outbox worker; every `serve` process runs one, replicas share the rows safely."""

    def __init__(
        self,
        db: Database,
        gateway: SlackGateway,
        *,
        max_attempts: int = 12,
        poll_seconds: float = 0.5,
        gather_seconds: float = 0.1,
        lease_seconds: float = outbox.LEASE_SECONDS,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.gateway = PatientGateway(gateway, self.clock)
        self.worker = claimant(self)
        self.lease_seconds = lease_seconds
        self.leases = LeaseKeeper(
            db,
            lambda session, row_id, now: outbox.renew(
                session, row_id, self.worker, now, self.lease_seconds
            ),
            self.lease_seconds,
            self.clock,
            name="outbox-leases",
        )
        self.on_sent: Callable[[], None] = lambda: None
        self.executors: dict[str, Executor] = {}
        self.on_refused: dict[str, RefusalHandler] = {}
        self.coalesced: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def register(
        self,
        operation: str,
        executor: Executor,
        on_refused: RefusalHandler | None = None,
        *,
        coalesce: bool = False,
    ) -> None:
        """`coalesce`: the executor shows the state current when it runs (a live message), so
        rows of this operation with the same payload, claimed together, are delivered once."""
        self.executors[operation] = executor
        if on_refused is not None:
            self.on_refused[operation] = on_refused
        if coalesce:
            self.coalesced.add(operation)

    # -- running -----------------------------------------------------------------------------

    def run_once(self, limit: int = 20) -> int:
        """Deliver one batch of due rows; the number of rows attempted."""
        with self.db.transaction() as session:
            claimed_at = self.clock()
            claimed = outbox.claim(
                session,
                self.worker,
                claimed_at,
                limit=limit,
                lease_seconds=self.lease_seconds,
                # A live message is refreshed by one worker at a time, the newest view last.
                one_at_a_time=self.coalesced,
            )
            rows = self._coalesce(session, claimed, claimed_at)
            session.expunge_all()
        for row in rows:
            if self._stop.is_set():
                break
            leased_at = self._still_ours(row, claimed_at)
            if leased_at is None:
                continue
            # Slack slow on this row itself (timeouts, retries): its lease is kept meanwhile.
            with self.leases.holding(row.id, leased_at):
                self._deliver(row)
        return len(rows)

    def _still_ours(self, row: OutboxMessage, claimed_at: dt.datetime) -> dt.datetime | None:
        """When the row's lease was set; None when it is no longer ours. A row that waited
        in its batch half its lease (Slack slow on the rows before it) is renewed first: if
        the lease ran out and another worker took it, that one sends it."""
        now = self.clock()
        if (now - claimed_at).total_seconds() < self.lease_seconds / 2:
            return claimed_at
        with self.db.transaction() as session:
            if outbox.renew(session, row.id, self.worker, now, self.lease_seconds):
                return now
        log.warning("outbox row left to the worker that took it over", extra={"key": row.key})
        return None

    def drain(self, max_rounds: int = 1000) -> None:
        """Deliver until nothing is due now (tests, the demo, `jobs run`)."""
        for _ in range(max_rounds):
            if self.run_once() == 0:
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.leases.stop()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (a request just queued something)."""
        self._wake.set()

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception as exc:  # the database may be away; try again next round
                # One line when rounds start failing and one when they work again: not a
                # traceback every round for as long as the database is away.
                if not failing:
                    log.warning("outbox delivery rounds failing, retrying: %s", brief(exc))
                    failing = True
                log.debug("outbox delivery round failed", exc_info=True)
                busy = False
            else:
                if failing:
                    log.warning("outbox delivery rounds work again")
                    failing = False
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
            # A moment for a burst (clicks on one deliverable) to gather, so that its rows are
            # claimed together and a live message is updated once for all of them; it also
            # leaves the interpreter to the threads answering Slack meanwhile.
            self._stop.wait(self.gather_seconds)

    def _coalesce(
        self, session: Session, rows: list[OutboxMessage], now: dt.datetime
    ) -> list[OutboxMessage]:
        """The rows to deliver: of a live message's rows, only its newest; the others are
        marked sent with it, in the claim's transaction (a burst of clicks: one update)."""
        message = {
            row.id: (row.operation, json.dumps(row.payload, sort_keys=True))
            for row in rows
            if row.operation in self.coalesced
        }
        newest = {key: row for row in rows if (key := message.get(row.id))}
        deliver = []
        for row in rows:
            key = message.get(row.id)
            if key is None or newest[key] is row:
                deliver.append(row)
            else:
                outbox.mark_sent(session, row.id, {"coalesced_into": newest[key].key}, now)
        session.flush()  # before run_once expunges the rows
        return deliver

    # -- one row -----------------------------------------------------------------------------

    def _deliver(self, row: OutboxMessage) -> None:
        executor = self.executors.get(row.operation)
        if executor is None:
            self._fail(row, f"no executor for operation {row.operation!r}")
            return
        try:
            outcome = executor(self.gateway, row)
        except SlackRetryLater as exc:
            self._retry(row, exc.error, exc.retry_after)
        except SlackRefused as exc:
            self._fail(row, exc.error)
        except Exception as exc:  # a bug or an unforeseen answer: back off, keep the row
            log.exception("outbox executor raised", extra={"key": row.key})
            self._retry(row, f"unexpected: {type(exc).__name__}", None)
        else:
            try:
                with self.db.transaction() as session:
                    outbox.mark_sent(session, row.id, outcome.result, self.clock())
                    for follow_up in outcome.then:
                        follow_up(session)
            except Exception as exc:
                # Slack did it, but what follows did not commit (a bug, a constraint: another
                # client recorded that channel first). Tried again like a failed call, the
                # executors finding what was done, and surfaced at the last attempt, rather
                # than the row claimed again after every lease for ever.
                log.exception("outbox result not recorded", extra={"key": row.key})
                self._retry(row, f"not recorded: {type(exc).__name__}", None)
                return
            self.on_sent()
            log.info("outbox sent", extra={"key": row.key, "operation": row.operation})

    def _retry(self, row: OutboxMessage, error: str, retry_after: float | None) -> None:
        # Slack asking us to wait (or our own pacing) is no failed attempt: such a row is
        # never given up on, however long a burst keeps the method limited.
        counted = error not in WAITS
        if counted and row.attempts >= self.max_attempts:
            self._fail(row, f"gave up after {row.attempts} attempts: {error}")
            return
        if retry_after is not None:
            # Slack said how long; waiting less only earns another 429. At least a second for
            # an uncounted wait: "Retry-After: 0" again and again would otherwise spin.
            delay = retry_after if counted else max(1.0, retry_after)
        else:
            delay = min(300.0, 2.0 ** (row.attempts - 1)) * random.uniform(0.5, 1.0)
        with self.db.transaction() as session:
            at = self.clock() + dt.timedelta(seconds=delay)
            outbox.mark_retry(session, row.id, error, at, counted=counted)
        level = logging.WARNING if counted else logging.INFO  # waiting is no fault
        log.log(level, "outbox retry", extra={"key": row.key, "error": error, "delay": delay})

    def _fail(self, row: OutboxMessage, error: str) -> None:
        with self.db.transaction() as session:
            outbox.mark_failed(session, row.id, error)
            audit.record(
                session,
                audit.Cause.system(),
                "slack.delivery_failed",
                client_id=row.client_id,
                subject=row.key,
                details={"operation": row.operation, "error": error},
            )
            handler = self.on_refused.get(row.operation)
            if handler is not None:
                handler(session, row, error)
        log.error("outbox failed", extra={"key": row.key, "error": error})
