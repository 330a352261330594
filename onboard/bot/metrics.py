"""What operators watch: requests, ack latency, the outbox, Slack's errors, scheduler lag,
and where the process's memory is.

Prometheus text format on GET /metrics; every process exposes its own registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from onboard.bot import memory
from onboard.storage import outbox
from onboard.storage.db import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, db: Database, clock: Callable[[], dt.datetime]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "onboard_requests",
            "HTTP requests by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "onboard_ack_seconds",
            "Time to answer Slack's request (the ack)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3),
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "onboard_slack_errors",
            "Slack Web API failures by method and error",
            ["method", "error"],
            registry=self.registry,
        )
        self.outbox_sent = Counter(
            "onboard_outbox_sent", "Outbox rows delivered", registry=self.registry
        )
        self.after_ack = Gauge(
            "onboard_after_ack_pending",
            "Work after acks queued or running in this process (decisions, modals, forms)",
            registry=self.registry,
        )
        self.scheduler_lag = Gauge(
            "onboard_scheduler_lag_seconds",
            "How late the last sweep started, by job",
            ["job"],
            registry=self.registry,
        )

        def outbox_state() -> tuple[int, float]:
            with db.transaction() as session:
                return outbox.waiting(session, clock())

        self.backlog(
            "outbox",
            "Outbox rows waiting to be sent",
            "Age of the oldest waiting row",
            outbox_state,
        )
        ProcessCollector(registry=self.registry)  # resident size, CPU, open files (Linux)
        self.registry.register(_Heap())

    def backlog(
        self, name: str, depth: str, age: str, read: Callable[[], tuple[int, float]]
    ) -> None:
        """Gauges `onboard_<name>_depth` and `onboard_<name>_oldest_age_seconds`, described by
        `depth` and `age`, both from one call of `read` (one query) per scrape."""
        self.registry.register(_Backlog(name, depth, age, read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Backlog(Collector):
    """A queue's depth and oldest age, read together when /metrics is scraped."""

    def __init__(
        self, name: str, depth: str, age: str, read: Callable[[], tuple[int, float]]
    ) -> None:
        self.name, self.depth, self.age, self.read = name, depth, age, read

    def collect(self) -> Iterator[Metric]:
        count, oldest = self.read()
        yield GaugeMetricFamily(f"onboard_{self.name}_depth", self.depth, value=count)
        yield GaugeMetricFamily(f"onboard_{self.name}_oldest_age_seconds", self.age, value=oldest)


class _Heap(Collector):
    """Where the process's memory is (`memory.heap`), read when /metrics is scraped: with
    `process_resident_memory_bytes`, it tells objects piling up from allocators keeping pages."""

    def collect(self) -> Iterator[Metric]:
        now = memory.heap()
        yield GaugeMetricFamily(
            "onboard_python_allocated_blocks",
            "Memory blocks Python's allocator has handed out and not had back (live objects)",
            value=now.python_blocks,
        )
        if now.malloc_in_use is not None and now.malloc_free is not None:
            yield GaugeMetricFamily(
                "onboard_malloc_in_use_bytes",
                "Bytes held from the C library's malloc (glibc only)",
                value=now.malloc_in_use,
            )
            yield GaugeMetricFamily(
                "onboard_malloc_free_bytes",
                "Bytes malloc keeps free in its heaps instead of giving back (glibc only)",
                value=now.malloc_free,
            )
        if now.sqlite_in_use is not None:
            yield GaugeMetricFamily(
                "onboard_sqlite_memory_bytes",
                "Bytes SQLite holds, mostly its page caches (about 2 MB a connection by default)",
                value=now.sqlite_in_use,
            )
