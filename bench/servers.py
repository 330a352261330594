"""The servers the benchmarks measure: `onboard serve` (alone, or beside a scheduler that makes
its Slack calls), a bare Bolt app, and readings of their processes (CPU, memory, quiet).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import math
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from onboard.bot.settings import Settings
from onboard.standin.driver import Answer

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
HTTP_THREADS = 16  # ONBOARD_HTTP_THREADS' default; the bare Bolt app gets as many
WORKER_NICE = 10  # the `onboard scheduler` beside `serve --ack-only`
AFTER_ACK_THREADS: int = Settings.model_fields["after_ack_threads"].default  # the bot's own
START_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process `pid` has used so far (Linux), else NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def machine_busy() -> float:
    """CPU seconds every process on the machine has used (all cores, idle and iowait not
    counted), from /proc/stat; NaN when unknown."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    except (OSError, ValueError, IndexError):
        return math.nan
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Others:
    """CPU used by processes other than `ours` between start() and stop(), e.g. other people's
    tests on a shared machine: the figures are only as good as the machine was quiet."""

    def __init__(self, ours: list[int]) -> None:
        self.ours = ours
        self.seconds = 0.0  # wall
        self.cpu = 0.0  # CPU seconds of the others
        self._start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float]:
        mine = sum(cpu_seconds(pid) for pid in self.ours)
        return time.monotonic(), machine_busy(), mine

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> float:
        """The others' average share of one CPU over the span (0.5: half a core)."""
        wall, busy, mine = self._now()
        self.seconds = wall - self._start[0]
        self.cpu = max(0.0, (busy - self._start[1]) - (mine - self._start[2]))
        return self.cpu / self.seconds if self.seconds else math.nan


def load_average() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A size from /proc/<pid>/status in KiB: VmRSS (resident now) or VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field_name} not in /proc/{pid}/status")


def get(url: str, path: str, timeout: float = 5) -> Answer:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return Answer(response.status, response.read(), dict(response.getheaders()))
    finally:
        connection.close()


@dataclass
class Server:
    """Where a server process listens, its process ID, and (for the bot) its log file."""

    name: str
    url: str
    pid: int
    log: Path | None = None
    helpers: tuple[int, ...] = ()  # processes serving it that take no requests (a worker)
    helper_logs: tuple[Path, ...] = ()

    @property
    def pids(self) -> list[int]:
        return [self.pid, *self.helpers]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def log_problems(self) -> tuple[list[str], int]:
        """WARNING, ERROR and CRITICAL lines the process logged so far, and how many of them
        are waitress saying that every HTTP thread was busy (a request waited in its queue)."""
        logs = [log for log in (self.log, *self.helper_logs) if log is not None and log.exists()]
        pattern = re.compile(r" (WARNING|ERROR|CRITICAL) ")
        lines = [
            line for log in logs for line in log.read_text().splitlines() if pattern.search(line)
        ]
        queued = [line for line in lines if "waitress.queue" in line]
        # Bolt notes that SLACK_BOT_TOKEN is set as well as its client: nothing to report.
        other = [x for x in lines if x not in queued and "`token` will be unused" not in x]
        return other, len(queued)


def bot_environment(
    api_url: str, bot_token: str, database_url: str, threads: int, team: list[str]
) -> dict[str, str]:
    """The environment of `onboard serve`: this one without any onboard setting, then ours."""
    ours = ("SLACK_", "ONBOARD_", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ours)}
    return env | {
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "ONBOARD_TEAM": ",".join(team),
        "ONBOARD_HTTP_THREADS": str(threads),
        "ONBOARD_LOG_LEVEL": "INFO",  # the default: what an operator runs
    }


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `url`, dropped afterwards: a run
    never starts behind an earlier run's outbox rows or clients."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"onboard_bench_{os.getpid()}_{time.time_ns() % 10**6}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@contextmanager
def database_for_run(url: str | None, folder: str | Path, name: str) -> Iterator[str]:
    """A database of its own for one run: a scratch one on the PostgreSQL server of `url`
    (dropped after; never the database `url` names, whatever it holds), or a new SQLite file
    `name`.db in `folder`."""
    if url:
        with scratch_database(url) as scratch:
            yield scratch
    else:
        yield f"sqlite:///{folder}/{name}.db"


def database_option(parser: argparse.ArgumentParser) -> None:
    """`--database-url`, for a benchmark that runs on SQLite or, given it, on PostgreSQL."""
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="run on PostgreSQL: a scratch database made on this URL's server, dropped after",
    )


