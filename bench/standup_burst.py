"""Stand-up prompts of 2,000 clients in hypercare, all due the same minute, through Slack's limits.

Owns the run and the "## Stand-up burst" section of docs/benchmarks.md (others are left as they
are). Run it as `python -m bench.standup_burst` from the repository root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import logging
import math
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.report import REPORT, write_section
from bench.servers import database_for_run, database_option
from onboard.bot.app import Onboard, build
from onboard.bot.playbook_files import available
from onboard.bot.settings import Settings
from onboard.schedules.jobs import JOBS
from onboard.standin.answers import Args, Reply
from onboard.standin.records import Call
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace
from onboard.storage.models import Client, OutboxMessage, StandupPrompt

CLIENTS = 2_000
SECTION = "## Stand-up burst"
# Monday 11 January 2027: no public holiday in England that week; London is on GMT (= UTC).
LIVE = dt.datetime(2027, 1, 11, 8, 0, tzinfo=dt.UTC)
MONDAY_PROMPTS = dt.datetime(2027, 1, 11, 9, 30, tzinfo=dt.UTC)
FRIDAY_PROMPTS = dt.datetime(2027, 1, 15, 9, 30, tzinfo=dt.UTC)
PER_CHANNEL_SECONDS = 1.0  # chat.postMessage: about one message per second per channel
TIER_3_PER_MINUTE = 50  # chat.update, conversations.history, conversations.open: "50+ per minute"
ASSUMED_WORKSPACE_PER_MINUTE = 3_000  # Slack says a workspace-wide limit exists, not its size
TIMEOUT_SECONDS = 900


# -- Slack's limits, as the stand-in enforces them ---------------------------------------------


@dataclass
class Bucket:
    """A token bucket: `rate` calls a second, bursts of up to `size`."""

    rate: float
    size: float
    tokens: float = 0.0
    at: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.size

    def take(self, now: float) -> float | None:
        """None when a call may go now (and it is counted), else the seconds to wait."""
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


@dataclass
class Limits:
    """Slack's published limits for what a burst of prompts calls, and an assumed workspace cap.

    chat.postMessage: one a second per channel (the docs tolerate short bursts; this allows
    none), plus, when `workspace_per_minute` is set, a workspace-wide token bucket. Tier 3
    methods: 50 a minute each, in bursts of up to 50.
    """

    workspace_per_minute: int = 0
    enabled: bool = False
    last_post: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for method in ("chat.update", "conversations.history", "conversations.open"):
            self.buckets[method] = Bucket(TIER_3_PER_MINUTE / 60, TIER_3_PER_MINUTE)
        if self.workspace_per_minute:
            rate = self.workspace_per_minute / 60
            self.buckets["chat.postMessage"] = Bucket(rate, rate)

    def method_wait(self, method: str, now: float) -> float | None:
        """The stand-in's rate_limiter hook: limits by method, workspace-wide."""
        bucket = self.buckets.get(method)
        return bucket.take(now) if self.enabled and bucket else None

    def channel_wait(self, method: str, args: Args, now: float) -> float | None:
        if not self.enabled or method != "chat.postMessage":
            return None
        channel = str(args.get("channel") or "")
        last = self.last_post.get(channel)
        if last is not None and now - last < PER_CHANNEL_SECONDS:
            return PER_CHANNEL_SECONDS - (now - last)
        return None

    def posted(self, args: Args, now: float) -> None:
        if self.enabled:  # set-up posts (limits off) are hours earlier in the bot's time
            self.last_post[str(args.get("channel") or "")] = now


class LimitedWorkspace(Workspace):
    """The stand-in's workspace with the per-channel rule added: the `rate_limiter` hook sees
    the method only, and one message a second is a limit per channel."""

    limits: Limits

    def handle(self, method: str, args: Args, token: str | None) -> Reply:
        with self.lock:
            wait = self.limits.channel_wait(method, args, self.clock())
            if wait is not None:
                call = Call(method, dict(args), self.clock(), faulted=True, error="ratelimited")
                self.calls.append(call)
                retry = str(max(1, math.ceil(wait)))
                return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry})
        reply = super().handle(method, args, token)
        if method == "chat.postMessage" and reply.body and reply.body.get("ok"):
            with self.lock:
                self.limits.posted(args, self.clock())
        return reply


# -- the run ------------------------------------------------------------------------------------


