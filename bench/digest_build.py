"""How long the managers' digest takes to build for 10,000 clients and 1,000,000 audit events.

Owns the "## Weekly digest build" section of docs/benchmarks.md (`python -m bench.digest_build`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import tempfile
import time

from bench.report import REPORT, write_section
from onboard.bot.digest import build
from onboard.bot.playbook_files import available
from onboard.storage.db import Database
from onboard.storage.schema import upgrade

SECTION = "## Weekly digest build"
AS_OF = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
GOAL_SECONDS = 2.0


def seed(db: Database, clients: int, events: int) -> None:
    """Clients spread over a year and every stage, their open tasks, and the audit chain rows.

    Inserted in bulk with raw SQL: the digest reads the rows, it never checks their hashes.
    """
    rng = random.Random(42)
    playbook = available()["managed-services"]
    snapshot = json.dumps(playbook.snapshot())
    keys = [s.key for s in playbook.stages]
    client_rows, task_rows, event_rows = [], [], []
    seq = 0

    def event(at: dt.datetime, action: str, client: int, details: dict[str, object]) -> None:
        nonlocal seq
        seq += 1
        event_rows.append(
            (
                seq,
                at.replace(tzinfo=None),
                "U0ALICE",
                action,
                client,
                json.dumps(details),
                f"{seq - 1:064x}",
                f"{seq:064x}",
            )
        )

    for n in range(1, clients + 1):
        created = AS_OF - dt.timedelta(days=rng.uniform(1, 365))
        position = rng.randrange(len(keys) + 1)  # len(keys) means completed
        done = position == len(keys)
        stage = keys[-1] if done else keys[position]
        completed = created + dt.timedelta(days=rng.uniform(20, 90)) if done else None
        if completed and completed > AS_OF:
            completed = AS_OF - dt.timedelta(hours=1)
        client_rows.append(
            (
                n,
                f"client-{n}",
                f"Client {n}",
                "Gold",
                "Europe/London",
                "GB",
                "2027-01-01",
                "managed-services",
                snapshot,
                stage,
                "completed" if done else "active",
                f"C{n:09d}",
                f"client-{n}",
                "U0ALICE",
                created.replace(tzinfo=None),
                (completed or created).replace(tzinfo=None),
                completed and completed.replace(tzinfo=None),
            )
        )
        event(created, "client.created", n, {"stage": keys[0], "playbook": "managed-services"})
        for k in range(1, min(position, len(keys) - 1) + 1):
            event(
                created + dt.timedelta(days=3 * k),
                "stage.advanced",
                n,
                {"from": keys[k - 1], "to": keys[k]},
            )
        if done:
            event(completed, "journey.completed", n, {"from": keys[-1]})
        else:
            for t in range(5):
                due = (created + dt.timedelta(days=3 * position + t)).date()
                task_rows.append(
                    (
                        n,
                        stage,
                        t + 1,
                        f"Task {t + 1}",
                        "Engineer",
                        due.isoformat(),
                        created.replace(tzinfo=None),
                    )
                )
    while seq < events:  # the rest of the chain: everyday facts the digest skips past
        n = rng.randrange(1, clients + 1)
        event(AS_OF - dt.timedelta(days=rng.uniform(0, 365)), "task.done", n, {"task": 1})
    event_rows.sort(key=lambda row: row[1])
    event_rows = [(i + 1, *row[1:]) for i, row in enumerate(event_rows)]
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        raw.executemany(
            "INSERT INTO clients (id, slug, name, tier, timezone, country, go_live, playbook_key,"
            " playbook, stage_key, status, channel_id, channel_name, account_manager, created_at,"
            " stage_entered_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            client_rows,
        )
        raw.executemany(
            "INSERT INTO tasks (client_id, stage_key, number, title, owner_role, due, created_at,"
            " reminders_sent) VALUES (?,?,?,?,?,?,?,0)",
            task_rows,
        )
        raw.executemany(
            "INSERT INTO audit_events (seq, at, actor, action, client_id, details, prev_hash,"
            " hash) VALUES (?,?,?,?,?,?,?,?)",
            event_rows,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/digest.db")
        upgrade(db)
        started = time.perf_counter()
        seed(db, options.clients, options.events)
        seeded = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            with db.transaction() as session:
                digest = build(session, AS_OF)
            timings.append(time.perf_counter() - started)
        db.dispose()
    best = min(timings)
    print(
        f"{options.clients} clients, {options.events} events: digest built in {best:.2f} s "
        f"(runs {', '.join(f'{t:.2f}' for t in timings)}); "
        f"{len(digest.risks) + digest.risks_more} at risk"
    )
    section = (
        f"{SECTION}\n\n<!-- Written by `python -m bench.digest_build`. -->\n\n"
        f"`python -m bench.digest_build` seeds a SQLite database with {options.clients:,} clients "
        f"of the managed-services playbook spread over a year and every stage, five open tasks "
        f"each, and {options.events:,} audit events (seeding took {seeded:.0f} s), then builds "
        f"the managers' digest as of {AS_OF:%Y-%m-%d %H:%M} UTC three times.\n\n"
        f"| clients | audit events | best | runs | goal |\n| ---: | ---: | ---: | --- | ---: |\n"
        f"| {options.clients:,} | {options.events:,} | {best:.2f} s | "
        f"{', '.join(f'{t:.2f}' for t in timings)} s | {GOAL_SECONDS:.0f} s |\n\n"
        f"Machine: {platform.machine()}, Python {platform.python_version()}. "
        f"{'The goal is met.' if best < GOAL_SECONDS else 'The goal is not met yet: see below.'}\n"
    )
    if not options.no_write:
        write_section(SECTION, section)
        print(f"wrote {SECTION!r} in {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
