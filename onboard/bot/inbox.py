"""Work that follows Slack's answer, kept in the database until it is done.

A listener acks, then `defer`s its request: the request (as parsed, after its signature
passed) is written to the inbox before Slack gets the answer, and the listener returns. The
work runs later, on a pool of threads, by dispatching that request through Bolt again with
`LATER` in its context: the same listener sees `later(request)` and does the work this time.
So the work of a request is the listener's own code, rebuilt from the request alone, and:

- a process killed after an ack leaves its row behind; when the row's lease runs out another
  process (or this one, restarted) claims it and does the work;
- `serve --ack-only` answers Slack and only writes rows; `onboard scheduler` (or any `serve`)
  claims and does them, in a process whose CPU and interpreter the acks do not share.

Work that was claimed and ran may run again if its process dies before the row is deleted
(at least once): the services it calls are keyed so a second run changes nothing. Work that
only opens a modal with the request's trigger is not kept (`keep=False`): Slack honours a
trigger for 3 s, so after a crash it could not be done anyway. It runs on threads of its own,
never queued behind kept work, which may wait.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from sqlalchemy.exc import SQLAlchemyError

from onboard.bot.answers import wait_for_the_answer
from onboard.bot.leases import LeaseKeeper
from onboard.bot.logs import brief, request_id
from onboard.storage import inbox
from onboard.storage.db import Database
from onboard.storage.models import claimant

log = logging.getLogger(__name__)

LATER = "onboard_inbox_row"  # in a dispatch's context: this is the work, not the ack
POLL_SECONDS = 0.2  # how often a worker looks for rows another process left
MODAL_THREADS = 4  # for work that opens a modal, which its trigger's 3 s do not let wait
# Modal work queued longer than this would open its modal after the trigger's 3 s expire.
MODAL_WAIT_LIMIT = 2.0
MAX_ATTEMPTS = 5  # a request whose work kept dying with its process is given up


def utc_now() -> dt.datetime:
    # The real clock, never the bot's (a test's fixed clock must not stop acked work).
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Acked:
    """A request whose work is owed: its row (None when the database refused it) and body."""

    row_id: int | None
    body: dict[str, Any]
    request_ts: str | None
    request_id: str | None
    attempts: int
    queued: float  # time.monotonic() when this process took it on


class Inbox:
    """The inbox's workers in this process; `defer` is what listeners call."""

    def __init__(self, db: Database, threads: int, lease_seconds: float = 60) -> None:
        self.db = db
        self.threads = threads
        # A claimed row nobody finished in this long (its process died) is claimed again.
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.dispatch: Callable[[BoltRequest], BoltResponse] = _unwired
        self.works_here = True  # False for `serve --ack-only`: rows wait for another process
        self.worker = claimant(self)
        self.leases = LeaseKeeper(
            db,
            lambda session, row_id, now: inbox.renew(session, row_id, self.worker, now, self.lease),
            lease_seconds,
            utc_now,
            name="inbox-leases",
        )
        self.pool = ThreadPoolExecutor(threads, "after-ack")
        # Work not kept only opens a modal (or App Home): it has threads of its own, so a
        # queue of decisions and forms to save never holds it past its trigger's 3 s.
        self.modals = ThreadPoolExecutor(MODAL_THREADS, "modal")
        self._pending = 0
        self._on_pool = 0  # of which on `pool`: the poller fills the room left there
        self._here: set[int] = set()  # rows queued or running in this process
        self._modals_queued: deque[float] = deque()  # when each modal work not yet started came
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- what listeners call -------------------------------------------------------------

    @staticmethod
    def later(request: BoltRequest) -> bool:
        """True when this dispatch is the inbox running a request's work (not Slack asking)."""
        return request.context.get(LATER) is not None

    def defer(self, request: BoltRequest, *, hold: float = 0.0, keep: bool = True) -> bool:
        """Queue `request`'s work for after the ack; False when this already is that work.

        `hold`: seconds another process waits before doing it, so that it follows the ack's
        answer (a modal updated by `response_action` first, by `views.update` after).
        `keep=False`: work that only opens a modal with the request's trigger, which Slack
        honours for 3 s, runs here from memory: after a crash it could not be done anyway,
        so the ack does not wait for the database to keep it."""
        if self.later(request):
            return False
        body = request.body
        timestamps = request.headers.get("x-slack-request-timestamp") or []
        stamp, rid = (timestamps[0] if timestamps else None), request_id.get()
        now = utc_now()
        row_id = None
        if not keep:
            acked = Acked(None, body, stamp, rid, 1, time.monotonic())
            self._submit(acked, contextvars.copy_context(), self.modals)
            return True
        try:
            row_id = self.db.one_write(
                lambda db: inbox.put(
                    db,
                    body,
                    request_ts=stamp,
                    request_id=rid,
                    now=now,
                    not_before=now + dt.timedelta(seconds=0 if self.works_here else hold),
                    claimed_by=self.worker if self.works_here else None,
                    lease=self.lease,
                )
            )
        except SQLAlchemyError as exc:
            # The database is away: the work runs here from memory, as it would have; it
            # meets the same outage and tells the user so in its own words.
            log.warning("inbox unavailable, work kept in memory: %s", type(exc).__name__)
        else:
            if not self.works_here:
                return True
        acked = Acked(row_id, body, stamp, rid, 1, time.monotonic())
        self._submit(acked, contextvars.copy_context())
        return True

    def modals_backed_up(self) -> bool:
        """Work that opens a modal has waited here so long that more would open it after its
        trigger expired (Slack slow to answer `views.open`, or a flood of commands): better
        to say so in the ack than to fail 3 s later and spend Slack calls on it."""
        with self._idle:
            oldest = self._modals_queued[0] if self._modals_queued else None
        return oldest is not None and time.monotonic() - oldest > MODAL_WAIT_LIMIT

    # -- doing the work ------------------------------------------------------------------

    def _submit(
        self,
        acked: Acked,
        context: contextvars.Context | None = None,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        on_pool = pool is None
        with self._idle:
            self._pending += 1
            self._on_pool += on_pool
            if acked.row_id is not None:
                self._here.add(acked.row_id)
            if pool is self.modals:
                self._modals_queued.append(acked.queued)
        run = context.run if context is not None else _in_fresh_context
        (pool or self.pool).submit(run, self._run, acked, on_pool)

    def _run(self, acked: Acked, on_pool: bool) -> None:
        if not on_pool:  # modal work starts in the order it came (the pool's queue is FIFO)
            with self._idle:
                self._modals_queued.popleft()
        try:
            wait_for_the_answer()  # deferred here: its own request's answer leaves first
            if acked.request_id is not None:
                request_id.set(acked.request_id)
            leased_at = self._still_ours(acked)
            if leased_at is None:
                return
            if acked.attempts > MAX_ATTEMPTS:
                log.error("acked request given up after %d attempts", acked.attempts - 1)
            else:
                with self._holding(acked, leased_at):
                    answer = self.dispatch(self._request(acked))
                if answer.status >= 500:
                    # The listener raised, and Bolt logged it and answered 500 instead. Its
                    # row stays: once the lease runs out the work is tried again.
                    if acked.row_id is None:
                        log.error("work after the ack failed, kept only in memory: lost")
                    return
            if acked.row_id is not None:
                with self.db.transaction() as session:
                    inbox.finish(session, acked.row_id)
        except Exception:  # the user was answered already; a bug must not kill the thread
            # The row stays: when its lease runs out the work is tried again.
            log.exception("work after the ack failed")
        finally:
            with self._idle:
                self._pending -= 1
                self._on_pool -= on_pool
                self._here.discard(acked.row_id or 0)
                self._idle.notify_all()

    def _still_ours(self, acked: Acked) -> dt.datetime | None:
        """When the work's lease was set (now for work kept only in memory); None when it is
        no longer ours. A row that waited here half its lease is renewed first: if the lease
        ran out and another process took it, that process does the work, not this one."""
        now = utc_now()
        waited = time.monotonic() - acked.queued
        if acked.row_id is None or waited < self.lease.total_seconds() / 2:
            return now - dt.timedelta(seconds=waited)
        with self.db.transaction() as session:
            return now if inbox.renew(session, acked.row_id, self.worker, now, self.lease) else None

    def _holding(self, acked: Acked, leased_at: dt.datetime) -> AbstractContextManager[None]:
        """Work slower than its lease (Slack slow to answer) keeps its row meanwhile."""
        if acked.row_id is None:
            return nullcontext()
        return self.leases.holding(acked.row_id, leased_at)

    @staticmethod
    def _request(acked: Acked) -> BoltRequest:
        """The acked request again, as Bolt reads it, marked as the work's dispatch."""
        request = BoltRequest(body="", headers={"content-type": "application/json"})
        request.body = acked.body
        if acked.request_ts is not None:
            request.headers["x-slack-request-timestamp"] = [acked.request_ts]
        request.context = build_context(BoltContext(), acked.body)
        request.context[LATER] = acked.row_id or 0
        return request

    # -- rows other processes left ---------------------------------------------------------

    def start(self) -> None:
        """Claim rows left by `--ack-only` replicas and by processes that died."""
        self._poller = threading.Thread(target=self._poll, name="inbox", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        failing = False
        while not self._stop.wait(POLL_SECONDS):
            room = self.threads - self._on_pool
            if room <= 0:
                continue
            try:
                self.claim(room)
            except Exception as exc:  # the database may be away; try again next round
                # One line when rounds start failing and one when they work again: not a
                # traceback five times a second for as long as the database is away.
                if not failing:
                    log.warning("inbox rounds failing, retrying: %s", brief(exc))
                    failing = True
                log.debug("inbox round failed", exc_info=True)
            else:
                if failing:
                    log.warning("inbox rounds work again")
                    failing = False

    def claim(self, limit: int) -> int:
        """Take up to `limit` rows nobody holds and queue their work here; how many."""
        with self.db.transaction() as session:
            rows = inbox.claim(session, self.worker, utc_now(), limit=limit, lease=self.lease)
            taken = [
                Acked(r.id, r.body, r.request_ts, r.request_id, r.attempts, time.monotonic())
                for r in rows
            ]
        # A row of this process's own whose lease ran out while it waited in the queue here
        # is already queued: once is enough.
        taken = [acked for acked in taken if acked.row_id not in self._here]
        for acked in taken:
            self._submit(acked)
        return len(taken)

    # -- for /metrics, tests and shutdown ----------------------------------------------------

    @property
    def pending(self) -> int:
        """Work queued or running in this process (the backlog /metrics shows)."""
        return self._pending

    def waiting(self) -> tuple[int, float]:
        """Rows in the inbox, all processes', and the oldest one's age in seconds."""
        with self.db.transaction() as session:
            return inbox.waiting(session, utc_now())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until no work is queued or running here (tests, the demo, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 10) -> None:
        """Stop claiming, let the queued work finish (up to `timeout`), then stop. Rows of
        work that did not finish stay in the inbox for another process."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout)
        self.wait_idle(timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.modals.shutdown(wait=False, cancel_futures=True)
        self.leases.stop()


def _in_fresh_context(work: Callable[..., Any], *args: Any) -> Any:
    return contextvars.Context().run(work, *args)


def _unwired(request: BoltRequest) -> BoltResponse:
    raise RuntimeError("Inbox.dispatch was not wired to Bolt")
