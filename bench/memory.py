"""How much memory `onboard serve` holds: resident size idle, and as 30,000 requests go by.

Owns the memory run (a fresh `onboard serve`, a mixed load) and its section of the report.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from bench.report import REPORT, machine, write_section
from bench.scenarios import (
    ACK_TIMEOUT,
    APPROVERS,
    TEAM,
    Kind,
    Prepared,
    Stage,
    set_up,
)
from bench.senders import Senders
from bench.servers import (
    HTTP_THREADS,
    Others,
    Server,
    get,
    load_average,
    onboard_serve,
    quiet,
    rss_kib,
    scratch_database,
)
from onboard.bot.memory import Heap
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace

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


def pattern() -> list[Kind]:
    """One cycle of the mix, interleaved (not all the helps first)."""
    left = dict(MIX)
    cycle: list[Kind] = []
    while any(left.values()):
        for kind in MIX:
            if left[kind]:
                cycle.append(kind)
                left[kind] -= 1
    return cycle


def mixed(stage: Stage, count: int) -> Iterator[Prepared]:
    """The mix's requests, each made just before it is sent (a trigger_id lives 3 s)."""
    cycle = pattern()
    return (stage.prepare(cycle[i % len(cycle)]) for i in range(count))


# /metrics' heap gauges (bot/memory.py), by the field of `Heap` each fills.
HEAP_METRICS = {
    "onboard_python_allocated_blocks": "python_blocks",
    "onboard_malloc_in_use_bytes": "malloc_in_use",
    "onboard_malloc_free_bytes": "malloc_free",
    "onboard_sqlite_memory_bytes": "sqlite_in_use",
}


def heap_of(server: Server) -> Heap:
    """The server's heap, as its /metrics shows it (sizes in bytes)."""
    found: dict[str, int] = {}
    for line in get(server.url, "/metrics").body.decode().splitlines():
        name, _, value = line.partition(" ")
        if name in HEAP_METRICS:
            found[HEAP_METRICS[name]] = int(float(value))
    return Heap(
        found["python_blocks"],
        found.get("malloc_in_use"),
        found.get("malloc_free"),
        found.get("sqlite_in_use"),
    )


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