class RunningClock:
    """The bot's clock: a chosen moment that then runs on in real time (Retry-After is real)."""

    def __init__(self, start: dt.datetime) -> None:
        self.jump(start)

    def jump(self, moment: dt.datetime) -> None:
        self.base, self.mark = moment, time.monotonic()

    def __call__(self) -> dt.datetime:
        return self.base + dt.timedelta(seconds=time.monotonic() - self.mark)


@dataclass
class Burst:
    """What one burst measured."""

    name: str
    limits: str
    posts: int  # prompts expected
    per_channel: int
    sweep: float  # seconds the sweep took to queue them
    elapsed: float  # from the sweep's start to the last prompt posted
    minimum: float  # the least the limits allow
    duplicates: int
    lost: int
    refused: Counter[str]  # 429s by method
    max_attempts: int
    failed: int


def seed(bot: Onboard, workspace: Workspace, count: int) -> list[int]:
    """`count` clients live since Monday 08:00 in London, each in its own private channel."""
    snapshot = available()["managed-services"].snapshot()
    am = workspace.add_user("alice.am").id
    channels = [
        workspace.add_channel(f"client-{n:05d}", is_private=True, members=[workspace.bot_user_id])
        for n in range(count)
    ]
    rows = [
        {
            "slug": f"client-{n:05d}",
            "name": f"Client {n:05d}",
            "tier": ("Platinum", "Gold", "Silver")[n % 3],
            "timezone": "Europe/London",
            "country": "GB",
            "go_live": LIVE.date(),
            "playbook_key": "managed-services",
            "playbook": snapshot,
            "stage_key": "hypercare",
            "status": "active",
            "channel_id": channel.id,
            "channel_name": channel.name,
            "stage_entered_at": LIVE,
            "account_manager": am,
            "created_at": LIVE,
        }
        for n, channel in enumerate(channels)
    ]
    with bot.db.transaction() as session:
        session.execute(insert(Client), rows)
        return list(session.scalars(select(Client.id).order_by(Client.id)))


def settle(bot: Onboard, deadline: float) -> None:
    """Wait until the outbox holds nothing pending."""
    while time.monotonic() < deadline:
        with bot.db.transaction() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
        if not pending:
            return
        time.sleep(0.05)
    raise TimeoutError("the outbox did not empty in time")


def burst(
    bot: Onboard,
    workspace: LimitedWorkspace,
    clock: RunningClock,
    moment: dt.datetime,
    name: str,
    limits: str,
    clients: list[int],
    kinds: tuple[str, ...],
) -> Burst:
    """Run the scheduler's sweep at `moment` and wait for the prompts it queues to land."""
    clock.jump(moment)
    workspace.limits.enabled = True
    began = time.time()
    queued = JOBS["standups"].run(bot, clock())
    swept = time.time() - began
    bot.delivery.wake()
    settle(bot, time.monotonic() + TIMEOUT_SECONDS)
    workspace.limits.enabled = False
    day = moment.date().isoformat()
    wanted = {f"{prefix}:{c}:{day}" for c in clients for prefix in kinds}
    seen: Counter[str] = Counter()
    last = began
    for call in workspace.calls_to("chat.postMessage"):
        if call.faulted or call.error or call.time < began:
            continue
        key = ((call.args.get("metadata") or {}).get("event_payload") or {}).get("key")
        if key in wanted:
            seen[key] += 1
            last = max(last, call.time)
    refused = Counter(c.method for c in workspace.calls if c.time >= began and c.faulted)
    with bot.db.transaction() as session:
        attempts = session.scalar(
            select(func.max(OutboxMessage.attempts)).where(OutboxMessage.key.in_(wanted))
        )
        failed = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
        )
    assert queued >= len(wanted), (queued, len(wanted))
    per_channel = len(kinds)
    rate = workspace.limits.workspace_per_minute / 60
    by_workspace = (len(wanted) - rate) / rate if rate else 0.0
    by_channel = (per_channel - 1) * PER_CHANNEL_SECONDS
    return Burst(
        name=name,
        limits=limits,
        posts=len(wanted),
        per_channel=per_channel,
        sweep=swept,
        elapsed=last - began,
        minimum=max(by_workspace, by_channel, 0.0),
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        lost=len(wanted - set(seen)),
        refused=refused,
        max_attempts=attempts or 0,
        failed=failed or 0,
    )


