"""What operators watch: requests, ack latency, the outbox, Slack's errors, scheduler lag.

Prometheus text format on GET /metrics; every process exposes its own registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select

from onboard.storage.db import Database
from onboard.storage.models import OutboxMessage

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
        depth = Gauge(
            "onboard_outbox_depth", "Outbox rows waiting to be sent", registry=self.registry
        )
        age = Gauge(
            "onboard_outbox_oldest_age_seconds",
            "Age of the oldest waiting row",
            registry=self.registry,
        )

        def outbox_state() -> tuple[int, float]:
            with db.transaction() as session:
                count, oldest = session.execute(
                    select(func.count(), func.min(OutboxMessage.created_at)).where(
                        OutboxMessage.status == "pending"
                    )
                ).one()
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=dt.UTC)
            return count or 0, (clock() - oldest).total_seconds() if oldest else 0.0

        depth.set_function(lambda: outbox_state()[0])
        age.set_function(lambda: outbox_state()[1])
        self.inbox_depth = Gauge(
            "onboard_inbox_depth",
            "Acked Slack requests whose work is not done yet, in every process",
            registry=self.registry,
        )
        self.inbox_age = Gauge(
            "onboard_inbox_oldest_age_seconds",
            "Age of the oldest acked request whose work is not done",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
