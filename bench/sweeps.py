"""The scheduler's sweeps over a portfolio of 2,000 active clients, few of them with anything due.

Each sweep runs every few minutes to an hour over every active client, in the process that
answers Slack (or beside it): what it costs in CPU, wall time and transactions (on SQLite each
one a turn of the write lock the acks need) is taken from the acks. Owns the run and the
"## Sweeps over many clients" section of docs/benchmarks.md. Run it as
`python -m bench.sweeps [--database-url postgresql://…]` from the repository root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event, insert, select

from bench.report import REPORT, machine, write_section
from bench.servers import database_for_run, database_option
from onboard.bot.app import Onboard, build
from onboard.bot.calendar import BusinessCalendar
from onboard.bot.playbook_files import available
from onboard.bot.settings import Settings
from onboard.schedules.jobs import JOBS
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace
from onboard.storage.models import (
    Approver,
    Client,
    Deliverable,
    DeliverableVersion,
    Intake,
    Task,
)

CLIENTS = 2_000
SECTION = "## Sweeps over many clients"
# Tuesday 12 January 2027, 10:00 UTC: working hours in London, evening in Sydney and Tokyo,
# early morning in New York. No public holiday in any of their countries that day.
AT = dt.datetime(2027, 1, 12, 10, 0, tzinfo=dt.UTC)
ZONES = (
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("Australia/Sydney", "AU"),
    ("Asia/Tokyo", "JP"),
)
STAGE = "solution-design"  # past the intake: most clients' intakes are verified
DUE_EVERY = 25  # one client in 25 has a task due today; the others' are due in a fortnight
SIGNOFF_EVERY = 9  # one client in 9 waits for a sign-off (in every zone), posted a week ago
SIGNOFF_WAITING_DAYS = 7
INTAKE_OPEN_EVERY = 21  # one client in 21 has not finished its intake (in every zone)
TASKS_PER_CLIENT = 5
REMINDER_HOUR = 9
SWEEPS = (
    "task-reminders",
    "intake-reminders",
    "surveys",
    "approval-nudges",
    "standups",
    "card-refresh",
)


@dataclass(frozen=True)
class Sweep:
    name: str
    every: int  # seconds between runs
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU
    transactions: int
    queued: int
    again_wall: float  # the same sweep at the same moment once more
    again_transactions: int
    again_queued: int


def seed(bot: Onboard, count: int) -> None:
    """`count` active clients in Solution Design, each in its channel, with its tasks and its
    intake, some with a sign-off waiting, spread over four time zones."""
    snapshot = available()["managed-services"].snapshot()
    started = AT - dt.timedelta(days=30)
    with bot.db.transaction() as session:
        session.execute(
            insert(Client),
            [
                {
                    "slug": f"client-{n:05d}",
                    "name": f"Client {n:05d}",
                    "tier": ("Platinum", "Gold", "Silver")[n % 3],
                    "timezone": ZONES[n % len(ZONES)][0],
                    "country": ZONES[n % len(ZONES)][1],
                    "go_live": (AT + dt.timedelta(days=60)).date(),
                    "playbook_key": "managed-services",
                    "playbook": snapshot,
                    "stage_key": STAGE,
                    "status": "active",
                    "channel_id": f"C{n:08d}",
                    "channel_name": f"client-{n:05d}",
                    "stage_entered_at": started,
                    "account_manager": "U0000000AM",
                    "created_at": started,
                }
                for n in range(count)
            ],
        )
        ids = list(session.scalars(select(Client.id).order_by(Client.id)))
        session.execute(
            insert(Task),
            [
                {
                    "client_id": client_id,
                    "stage_key": STAGE,
                    "number": number,
                    "title": f"Design task {number}",
                    "owner_role": "engineer",
                    "due": AT.date() + dt.timedelta(days=0 if due_today(n, number) else 14),
                    "created_at": started,
                }
                for n, client_id in enumerate(ids)
                for number in range(1, TASKS_PER_CLIENT + 1)
            ],
        )
        session.execute(
            insert(Intake),
            [
                {
                    "client_id": client_id,
                    "stage_key": "technical-discovery",
                    "status": "open" if n % INTAKE_OPEN_EVERY == 0 else "verified",
                    "pages_saved": [],
                    "reopened": [],
                    "active_at": started,
                    "created_at": started,
                }
                for n, client_id in enumerate(ids)
            ],
        )
        waiting = [client_id for n, client_id in enumerate(ids) if n % SIGNOFF_EVERY == 0]
        # Designated, as `/onboard approvers add` does: a version waits only for those.
        session.execute(
            insert(Approver),
            [
                {
                    "client_id": client_id,
                    "user_id": "U000CLIENT",
                    "added_by": "U0000000AM",
                    "added_at": started,
                }
                for client_id in waiting
            ],
        )
        session.execute(
            insert(Deliverable),
            [
                {
                    "client_id": client_id,
                    "title": "Solution design",
                    "rule": "all",
                    "created_by": "U0000000AM",
                    "created_at": started,
                }
                for client_id in waiting
            ],
        )
        session.execute(
            insert(DeliverableVersion),
            [
                {
                    "deliverable_id": deliverable_id,
                    "number": 1,
                    "title": "Solution design",
                    "rule": "all",
                    "approvers": ["U000CLIENT"],
                    "status": "pending",
                    "posted_at": AT - dt.timedelta(days=SIGNOFF_WAITING_DAYS),
                }
                for deliverable_id in session.scalars(
                    select(Deliverable.id).order_by(Deliverable.id)
                )
            ],
        )


def due_today(n: int, number: int) -> bool:
    """The first task of one client in DUE_EVERY."""
    return n % DUE_EVERY == 0 and number == 1


@contextmanager
def counting_transactions(bot: Onboard) -> Iterator[list[None]]:
    """Every commit of the bot's engine while inside, one item each."""
    commits: list[None] = []

    def count(_connection: object) -> None:
        commits.append(None)

    event.listen(bot.db.engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(bot.db.engine, "commit", count)


def sweep(bot: Onboard, name: str) -> Sweep:
    """One sweep at AT, then the same again: a re-run must queue nothing."""
    job = JOBS[name]
    with counting_transactions(bot) as commits:
        wall, cpu = time.perf_counter(), time.process_time()
        queued = job.run(bot, AT)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        first = len(commits)
        again_wall = time.perf_counter()
        again = job.run(bot, AT)
        again_wall = time.perf_counter() - again_wall
    return Sweep(
        name, job.every_seconds, wall, cpu, first, queued, again_wall, len(commits) - first, again
    )


def expected_task_reminders(count: int) -> int:
    """What the task sweep must queue, worked out from each seeded client's own calendar
    rather than the sweep's list: one message in each channel with a task due today, where it
    is a business day past the reminder hour."""
    expected = 0
    for n in range(count):
        calendar = BusinessCalendar(*ZONES[n % len(ZONES)])
        today = calendar.local_date(AT)
        expected += int(
            due_today(n, 1)
            and calendar.is_business_day(today)
            and calendar.at_local_time(today, dt.time(REMINDER_HOUR)) <= AT
        )
    return expected


def run(database_url: str, count: int) -> list[Sweep]:
    workspace = Workspace()
    with SlackStandIn(workspace) as standin:
        settings = Settings(
            slack_bot_token=workspace.bot_token,
            slack_signing_secret="bench-signing-secret-0123456789abcdef",
            slack_api_url=standin.api_url,
            database_url=database_url,
            reminder_hour=REMINDER_HOUR,  # whatever the environment or a .env says
        )
        bot = build(settings, clock=lambda: AT)
        try:
            seed(bot, count)
            results = []
            for name in SWEEPS:
                results.append(sweep(bot, name))
                print(results[-1], flush=True)
            return results
        finally:
            bot.stop()


def render(results: list[Sweep], count: int, database: str, took: float) -> str:
    m = machine()
    due = len(range(0, count, DUE_EVERY))
    expected = expected_task_reminders(count)
    lines = [
        SECTION,
        "",
        "<!-- Written by `python -m bench.sweeps` (bench/sweeps.py); edits to this section are "
        "overwritten. -->",
        "",
        f"{count:,} active clients in Solution Design, each with its channel, "
        f"{TASKS_PER_CLIENT} tasks and an intake, in four time zones. At "
        f"{AT:%A %d %B %Y %H:%M} UTC it is past {REMINDER_HOUR:02d}:00 (the reminder hour) on a "
        f"business day in London, Sydney and Tokyo, not yet in New York. {due} clients (one "
        f"in {DUE_EVERY}) have a task due today, {expected} of them past their reminder hour; "
        f"one in {INTAKE_OPEN_EVERY} has an open intake (left open as the journey moved on: "
        "reminded no more since 0cbfb81, so the intake sweep's list is empty); one in "
        f"{SIGNOFF_EVERY} waits for a "
        f"sign-off posted {SIGNOFF_WAITING_DAYS} days before; none is in hypercare. Each sweep "
        "runs once, then once more at the same moment (a re-run, which must queue nothing). "
        f"Database: {database}.",
        "",
        "| sweep | runs every | wall | CPU | transactions | sends queued | re-run: wall | "
        "re-run: transactions | re-run: sends |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {s.name} | {every(s.every)} | {1000 * s.wall:,.0f} ms | {1000 * s.cpu:,.0f} ms "
            f"| {s.transactions:,} | {s.queued:,} | {1000 * s.again_wall:,.0f} ms "
            f"| {s.again_transactions:,} | {s.again_queued:,} |"
            for s in results
        ),
        "",
        "- A sweep lists the clients it has work for in one query, then opens a transaction "
        "for each (on SQLite each is a turn of the one write lock, which the acks' inbox "
        "writes wait for). Before 6961005 the task, intake and survey sweeps opened one for "
        f"every active client, {count + 1:,} transactions a run whatever was due, and the "
        "approval nudges one for every sign-off waiting.",
        "- The survey and stand-up sweeps keep the clients in their hypercare stage, which "
        "each process reads from a client's playbook once and keeps; the first of them to run "
        "in a process pays for that, a transaction per client (the survey sweep's first run "
        "here). Their re-runs show what they cost from then on.",
        "- The task and intake sweeps' re-runs still visit the clients they reminded: whether "
        "a client was reminded *today* depends on its own calendar, which the list's query "
        "does not know, so the visit decides (and sends nothing).",
        "- The card refresh queues one update of every active client's pinned card a local "
        "day (the first run after each client's midnight): its first run here is that day's, "
        "in batches of 500 clients a transaction; its re-runs read the list and the day's keys "
        "and queue nothing.",
        f"- The task sweep queued {results[0].queued} reminders; worked out from each "
        f"client's calendar, it should queue {expected}"
        + (" (the run fails otherwise)." if results[0].queued == expected else ": **it did not**."),
        "",
        f"- Machine: {m['cores']} CPUs (`nproc`), {m['cpu']}; {m['os']}",
        f"- Python {m['python']}; {m['packages']}; the bot at commit {m['commit']}",
        f"- Date: {m['date']}; the whole run took {took:.0f} s",
        "- Reproduce: `.venv/bin/python -m bench.sweeps [--database-url postgresql://…]`",
        "",
    ]
    return "\n".join(lines)


def every(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweeps",
        description="Time the scheduler's sweeps over many active clients, few with anything "
        "due: wall time, CPU and transactions of each.",
    )
    parser.add_argument("--clients", type=int, default=CLIENTS, help="active clients")
    database_option(parser)
    parser.add_argument("--no-write", action="store_true", help="leave docs/ as it is")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="onboard-sweeps-") as folder,
        database_for_run(options.database_url, folder, "sweeps") as url,
    ):
        results = run(url, options.clients)
    took = time.perf_counter() - began
    database = "PostgreSQL" if options.database_url else "SQLite (WAL, a temporary file)"
    section = render(results, options.clients, database, took)
    print(section)
    if not options.no_write:
        write_section(SECTION, section)
        print(f"wrote the {SECTION!r} section of {REPORT}")
    wrong = results[0].queued != expected_task_reminders(options.clients)
    return 1 if wrong or any(s.again_queued for s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
