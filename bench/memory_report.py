"""The memory run's section of docs/benchmarks.md, in words: the table, the size against the
goal, where it comes from, and how it grew and where the growth went.
"""

from __future__ import annotations

import os
from itertools import pairwise

from bench.memory_rows import (
    CONCURRENCY,
    FLAT_KIB,
    GOAL_MIB,
    GOAL_REQUESTS,
    MIB,
    MIX,
    ROUNDS,
    SECTION,
    Run,
    Sample,
)
from bench.report import machine
from bench.scenarios import ACK_TIMEOUT, APPROVERS


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
        "`.venv/bin/python -m bench --only memory` (or `-m bench.memory`, `--requests 150000` for "
        "a longer soak) for this one alone",
        "",
    ]
    return "\n".join(lines)
