"""The ack-latency benchmark's rows and their results: what is measured, and the figures
each row gave (bench/ack_latency.py measures them, bench/ack_report.py writes them up)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Literal

from bench.scenarios import ACK_TIMEOUT, BareKind

CONCURRENCIES = (1, 16, 64)
REQUESTS = {1: 150, 16: 800, 64: 800}  # measured requests per row, by concurrency
VALID_SHARE = 4  # valid submissions: a quarter as many (each sets off ~50 ms of CPU work)
WARMUP = 40  # requests per row before measuring, at the same concurrency, not counted
SETTLE_SECONDS = 240  # the most a row waits for the work after its acks to finish
GOAL_CONCURRENCY = 16
GOAL_RATIO = 1.5
GOAL_MS = 100.0
SECTION = "## Ack latency"
SPLIT = "`serve --ack-only` + `scheduler`"
OLD_TITLE = "## Ack latency of `/onboard`"  # the section's title before it covered clicks

App = Literal["bot", "bare"]

NAMES: dict[str, str] = {
    "help": "`/onboard help`",
    "new": "`/onboard new Acme Rockets`",
    "approve": "**Approve** click",
    "errors": "New client form, 2 mistakes",
    "valid": "New client form, valid",
    "command": "slash command",
    "click": "button click",
    "view": "view submission",
}
BARE_FOR: dict[str, BareKind] = {
    "help": "command",
    "new": "command",
    "approve": "click",
    "errors": "view",
    "valid": "view",
}
# Each bare row comes just before the bot rows it is the floor of.
ORDER: tuple[tuple[App, str], ...] = (
    ("bare", "command"),
    ("bot", "help"),
    ("bot", "new"),
    ("bare", "click"),
    ("bot", "approve"),
    ("bare", "view"),
    ("bot", "errors"),
    ("bot", "valid"),
)


@dataclass(frozen=True)
class Row:
    app: App
    kind: str
    database: str = ""  # named when more than one database is measured

    @property
    def name(self) -> str:
        if self.app == "bare":
            return f"{NAMES[self.kind]}, bare Bolt (ack only)"
        on = f" on {self.database}" if self.database else ""
        return f"{NAMES[self.kind]}, bot{on}"


@dataclass(frozen=True)
class Result:
    row: Row
    concurrency: int
    latencies: list[float]
    seconds: float
    failures: list[str]
    unanswered: int
    connects: int
    server_cpu: float  # seconds of the server's CPU from the row's start to its last answer
    after_cpu: float  # seconds of the server's CPU after the last answer, until it was quiet
    settle: float  # seconds from the last answer until every process was quiet again
    client_cpu: float  # the clients' process's CPU while the row's requests went
    others: float  # other processes' average share of one CPU while the row was measured

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.unanswered

    @property
    def timeouts(self) -> int:
        """Requests Bolt gave up on: no ack within 3 s (Slack shows the user an error)."""
        return sum(1 for failure in self.failures if ACK_TIMEOUT in failure)

    def percentile(self, p: int) -> float:
        """The p-th percentile latency, in milliseconds."""
        if len(self.latencies) < 2:
            return 1000 * (self.latencies[0] if self.latencies else math.nan)
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan

    @property
    def cpu_per_request(self) -> float:
        """Milliseconds of the server's CPU per request, the work after the ack included."""
        total = self.server_cpu + self.after_cpu
        return 1000 * total / self.requests if self.requests else math.nan


# -- finding a row's figures among the results ----------------------------------------------


def bare_of(results: list[Result], result: Result) -> Result | None:
    if result.row.app == "bare":
        return None
    kind = BARE_FOR[result.row.kind]
    return next(
        (
            r
            for r in results
            if r.row.app == "bare" and r.row.kind == kind and r.concurrency == result.concurrency
        ),
        None,
    )


def find(results: list[Result], concurrency: int, app: App, kind: str) -> Result:
    """The first row of that kind at that concurrency (on SQLite when both are measured)."""
    return next(
        r
        for r in results
        if r.concurrency == concurrency and r.row.app == app and r.row.kind == kind
    )


def p99(results: list[Result], concurrency: int, app: App, kind: str) -> float:
    return find(results, concurrency, app, kind).percentile(99)
