"""APScheduler running the sweeps, with one active scheduler per database.

On PostgreSQL an advisory lock elects the scheduler; a standby takes over when it dies.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from onboard.bot import memory
from onboard.schedules.jobs import JOBS

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

_LEADER_LOCK = 0x0AD19


class Scheduler:
    def __init__(self, bot: Onboard, *, standby_poll_seconds: float = 15) -> None:
        self.bot = bot
        self.poll = standby_poll_seconds
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leader_connection = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._lead, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._leader_connection is not None:
            self._leader_connection.close()
        if self._thread is not None:
            self._thread.join(5)

    def _lead(self) -> None:
        while not self._stop.is_set():
            if self._become_leader():
                self._schedule()
                return
            self._stop.wait(self.poll)

    def _become_leader(self) -> bool:
        if self.bot.db.is_sqlite:
            return True  # one process per SQLite file
        try:
            connection = self.bot.db.engine.connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _LEADER_LOCK}
            ).scalar()
        except Exception:  # the database is away: stay standby and try again
            log.warning("scheduler could not reach the database; standing by")
            return False
        if got:
            self._leader_connection = connection  # the lock lives as long as this session
            log.info("this process runs the scheduler")
            return True
        connection.close()
        return False

    def _schedule(self) -> None:
        for job in JOBS.values():
            self.scheduler.add_job(
                self._run,
                "interval",
                seconds=job.every_seconds,
                args=[job.name],
                id=job.name,
                next_run_time=self.bot.clock(),  # catch up at start: downtime is swept now
                max_instances=1,
            )
        self.scheduler.add_listener(self._lag, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.start()

    def _lag(self, event: JobExecutionEvent) -> None:
        late = (self.bot.clock() - event.scheduled_run_time).total_seconds()
        self.bot.metrics.scheduler_lag.labels(event.job_id).set(max(0.0, late))

    def _run(self, name: str) -> None:
        try:
            queued = JOBS[name].run(self.bot, self.bot.clock())
        except Exception:
            log.exception("job %s failed; it runs again at its next interval", name)
            return
        finally:
            memory.give_back_free_pages()  # what the job freed, not kept in its thread's arena
        if queued:
            log.info("job %s queued %d sends", name, queued)
            self.bot.delivery.wake()