def week_so_far(bot: Onboard, clients: list[int]) -> None:
    """Monday's prompts closed and Tuesday to Thursday's held, as a week of stand-ups leaves them
    (written directly: the summaries' chat.update calls are not what this measures)."""
    with bot.db.transaction() as session:
        session.execute(
            StandupPrompt.__table__.update().values(status="closed", closed_at=MONDAY_PROMPTS)
        )
        rows = [
            {
                "client_id": c,
                "day": MONDAY_PROMPTS.date() + dt.timedelta(days=d),
                "kind": "daily",
                "status": "closed",
                "due_at": MONDAY_PROMPTS + dt.timedelta(days=d),
                "expected": [],
                "created_at": MONDAY_PROMPTS + dt.timedelta(days=d),
            }
            for c in clients
            for d in (1, 2, 3)
        ]
        session.execute(insert(StandupPrompt), rows)


@contextmanager
def running_bot(database_url: str, limits: Limits) -> Iterator[tuple[Onboard, LimitedWorkspace]]:
    workspace = LimitedWorkspace()
    workspace.limits = limits
    workspace.rate_limiter = limits.method_wait
    with SlackStandIn(workspace) as standin:
        clock = RunningClock(LIVE)
        settings = Settings(
            slack_bot_token=workspace.bot_token,
            slack_signing_secret="bench-signing-secret-0123456789abcdef",
            slack_api_url=standin.api_url,
            database_url=database_url,
            outbox_poll_seconds=0.05,
        )
        bot = build(settings, clock=clock)
        bot.clock = clock
        try:
            yield bot, workspace
        finally:
            bot.stop()


def run(database_url: str, count: int, workspace_per_minute: int, label: str) -> list[Burst]:
    limits = Limits(workspace_per_minute)
    with running_bot(database_url, limits) as (bot, workspace):
        clock = bot.clock
        assert isinstance(clock, RunningClock)
        clients = seed(bot, workspace, count)
        print(f"[{label}] seeded {count:,} clients", flush=True)
        bot.delivery.start()
        JOBS["standups"].run(bot, clock())  # go-live: the announcements, without limits
        settle(bot, time.monotonic() + TIMEOUT_SECONDS)
        print(f"[{label}] announcements delivered", flush=True)
        monday = burst(
            bot,
            workspace,
            clock,
            MONDAY_PROMPTS,
            "Monday 09:30: the first stand-up",
            label,
            clients,
            ("standup",),
        )
        print(f"[{label}] {monday}", flush=True)
        week_so_far(bot, clients)
        friday = burst(
            bot,
            workspace,
            clock,
            FRIDAY_PROMPTS,
            "Friday 09:30: a stand-up and the weekly review",
            label,
            clients,
            ("standup", "weekly-review"),
        )
        print(f"[{label}] {friday}", flush=True)
        return [monday, friday]


