"""What the durable ack costs on its own: `serve --ack-only` with nothing doing the work.

A click's and a valid New client form's ack write the request to the inbox table before
Slack gets the answer (README: nothing acked is lost). Here a full `onboard serve` sets the
stage, then stops; a `serve --ack-only --no-scheduler` takes over its database with no process
beside it, so no work runs at all, and its acks are timed next to bare Bolt's at the goal's
concurrency. That is the floor under the goal's ratio for those two requests, whatever the work
after the ack costs. Run: `python -m bench.ack_floor [--database-url postgresql://…]`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.ack_latency import measure
from bench.ack_report import HEADER, print_row, table_row
from bench.ack_rows import (
    BARE_FOR,
    GOAL_CONCURRENCY,
    GOAL_RATIO,
    NAMES,
    REQUESTS,
    SETTLE_SECONDS,
    WARMUP,
    Result,
    Row,
    bare_of,
)
from bench.report import REPORT, machine, write_section
from bench.scenarios import APPROVERS, TEAM, set_up
from bench.servers import HTTP_THREADS, bare_server, onboard_serve, quiet, scratch_database
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace

KINDS = ("approve", "valid")  # the requests whose ack writes the inbox
SECTION = "## The durable ack on its own"
AFTER = "## Ack latency"


def run(database_url: str | None, count: int, threads: int) -> tuple[list[Result], str]:
    """The rows, bare Bolt's and the lone `serve --ack-only`'s, and the database's name."""
    workspace = Workspace()
    team = [workspace.add_user(f"member{i}.team").id for i in range(TEAM)]
    with (
        tempfile.TemporaryDirectory(prefix="onboard-floor-") as tmp,
        SlackStandIn(workspace) as standin,
        ExitStack() as stack,
    ):
        url = stack.enter_context(scratch_database(database_url)) if database_url else None
        database = "PostgreSQL" if url else "SQLite"
        folder = Path(tmp)
        deliverables = math.ceil((WARMUP + count) / APPROVERS) + 1
        with onboard_serve(
            standin.api_url, workspace.bot_token, folder, threads, team, url, "set-up"
        ) as full:
            stage = set_up(full.url, workspace, team, deliverables)
        label = f"{database}, `serve --ack-only` alone"
        acks = stack.enter_context(
            onboard_serve(
                standin.api_url, workspace.bot_token, folder, threads, team, url, "acks", alone=True
            )
        )
        bare = stack.enter_context(
            bare_server(standin.api_url, workspace.bot_token, threads, folder)
        )
        everyone = [os.getpid(), bare.pid, acks.pid]
        quiet(everyone, most=SETTLE_SECONDS)
        print("\n".join(HEADER), flush=True)
        results: list[Result] = []
        for kind in KINDS:
            rows = ((Row("bare", BARE_FOR[kind]), bare), (Row("bot", kind, label), acks))
            for row, server in rows:
                results.append(measure(row, GOAL_CONCURRENCY, count, server, stage, everyone))
                print_row(results, results[-1])
    return results, database


def render(runs: list[tuple[list[Result], str]], count: int, took: float) -> str:
    m = machine()
    table, floors = [], []
    for results, database in runs:
        table += [table_row(results, r) for r in results]
        for r in results:
            bare = bare_of(results, r)
            if bare is not None:
                ratio = r.percentile(99) / bare.percentile(99)
                floors.append(
                    f"{NAMES[r.row.kind]} on {database} {r.percentile(99):.0f} ms p99, "
                    f"{ratio:.2f}× bare Bolt's {bare.percentile(99):.0f} "
                    f"({r.cpu_per_request:.2f} ms of CPU each, against "
                    f"{bare.cpu_per_request:.2f})"
                )
    databases = " and ".join(database for _, database in runs)
    return "\n".join(
        [
            SECTION,
            "",
            "<!-- Written by `python -m bench.ack_floor` (bench/ack_floor.py); edits to this "
            "section are overwritten. -->",
            "",
            "A click's and a valid New client form's ack write the request to the inbox table "
            "before Slack gets the answer, so that nothing acked is lost. Here a full "
            "`onboard serve` sets the stage and stops; `serve --ack-only --no-scheduler` then "
            "answers on its database with nothing beside it: no work after the acks runs "
            f"anywhere. On {databases}, at concurrency {GOAL_CONCURRENCY}, {count} requests a "
            "row, each bare Bolt row just before the bot's it is the floor of:",
            "",
            *HEADER,
            *table,
            "",
            "- **The floor:** "
            + "; ".join(floors)
            + f". The goal asks for {GOAL_RATIO}× at this concurrency. With the inbox written "
            "before the ack, no saving in the work after the ack brings these two requests "
            "below these figures on this machine; what their rows in the ack latency section "
            "add to them is that work, taking turns with the acks for the same cores.",
            f"- Machine: {m['cores']} CPUs (`nproc`), {m['cpu']}; {m['os']}; Python "
            f"{m['python']}; the bot at commit {m['commit']}",
            f"- Date: {m['date']}; the run took {took:.0f} s",
            "- Reproduce: `.venv/bin/python -m bench.ack_floor` (SQLite), with "
            "`--database-url postgresql://…` for a scratch PostgreSQL database as well",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ack_floor",
        description="Time the acks of clicks and valid forms with no work running anywhere "
        "(`serve --ack-only` alone), next to bare Bolt, and write that section of "
        "docs/benchmarks.md.",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="after SQLite, the same on a scratch PostgreSQL database made on this server "
        "(postgresql://…)",
    )
    parser.add_argument(
        "--requests", type=int, default=REQUESTS[GOAL_CONCURRENCY], help="requests a row"
    )
    parser.add_argument("--threads", type=int, default=HTTP_THREADS, help="ONBOARD_HTTP_THREADS")
    parser.add_argument("--no-write", action="store_true", help="leave docs/ as it is")
    options = parser.parse_args(argv)
    began = time.monotonic()
    urls = [None, *([options.database_url] if options.database_url else [])]
    runs = [run(url, options.requests, options.threads) for url in urls]
    section = render(runs, options.requests, time.monotonic() - began)
    print(section)
    if not options.no_write:
        write_section(SECTION, section, after=AFTER)
        print(f"wrote the {SECTION!r} section of {REPORT}")
    return 1 if any(r.failures for results, _ in runs for r in results) else 0


if __name__ == "__main__":  # the guard matters: the bare app's process is spawned
    sys.exit(main())