def measure(
    server: Server, senders: Senders, stage: Stage, total: int, setup_requests: int, started: int
) -> Run:
    after_setup = rss_kib(server.pid)
    samples: list[Sample] = [Sample(0, after_setup, True, heap_of(server))]
    failures: list[str] = []
    per_round = total // ROUNDS
    done = 0
    began, cpu = time.monotonic(), server.cpu()
    for _ in range(ROUNDS):
        every = max(per_round // 4, 1)

        def sample(n: int, base: int = done, every: int = every) -> None:
            if n % every == 0 and n < per_round:
                samples.append(Sample(base + n, rss_kib(server.pid), False))

        phase = senders.drive(mixed(stage, per_round), on_answer=sample)
        failures += phase.failures
        done += per_round
        quiet([server.pid, os.getpid(), senders.pid], most=SETTLE_SECONDS)
        samples.append(Sample(done, rss_kib(server.pid), True, heap_of(server)))
        print(f"  {done:>6} requests: {samples[-1].rss / 1024:.1f} MiB resident", flush=True)
    return Run(
        started,
        after_setup,
        samples,
        rss_kib(server.pid, "VmHWM"),
        failures,
        time.monotonic() - began,
        server.cpu() - cpu,
        setup_requests,
    )


# Run in a fresh interpreter: the resident size after each step, in KiB, one line per step.
IMPORTS = """
import os, sys
def rss():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
steps = [
    ("the interpreter", ""),
    ("Bolt, the Slack SDK and waitress", "import slack_bolt, slack_sdk, waitress.server"),
    ("SQLAlchemy and pydantic settings", "import sqlalchemy.orm, pydantic_settings"),
    ("alembic", "import alembic.context, alembic.runtime.migration"),
    ("the rest of the bot", "import onboard.bot.app, onboard.handlers.commands"),
    ("then matplotlib (pyplot)", "import matplotlib.pyplot"),
]
before = 0
for name, code in steps:
    exec(code)
    now = rss()
    print(f"{now - before}\t{name}")
    before = now
"""


def import_costs() -> list[tuple[str, int]]:
    """What each group of imports adds to a fresh interpreter's resident size (KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, timeout=120
    )
    return [
        (name, int(kib)) for kib, name in (line.split("\t", 1) for line in done.stdout.splitlines())
    ]


def trend(steps: list[int]) -> str:
    """How the idle size moved from round to round (KiB each), in words."""
    if not steps:
        return ""
    if max(steps) <= FLAT_KIB:
        return ": flat"
    if steps[-1] <= FLAT_KIB:
        return ", the last round adding nothing measurable: levelling off"
    if all(later < earlier for earlier, later in pairwise(steps)):
        return ", each round adding less than the one before: slowing, not yet flat"
    return ": it still grows"


def growth_of(run: Run) -> str:
    """The idle size after each round, the steps between them, and the trend, in words."""
    idle = [s for s in run.samples if s.idle]
    second = idle[1] if len(idle) > 2 else idle[0]  # the first round warms caches and pools
    grew = idle[-1].rss - second.rss
    per_thousand = 1000 * grew / max(idle[-1].answered - second.answered, 1)
    steps = [b.rss - a.rss for a, b in pairwise(idle[1:])]
    return (
        ", ".join(f"{mib(s.rss)}" for s in idle[1:])
        + " MiB, that is "
        + ", ".join(f"{step / 1024:+.1f}" for step in steps)
        + f" MiB a round after the first. From {second.answered:,} to {idle[-1].answered:,} "
        f"requests it grew {grew / 1024:+.1f} MiB ({per_thousand:+.0f} KiB per 1,000 "
        f"requests){trend(steps)}"
        + (f". {heap}" if (heap := where_it_went(second, idle[-1])) else "")
    )


def where_it_went(first: Sample, last: Sample) -> str:
    """Between two idle samples, the server's heap figures (its /metrics) beside its growth:
    objects that pile up show in Python's live blocks or malloc's bytes in use; memory the
    allocators keep shows in malloc's free space or in neither."""
    a, b = first.heap, last.heap
    if a is None or b is None:
        return ""
    blocks = b.python_blocks - a.python_blocks
    text = (
        f"Meanwhile Python's live blocks went from {a.python_blocks:,} to "
        f"{b.python_blocks:,} ({blocks:+,}"
        + (", no Python objects piling up" if abs(blocks) < a.python_blocks / 100 else "")
        + ")"
    )
    if None not in (a.malloc_in_use, a.malloc_free, b.malloc_in_use, b.malloc_free):
        used = (b.malloc_in_use - a.malloc_in_use) / MIB  # type: ignore[operator]
        free = (b.malloc_free - a.malloc_free) / MIB  # type: ignore[operator]
        rest = (last.rss - first.rss) / 1024 - used - free
        sqlite = (
            f" (SQLite's {(b.sqlite_in_use - a.sqlite_in_use) / MIB:+.1f} MiB of it)"
            if a.sqlite_in_use is not None and b.sqlite_in_use  # a server on SQLite: its share
            else ""
        )
        text += (
            f"; malloc's bytes in use {used:+.1f} MiB{sqlite}, the free space it keeps "
            f"in its heaps {free:+.1f} MiB, and the residual of the resident size "
            f"(Python's own arenas, thread stacks, mapped files; approximate, as not all of "
            f"malloc's bytes need be resident) {rest:+.1f} MiB"
        )
    return text


def on_postgres(run: Run) -> str:
    return (
        "- **The same on PostgreSQL** (a fresh `onboard serve` on a scratch database, so no "
        f"database cache inside the process): {mib(run.started)} MiB before any request, "
        f"{mib(run.set_up)} MiB after the set-up, {mib(run.peak)} MiB at the peak; idle after "
        f"each round: {growth_of(run)}."
    )


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def render(
    run: Run,
    *,
    took: float,
    quick: bool,
    threads: int,
    total: int,
    imports: list[tuple[str, int]],
    others: float,
    load: str,
    postgres: Run | None = None,
) -> str:
    m = machine()
    final = run.samples[-1].rss
    idle = [s for s in run.samples if s.idle]
    under = max(run.peak, final) < GOAL_MIB * 1024
    loaded = [s for s in run.samples if not s.idle]
    at_goal = next((s for s in idle if s.answered == GOAL_REQUESTS), None)
    wrong = [f for f in run.failures if ACK_TIMEOUT not in f]
    timeouts = len(run.failures) - len(wrong)
    lines = [
        SECTION,
        "",
        "<!-- Written by `python -m bench` (bench/memory.py); edits to this section are "
        "overwritten. -->",
        "",
        f"The resident set size (`VmRSS` in `/proc/<pid>/status`) of a fresh `onboard serve` "
        f"process (outbox worker and scheduler running, SQLite, {threads} HTTP threads), idle "
        f"and as {total:,} mixed requests go by, {CONCURRENCY} clients at a time. Goal: under "
        f"{GOAL_MIB} MB and no growth."
        + (
            f" This run had `MALLOC_ARENA_MAX={arenas}` in the environment."
            if (arenas := os.environ.get("MALLOC_ARENA_MAX"))
            else ""
        ),
        "",
        "| when | requests | resident MiB |",
        "| --- | ---: | ---: |",
        f"| serving, before any request | 0 | {mib(run.started)} |",
        f"| idle after the set-up ({run.setup_requests} requests: a client, its "
        f"{APPROVERS} approvers, deliverables) | 0 | {mib(run.set_up)} |",
        *(f"| idle, the round done | {s.answered:,} | {mib(s.rss)} |" for s in idle[1:]),
        f"| the peak (`VmHWM`) over it all | | {mib(run.peak)} |",
        "",
        f"- **Size:** {mib(run.started)} MiB serving before any request, "
        + (f"{mib(at_goal.rss)} MiB idle after {at_goal.answered:,} requests, " if at_goal else "")
        + f"{mib(final)} MiB idle after {total:,} requests, {mib(run.peak)} MiB at the peak: "
        + (
            f"under the goal of {GOAL_MIB} MB (read as MiB)."
            if under
            else f"**over** the goal of {GOAL_MIB} MB (read as MiB, the kinder reading)."
        )
        + (
            f" Under load it read between {mib(min(s.rss for s in loaded))} and "
            f"{mib(max(s.rss for s in loaded))} MiB."
            if loaded
            else ""
        ),
        "- **Where the idle size comes from** (a fresh interpreter importing, in this order; "
        "each figure is what that step added): "
        + "; ".join(f"{what} {mib(kib)} MiB" for what, kib in imports)
        + ". The charting library is loaded only the first time a process draws the weekly "
        "digest's chart (the scheduler's, in the week's digest run), so it is not part of the "
        "serving size; the migration tool is, for the migrations `serve` runs at start.",
        f"- **Growth:** idle after each round of {total // ROUNDS:,} requests: {growth_of(run)}.",
        *([on_postgres(postgres)] if postgres else []),
        "- The mix, repeated in this order: "
        + ", ".join(f"{n} × {kind}" for kind, n in MIX.items())
        + " in every "
        + f"{sum(MIX.values())} requests (help: `/onboard help`; new: `/onboard new`, which "
        "opens a modal; errors: the New client form with two mistakes; approve: a client "
        "approver's first decision; valid: a New client form that creates a client, its "
        "channel and its journey). The database grows with every client and decision, and "
        "what SQLite caches of it (up to 2 MB per pooled connection by default) is part of "
        "the figure.",
        f"- The run took {run.seconds:.0f} s for the mixed requests ({run.cpu:.0f} s of the "
        f"server's CPU, {1000 * run.cpu / total:.1f} ms per request with the work after the "
        f"ack); {timeouts} valid New client forms got no ack within Bolt's 3 s, and "
        f"{len(run.failures) - timeouts} answers were otherwise wrong or missing"
        + (f" (first: `{wrong[0][:160]}`)" if wrong else "")
        + f". Other processes on the machine used {others:.0%} of one CPU on average meanwhile.",
        "",
        f"- Machine: {m['cores']} CPUs (`nproc`), {m['cpu']}; {m['os']}; load average {load} "
        "at the start",
        f"- Python {m['python']}; {m['packages']}; the bot at commit {m['commit']}",
        f"- Date: {m['date']}; the whole run took {took:.0f} s"
        + (" (`--quick`: a tenth of the requests)" if quick else ""),
        "- Reproduce: `./dev bench` (this section and the ack latency's), or "
        "`.venv/bin/python -m bench --only memory` (or `-m bench.memory`) for this one alone",
        "",
    ]
    return "\n".join(lines)


def run_on(database_url: str | None, total: int, threads: int) -> tuple[Run, list[str], float]:
    """A fresh `onboard serve` (SQLite, or the database at the URL) under the mixed requests:
    the run, the warnings its log holds, and the other processes' share of a CPU meanwhile."""
    workspace = Workspace()
    team = [workspace.add_user(f"member{i}.team").id for i in range(TEAM)]
    with (
        tempfile.TemporaryDirectory(prefix="onboard-memory-") as tmp,
        SlackStandIn(workspace) as standin,
        onboard_serve(
            standin.api_url, workspace.bot_token, Path(tmp), threads, team, database_url
        ) as server,
    ):
        quiet([server.pid], most=SETTLE_SECONDS)
        started = rss_kib(server.pid)
        print(f"onboard serve: {started / 1024:.1f} MiB resident before any request", flush=True)
        clicks = total * MIX["approve"] // sum(MIX.values()) + APPROVERS
        deliverables = math.ceil(clicks / APPROVERS)
        stage = set_up(server.url, workspace, team, deliverables)
        with Senders(server.url, CONCURRENCY) as senders:
            watched = [server.pid, os.getpid(), senders.pid]
            quiet(watched, most=SETTLE_SECONDS)
            others = Others(watched)
            others.start()
            run = measure(server, senders, stage, total, stage.setup_requests, started)
            elsewhere = others.stop()
        problems, _ = server.log_problems()
    return run, problems, elsewhere


def main(
    *,
    quick: bool = False,
    write: bool = True,
    threads: int = HTTP_THREADS,
    database_url: str | None = None,
) -> int:
    """Measure, print, and write the report's section; 1 when an answer was wrong, else 0.

    With `database_url` (postgresql://…), the same run follows on a scratch database there.
    """
    began, load = time.monotonic(), load_average()
    total = REQUESTS // 10 if quick else REQUESTS
    imports = import_costs()
    run, problems, elsewhere = run_on(None, total, threads)
    postgres = None
    if database_url:
        print("the same on PostgreSQL", flush=True)
        with scratch_database(database_url) as url:
            postgres, more, _ = run_on(url, total, threads)
        problems += more
    took = time.monotonic() - began
    section = render(
        run,
        took=took,
        quick=quick,
        threads=threads,
        total=total,
        imports=imports,
        others=elsewhere,
        load=load,
        postgres=postgres,
    )
    print(section)
    for line in problems[:5]:
        print(f"    bot log: {line}", file=sys.stderr)
    if write:
        write_section(SECTION, section, after=AFTER)
        print(f"wrote the {SECTION!r} section of {REPORT} ({took:.0f} s)")
    return 1 if run.failures or (postgres is not None and postgres.failures) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description="Measure the resident size of onboard serve idle and under 30,000 mixed "
        "requests, and rewrite its section of docs/benchmarks.md.",
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    parser.add_argument("--no-write", action="store_true", help="leave docs/ as it is")
    parser.add_argument("--threads", type=int, default=HTTP_THREADS, help="ONBOARD_HTTP_THREADS")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="also run on a scratch PostgreSQL database made on this server (postgresql://…)",
    )
    options = parser.parse_args()
    sys.exit(
        main(
            quick=options.quick,
            write=not options.no_write,
            threads=options.threads,
            database_url=options.database_url,
        )
    )
