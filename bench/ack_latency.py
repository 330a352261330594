"""How long Slack waits for the bot's HTTP answer (the ack): `onboard serve` next to bare Bolt.

Owns the run: the servers, the rows in order, each row's requests and timings; the rows are
bench/ack_rows.py, the report's section bench/ack_report.py.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import cast

from bench.ack_report import HEADER, print_row, render, tidy_preamble
from bench.ack_rows import (
    CONCURRENCIES,
    ORDER,
    REQUESTS,
    SECTION,
    SETTLE_SECONDS,
    SPLIT,
    VALID_SHARE,
    WARMUP,
    Result,
    Row,
)
from bench.report import REPORT, write_section
from bench.scenarios import (
    APPROVERS,
    TEAM,
    BareKind,
    Kind,
    Prepared,
    Stage,
    clients_in,
    prepare_bare,
    set_up,
)
from bench.senders import Senders
from bench.servers import (
    HTTP_THREADS,
    Others,
    Server,
    bare_server,
    cpu_seconds,
    load_average,
    onboard_serve,
    quiet,
    scratch_database,
)
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace


def measure(
    row: Row,
    concurrency: int,
    count: int,
    server: Server,
    stage: Stage,
    everyone: list[int],
) -> Result:
    """Warm up, then send `count` requests of one row at `concurrency` and time each answer."""

    def prepare(n: int) -> Iterable[Prepared]:
        """Requests made as they are sent (fresh triggers); one body, re-signed, for bare Bolt."""
        if row.app == "bare":
            one = prepare_bare(stage, cast(BareKind, row.kind))
            return [one] * n  # signed afresh at each send; the bare app keeps nothing
        kind = cast(Kind, row.kind)
        return (stage.prepare(kind) for _ in range(n))

    with Senders(server.url, concurrency) as senders:
        watched = [*everyone, senders.pid]
        senders.drive(prepare(WARMUP if row.kind != "valid" else WARMUP // VALID_SHARE))
        quiet(watched, most=SETTLE_SECONDS)
        requests = prepare(count)
        others = Others(watched)
        others.start()
        own, started = cpu_seconds(senders.pid), server.cpu()
        phase = senders.drive(requests)
        answered = server.cpu()
        client_cpu = cpu_seconds(senders.pid) - own
        elsewhere = others.stop()
        settle = quiet(watched, most=SETTLE_SECONDS)
    return Result(
        row,
        concurrency,
        phase.latencies,
        phase.seconds,
        phase.failures,
        phase.unanswered,
        phase.connects,
        answered - started,
        server.cpu() - answered,
        settle,
        client_cpu,
        elsewhere,
    )


def clicks_needed(counts: dict[int, int]) -> int:
    return sum(WARMUP + counts[c] for c in CONCURRENCIES)


# -- the run -------------------------------------------------------------------------------------


def main(
    *,
    quick: bool = False,
    database_url: str | None = None,
    write: bool = True,
    threads: int = HTTP_THREADS,
) -> int:
    """Measure every row at each concurrency, print the table, and write the report's section.

    Returns 1 when an answer was not the expected one, else 0.
    """
    began, load = time.monotonic(), load_average()
    counts = {c: max(n // 10, 10) if quick else n for c, n in REQUESTS.items()}
    workspace = Workspace()
    team = [workspace.add_user(f"member{i}.team").id for i in range(TEAM)]
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="onboard-bench-") as tmp,
        SlackStandIn(workspace) as standin,
        ExitStack() as stack,
    ):
        if database_url:
            database_url = stack.enter_context(scratch_database(database_url))
        databases = {"SQLite": None} | ({"PostgreSQL": database_url} if database_url else {})
        # The same bot once more, as two processes: `serve --ack-only` answers, `onboard
        # scheduler` does the work and the Slack calls (the README's replicas). On PostgreSQL
        # when there is one: two processes writing one SQLite file wait in its busy handler.
        variants = [(label, url, False) for label, url in databases.items()]
        last = list(databases)[-1]
        variants.append((f"{last}, {SPLIT}", databases[last], True))
        bots: dict[str, Server] = {}
        for label, url, worker in variants:
            folder = Path(tmp) / re.sub(r"\W+", "-", label.lower())
            folder.mkdir()
            bots[label] = stack.enter_context(
                onboard_serve(
                    standin.api_url,
                    workspace.bot_token,
                    folder,
                    threads,
                    team,
                    url,
                    label,
                    worker=worker,
                )
            )
        bare = stack.enter_context(
            bare_server(standin.api_url, workspace.bot_token, threads, Path(tmp))
        )
        everyone = [os.getpid(), bare.pid, *(pid for b in bots.values() for pid in b.pids)]
        deliverables = math.ceil(clicks_needed(counts) / APPROVERS) + 1
        stages: dict[str, Stage] = {}
        for label, bot in bots.items():
            stages[label] = set_up(bot.url, workspace, team, deliverables)
            print(f"set up on {label}: {deliverables} deliverables", flush=True)
        quiet(everyone, most=SETTLE_SECONDS)
        print("\n".join(HEADER), flush=True)
        first = next(iter(bots))
        for concurrency in CONCURRENCIES:
            for app, kind in ORDER:
                labels = [first] if app == "bare" else list(bots)
                for label in labels:
                    database = label if app == "bot" else ""
                    row = Row(app, kind, database)
                    count = counts[concurrency] // (VALID_SHARE if kind == "valid" else 1)
                    server = bare if app == "bare" else bots[label]
                    result = measure(row, concurrency, count, server, stages[label], everyone)
                    results.append(result)
                    print_row(results, result)
        logged = [bot.log_problems() for bot in bots.values()]
        problems = [line for lines, _ in logged for line in lines]
        queued = (sum(n for _, n in logged), bare.log_problems()[1])
        # Every valid form sent, and the set-up's client: did those without an ack write theirs?
        clients = (clients_in(Path(tmp) / "sqlite") - 1, stages["SQLite"].valid_sent)
    took = time.monotonic() - began
    section = render(
        results,
        quick=quick,
        databases=list(bots),
        took=took,
        threads=threads,
        counts=counts,
        problems=problems,
        queued=queued,
        load=load,
        clients=clients,
    )
    for line in problems[:5]:
        print(f"    bot log: {line}", file=sys.stderr)
    if write:
        tidy_preamble()
        write_section(SECTION, section, after="# Benchmarks")
        print(f"\nwrote the {SECTION!r} section of {REPORT} ({took:.0f} s)")
    else:
        print(f"\n({took:.0f} s; docs/benchmarks.md left as it was)")
    timeouts = sum(r.timeouts for r in results)
    if timeouts:
        print(f"{timeouts} request(s) got no ack within Bolt's 3 s", file=sys.stderr)
    return 1 if any(r.failures for r in results) else 0