# -- the report ---------------------------------------------------------------------------------


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def render(results: list[Burst], count: int, database: str, took: float, cap: int) -> str:
    rows = [
        f"| {b.name} | {b.limits} | {b.posts:,} | {b.sweep:.1f} | {b.elapsed:.1f} | "
        f"{b.minimum:.1f} | {b.posts / b.elapsed:,.0f} | {b.duplicates} | {b.lost} | "
        f"{sum(b.refused.values())} | {b.max_attempts} |"
        for b in results
    ]
    ok = all(b.duplicates == 0 and b.lost == 0 and b.failed == 0 for b in results)
    worst = max(results, key=lambda b: b.elapsed)
    capped = [b for b in results if b.minimum > 1]
    return "\n".join(
        [
            SECTION,
            "",
            "<!-- Written by `python -m bench.standup_burst`; edits to this section are "
            "overwritten. -->",
            "",
            f"{count:,} clients in hypercare, all in London with a 09:30 stand-up, so every "
            "prompt falls due in the same minute. The scheduler's `standups` sweep runs once "
            "at 09:30 and queues them; the bot's outbox worker (one thread, as in one `serve` "
            "process) posts them to the Slack stand-in over HTTP while the stand-in refuses, "
            "with 429 and Retry-After, anything over Slack's limits. "
            + (
                "**Every prompt landed exactly once** (0 duplicates, 0 lost, 0 given up) in "
                "every run."
                if ok
                else "**Some prompts did not land exactly once: see the table.**"
            ),
            "",
            "| burst | limits | prompts | sweep s | elapsed s | minimum s | posts/s | "
            "duplicates | lost | 429s | max attempts |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "- **elapsed** runs from the sweep's start to the last prompt posted; **sweep** is "
            "the part spent deciding what is due and writing prompts, audit events and outbox "
            "rows (one transaction per client). **minimum** is the least the limits allow: the "
            "second post to a channel must wait a second, and with a workspace cap the posts "
            "can go no faster than it (after its first second's burst).",
            "- **Limits.** *published*: `chat.postMessage` one message a second per channel "
            "(Slack tolerates short bursts; the stand-in allows none), and Tier 3 (50 a minute) "
            "for `chat.update`, `conversations.history` and `conversations.open`. Slack also "
            "keeps a workspace-wide limit on `chat.postMessage` without publishing its size; "
            f"*+ cap* assumes {cap:,} a minute ({cap / 60:.0f} a second) on top.",
            "- **Monday** is the first stand-up: one post per channel. **Friday** adds the "
            "weekly review, due at the same 09:30: two posts per channel, so the per-channel "
            "limit matters. The bot posts them without waiting in line: a channel's second "
            "post goes back to the outbox for the rest of its second while other channels' "
            "posts go, and after a 429 the worker holds `chat.postMessage` for the Retry-After "
            "instead of meeting more 429s. A retry after a 429 (or such a wait) skips the "
            "channel-history search that a retry after a lost answer needs, since nothing "
            "was posted.",
            f"- The slowest burst ({worst.name}, limits {worst.limits}) took "
            f"{worst.elapsed:.1f} s for {worst.posts:,} prompts, of which the sweep took "
            f"{worst.sweep:.1f} s ({worst.sweep / len(range(count)) * 1000:.1f} ms a client)."
            + (
                " Under the assumed workspace cap the elapsed time is "
                + ", ".join(f"{b.elapsed / b.minimum:.2f}×" for b in capped)
                + " the minimum."
                if capped
                else ""
            )
            + " Without a cap the bound is the bot itself: every post is a claim, a render "
            "from the database (the live message shows the state when it is sent), an HTTP "
            "call and a commit with its audit event.",
            "",
            f"- Machine: {os.cpu_count()} CPUs, {cpu_model()}; {platform.system()} "
            f"{platform.release()}",
            f"- Python {platform.python_version()}, SQLAlchemy {version('sqlalchemy')}, "
            f"slack_sdk {version('slack_sdk')}; database: {database}",
            f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; the whole run took "
            f"{took:.0f} s",
            "- Reproduce: `.venv/bin/python -m bench.standup_burst` (`--clients N` for a "
            "smaller run, `--workspace-per-minute N` for another cap, `--database-url "
            "postgresql://…` for PostgreSQL, `--no-write` to leave this file as it is)",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.standup_burst",
        description="Post the stand-ups of many clients due the same minute through the Slack "
        "stand-in's rate limits; report elapsed time, duplicates and lost prompts.",
    )
    parser.add_argument("--clients", type=int, default=CLIENTS, help="clients in hypercare")
    parser.add_argument(
        "--workspace-per-minute",
        type=int,
        default=ASSUMED_WORKSPACE_PER_MINUTE,
        help="the assumed workspace-wide chat.postMessage cap of the second run",
    )
    database_option(parser)
    parser.add_argument("--no-write", action="store_true", help="leave docs/ as it is")
    options = parser.parse_args(argv)
    # Each 429 and each paced post logs an "outbox retry" warning: thousands, by design.
    logging.basicConfig(level=logging.ERROR)
    began = time.perf_counter()
    results: list[Burst] = []
    with tempfile.TemporaryDirectory(prefix="onboard-burst-") as folder:
        for label, cap in (("published", 0), ("+ cap", options.workspace_per_minute)):
            name = label.strip("+ ") or "cap"
            with database_for_run(options.database_url, folder, name) as url:
                results += run(url, options.clients, cap, label)
    took = time.perf_counter() - began
    database = "PostgreSQL" if options.database_url else "SQLite (WAL, a temporary file)"
    section = render(results, options.clients, database, took, options.workspace_per_minute)
    print(section)
    if not options.no_write:
        write_section(SECTION, section)
        print(f"wrote the {SECTION!r} section of {REPORT}")
    bad = any(b.duplicates or b.lost or b.failed for b in results)
    return 1 if bad else 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
