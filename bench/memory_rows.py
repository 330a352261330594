"""The memory run's settings and what it records: the mix, the goal, each reading.

Shared by the run (bench/memory.py) and its prose (bench/memory_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.scenarios import Kind
from onboard.bot.memory import Heap

REQUESTS = 30_000  # the 10,000, then on, to see whether the size levels off
ROUNDS = 15  # the requests go in rounds; the resident size is read when each has settled
GOAL_REQUESTS = 10_000
CONCURRENCY = 16
# Forty requests in the mix, repeated: mostly commands and forms, some clicks, a new client.
MIX: dict[Kind, int] = {"help": 18, "new": 6, "errors": 13, "approve": 2, "valid": 1}
GOAL_MIB = 150
MIB = 1 << 20
FLAT_KIB = 256  # a round that adds no more than this adds nothing measurable
SETTLE_SECONDS = 240
SECTION = "## Memory of `onboard serve`"
AFTER = "## Ack latency"


@dataclass(frozen=True)
class Sample:
    answered: int  # requests answered so far, the set-up's not counted
    rss: int  # KiB
    idle: bool  # read when the process had settled, not under load
    heap: Heap | None = None  # read with the idle ones


@dataclass(frozen=True)
class Run:
    started: int  # KiB, resident once serving, before any request
    set_up: int  # KiB, idle after the set-up's requests
    samples: list[Sample]
    peak: int  # KiB, VmHWM: the most it was ever resident
    failures: list[str]
    seconds: float  # wall time of the mixed requests, settling included
    cpu: float  # the server's CPU seconds over them
    setup_requests: int
