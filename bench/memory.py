"""How much memory `onboard serve` holds: resident size idle, and as 30,000 requests go by.

Owns the memory run (a fresh `onboard serve`, a mixed load); bench/memory_report.py words its
section of the report.
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
from pathlib import Path

from bench.memory_report import render
from bench.memory_rows import (
    AFTER,
    CONCURRENCY,
    MIX,
    REQUESTS,
    ROUNDS,
    SECTION,
    SETTLE_SECONDS,
    Run,
    Sample,
)
from bench.report import REPORT, write_section
from bench.scenarios import (
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
    requests: int = REQUESTS,
    write: bool = True,
    threads: int = HTTP_THREADS,
    database_url: str | None = None,
) -> int:
    """Measure, print, and write the report's section; 1 when an answer was wrong, else 0.

    With `database_url` (postgresql://…), the same run follows on a scratch database there.
    """
    began, load = time.monotonic(), load_average()
    total = requests // 10 if quick else requests
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
    parser.add_argument(
        "--requests",
        type=int,
        default=REQUESTS,
        help=f"the mixed requests, in {ROUNDS} rounds (default {REQUESTS:,}; a soak: 150000)",
    )
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
            requests=options.requests,
            write=not options.no_write,
            threads=options.threads,
            database_url=options.database_url,
        )
    )