@contextmanager
def onboard_serve(
    api_url: str,
    bot_token: str,
    folder: Path,
    threads: int,
    team: list[str],
    database_url: str | None = None,
    name: str = "bot",
    *,
    worker: bool = False,
    alone: bool = False,
) -> Iterator[Server]:
    """Run `onboard serve` (outbox and scheduler included); SQLite in `folder` unless told.

    With `worker`, serve runs `--ack-only --no-scheduler` and an `onboard scheduler` process
    beside it, at `nice` WORKER_NICE, does the requests' work and makes the Slack calls (the
    outbox polled every 0.1 s, as the README advises).
    With `alone`, serve runs `--ack-only --no-scheduler` with nothing beside it: its acks write
    the inbox, and nothing does the work (bench/ack_floor.py).
    It runs in `folder` (so no .env or onboard.db of the checkout is picked up) and logs there.
    """
    port = free_port()
    url = database_url or f"sqlite:///{folder}/onboard.db"
    env = bot_environment(api_url, bot_token, url, threads, team)
    log = folder / f"{name}.log"
    command = [sys.executable, "-m", "onboard", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if worker or alone:
        command += ["--ack-only", "--no-scheduler"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=out)
    helpers: list[subprocess.Popen[bytes]] = []
    worker_log = folder / f"{name}-worker.log"
    if worker:
        with worker_log.open("wb") as out:
            helpers.append(
                subprocess.Popen(
                    # At a lower CPU priority, as the README advises when the processes that
                    # do the work share cores with those that answer Slack.
                    ["nice", "-n", str(WORKER_NICE), sys.executable, "-m", "onboard", "scheduler"],
                    env=env | {"ONBOARD_OUTBOX_POLL_SECONDS": "0.1"},
                    cwd=folder,
                    stdout=out,
                    stderr=out,
                )
            )
    server = Server(
        name,
        f"http://127.0.0.1:{port}",
        process.pid,
        log,
        tuple(p.pid for p in helpers),
        (worker_log,) if worker else (),
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"onboard serve exited at start:\n{log.read_text()[-3000:]}")
            with suppress(OSError, http.client.HTTPException):
                if get(server.url, "/healthz", timeout=1).status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("onboard serve did not answer /healthz in time")
            time.sleep(0.05)
        yield server
    finally:
        for helper in helpers:
            helper.terminate()
            with suppress(subprocess.TimeoutExpired):
                helper.wait(15)
        process.terminate()  # SIGTERM: serve stops like on Ctrl-C
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def bare_bolt(api_url: str, bot_token: str, threads: int) -> Callable[..., Any]:
    """A WSGI app: Bolt with one listener per kind of request that only calls `ack()`."""
    from concurrent.futures import ThreadPoolExecutor

    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    app = App(
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        # Bolt calls auth.test once, at the first request: the stand-in answers it.
        client=WebClient(token=bot_token, base_url=api_url),
        # As in the bot: listeners run on the HTTP thread and the answer goes when they return.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(threads, "listener"),
    )

    @app.command("/onboard")
    def command(ack: Ack) -> None:
        ack()

    @app.action("approve")
    def click(ack: Ack) -> None:
        ack()

    @app.view("new_client")
    def view(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app, path="/slack/events")


def serve_bare(conn: Connection, api_url: str, bot_token: str, threads: int, log: Path) -> None:
    """Run in the spawned process: bare Bolt on waitress with the bot's options, until "stop"."""
    logging.basicConfig(
        filename=log, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        from waitress.server import create_server

        from onboard.bot.web import MAX_BODY_BYTES

        server = create_server(
            bare_bolt(api_url, bot_token, threads),
            host="127.0.0.1",
            port=0,
            threads=threads,
            max_request_body_size=MAX_BODY_BYTES,
            ident="onboard",
            clear_untrusted_proxy_headers=True,
        )
        thread = threading.Thread(target=server.run, name="http", daemon=True)
        thread.start()
    except Exception:
        conn.send({"error": traceback.format_exc()})
        return
    conn.send({"url": f"http://{server.effective_host}:{server.effective_port}"})  # type: ignore[union-attr]
    with suppress(EOFError):
        conn.recv()
    server.close()
    thread.join(5)


@contextmanager
def bare_server(api_url: str, bot_token: str, threads: int, folder: Path) -> Iterator[Server]:
    """Spawn the bare Bolt process, yield where it serves, and stop it on the way out."""
    log = folder / "bare.log"
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    args = (theirs, api_url, bot_token, threads, log)
    process = context.Process(target=serve_bare, args=args, name="bare", daemon=True)
    process.start()
    theirs.close()
    try:
        if not ours.poll(START_SECONDS):
            raise RuntimeError("the bare Bolt process did not start in time")
        started: dict[str, str] = ours.recv()
        if "error" in started:
            raise RuntimeError("the bare Bolt process failed to start:\n" + started["error"])
        yield Server("bare", started["url"], process.pid or 0, log)
    finally:
        with suppress(OSError):
            ours.send("stop")
        process.join(15)
        if process.is_alive():
            process.terminate()
            process.join(5)
        ours.close()


QUIET_WINDOW = 0.25  # seconds


def quiet(pids: list[int], *, most: float = 60, share: float = 0.05) -> float:
    """Wait until every process uses under `share` of a CPU over a window of 0.25 s.

    Returns how long they were still busy: the seconds until that quiet window began.
    """
    began = time.monotonic()
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() - began < most:
        time.sleep(QUIET_WINDOW)
        after = [cpu_seconds(pid) for pid in pids]
        if all(a - b < share * QUIET_WINDOW for a, b in zip(after, before, strict=True)):
            return max(0.0, time.monotonic() - began - QUIET_WINDOW)
        before = after
    return time.monotonic() - began
