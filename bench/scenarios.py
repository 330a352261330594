"""Slack's side of the benchmarks: `onboard serve` and a bare Bolt app as servers, and requests.

Owns the server processes, the workspace set-up over HTTP, the prepared requests and the client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import itertools
import json
import logging
import math
import multiprocessing
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, TypeVar

from onboard.bot.settings import Settings
from onboard.standin.driver import Answer, SlackDriver
from onboard.standin.workspace import Workspace

T = TypeVar("T")
Kind = Literal["help", "new", "approve", "errors", "valid"]
BareKind = Literal["command", "click", "view"]

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
# Bolt answers 404 "unhandled request" when a listener has not acked within its 3 s.
ACK_TIMEOUT = "no ack within Bolt's 3 s (404 unhandled request)"
HTTP_THREADS = 16  # ONBOARD_HTTP_THREADS' default; the bare Bolt app gets as many
AFTER_ACK_THREADS: int = Settings.model_fields["after_ack_threads"].default  # the bot's own
START_SECONDS = 120
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
APPROVERS = 16  # client users who may sign off; every deliverable names them all
TEAM = 8  # internal users who type commands and fill in the New client form, in turn


# -- the servers -------------------------------------------------------------------------------


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
) -> Iterator[Server]:
    """Run `onboard serve` (outbox and scheduler included); SQLite in `folder` unless told.

    With `worker`, serve runs `--no-outbox --no-scheduler` and an `onboard scheduler` process
    beside it makes the Slack calls (polling every 0.1 s, as the README advises).
    It runs in `folder` (so no .env or onboard.db of the checkout is picked up) and logs there.
    """
    port = free_port()
    url = database_url or f"sqlite:///{folder}/onboard.db"
    env = bot_environment(api_url, bot_token, url, threads, team)
    log = folder / f"{name}.log"
    command = [sys.executable, "-m", "onboard", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if worker:
        command += ["--no-outbox", "--no-scheduler"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=out)
    helpers: list[subprocess.Popen[bytes]] = []
    worker_log = folder / f"{name}-worker.log"
    if worker:
        with worker_log.open("wb") as out:
            helpers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "onboard", "scheduler"],
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


def wait_for(found: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A request body as Slack sends it, signed only when it is sent (with a fresh timestamp)."""

    kind: str
    body: bytes
    content_type: str = "application/x-www-form-urlencoded"


class Recorder(SlackDriver):
    """A SlackDriver that keeps the body it would send instead of sending it."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__("http://127.0.0.1:9", SIGNING_SECRET, workspace)
        self.last: tuple[bytes, str] = (b"", "")

    def post(self, body: bytes, content_type: str, **_: Any) -> Answer:
        self.last = (body, content_type)
        return Answer(204, b"")  # not 200: submit_view must leave the modal open


def go_live() -> str:
    return (dt.date.today() + dt.timedelta(days=60)).isoformat()


def client_form(name: str, **changes: Any) -> dict[str, Any]:
    """The New client form filled in as an account manager would (tests' `good_form`)."""
    form = {
        "name": name,
        "tier": "Gold",
        "contact_name": "Carla Client",
        "contact_email": "carla@acme.example",
        "timezone": "Europe/London",
        "country": "GB",
        "go_live": go_live(),
        "playbook": "managed-services",
    }
    return form | changes


# The two most common slips: an address without its domain, and a go-live date in the past.
MISTAKES = {"contact_email": "carla@", "go_live": "2020-01-01"}


@dataclass(frozen=True)
class Button:
    """An Approve button on a posted deliverable message."""

    channel: str
    ts: str
    block_id: str
    value: str
    text: dict[str, Any]


@dataclass
class Stage:
    """The workspace after set-up, and everything needed to prepare requests against it."""

    workspace: Workspace
    team: list[str]  # internal users' IDs
    approvers: list[str]  # client users' IDs
    channel: str  # the client channel the deliverables are posted in
    view_id: str  # a New client modal the bot opened (submissions are shaped by its blocks)
    buttons: list[Button]
    setup_requests: int = 0  # requests the set-up sent
    clicks_taken: int = 0
    valid_sent: int = 0  # valid New client forms prepared (each is sent)
    recorder: Recorder = field(init=False)
    _clicks: Iterator[tuple[str, Button]] = field(init=False)
    _counter: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.workspace)
        # Approver-major: consecutive clicks are one approver's on different deliverables, so
        # concurrent clicks rarely meet on one version; every click is a first decision.
        self._clicks = ((a, b) for a in self.approvers for b in self.buttons)
        self._counter = itertools.count(1)

    def click(self, approver: str, button: Button) -> None:
        """Record `approver` clicking `button`, as click_button would send it."""
        action = {
            "type": "button",
            "action_id": "approve",
            "block_id": button.block_id,
            "text": button.text,
            "value": button.value,
        }
        self.recorder.act(approver, button.channel, button.ts, action)

    def prepare(self, kind: Kind) -> Prepared:
        """One request of `kind`, made now: a fresh trigger, a new client name, the next click."""
        n = next(self._counter)
        user = self.team[n % len(self.team)]
        rec = self.recorder
        if kind == "help":
            rec.command(user, "help")
        elif kind == "new":
            rec.command(user, "new Acme Rockets")
        elif kind == "approve":
            approver, button = next(self._clicks)
            self.clicks_taken += 1
            self.click(approver, button)
        elif kind == "errors":
            form = client_form(f"Bench Client {n:06d}", **MISTAKES)
            rec.submit_view(self.team[0], self.view_id, form)
        else:
            self.valid_sent += 1
            rec.submit_view(self.team[0], self.view_id, client_form(f"Bench Client {n:06d}"))
        body, content_type = rec.last
        if kind == "valid":
            body = _fresh_view(body, n, self.workspace)
        return Prepared(kind, body, content_type)


def _fresh_view(body: bytes, n: int, workspace: Workspace) -> bytes:
    """Each valid form in its own modal: the bot keys a submission by its view, and a second
    submission of one view (a retry after a late ack) creates nothing. The stand-in holds
    that modal too, for the bot's `views.update` once the client is saved."""
    fields = urllib.parse.parse_qs(body.decode())
    payload = json.loads(fields["payload"][0])
    payload["view"]["id"] = workspace.copy_view(payload["view"]["id"], f"VBENCH{n:08d}").id
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def prepare_bare(stage: Stage, kind: BareKind) -> Prepared:
    """The bodies the bot gets, for the bare app: a command, a click, a view submission."""
    if kind == "click":
        # The bare app records nothing, so one click serves for all (signed afresh each time).
        stage.click(stage.approvers[0], stage.buttons[0])
        body, content_type = stage.recorder.last
        return Prepared(kind, body, content_type)
    prepared = stage.prepare("help" if kind == "command" else "valid")
    if kind == "view":
        stage.valid_sent -= 1  # it goes to the bare app, which writes nothing
    return Prepared(kind, prepared.body, prepared.content_type)


def set_up(bot_url: str, workspace: Workspace, team: list[str], deliverables: int) -> Stage:
    """Over HTTP, as users would: a client, its approvers, and `deliverables` posted for them.

    The outbox of `onboard serve` creates the channel and posts the deliverables; this waits.
    """
    driver = SlackDriver(bot_url, SIGNING_SECRET, workspace)
    am = team[0]
    approvers = [
        workspace.add_user(f"approver{i:02d}.client", team_id="T0CLIENT").id
        for i in range(APPROVERS)
    ]
    name = f"Bench Setup {time.time_ns() % 10**9}"  # a database may hold earlier runs' clients
    workspace.close_views(am)
    answer = driver.command(am, f"new {name}")
    assert answer.status == 200, answer.text
    view_id = wait_for(lambda: workspace.open_views_for(am), "the New client modal")[-1].id
    answer = driver.submit_view(am, view_id, client_form(name))
    assert saving(answer.json()), answer.text
    slug = "client-" + name.lower().replace(" ", "-")
    channel = wait_for(lambda: workspace.channel_by_name(slug), "the client channel").id
    workspace.channels[channel].members.extend(approvers)  # Slack Connect: they are in it
    mentions = " ".join(f"<@{user}>" for user in approvers)

    def added() -> Answer | None:
        # The channel is in Slack a moment before the bot has recorded it: ask until it has.
        answer = driver.command(am, f"approvers add {mentions}", channel_id=channel)
        return answer if all(m in answer.text for m in mentions.split()) else None

    wait_for(added, "the approvers to be added")
    for number in range(deliverables):
        workspace.close_views(am)
        answer = driver.command(am, "deliverable", channel_id=channel)
        assert answer.status == 200, answer.text
        modal = wait_for(lambda: workspace.open_views_for(am), "the deliverable modal")[-1].id
        form = {
            "title": f"Design document {number + 1}",
            "link": f"https://docs.example.com/design/{number + 1}",
            "approvers": approvers,
            "rule": "all",
        }
        answer = driver.submit_view(am, modal, form)
        assert answer.json() == {"response_action": "clear"}, answer.text
    workspace.close_views(am)

    def posted() -> list[Button] | None:
        buttons = approve_buttons(workspace, channel)
        return buttons if len(buttons) >= deliverables else None

    buttons = wait_for(posted, "the deliverables to be posted", timeout=300)
    answer = driver.command(am, "new Acme Rockets")
    assert answer.status == 200, answer.text
    new_view = wait_for(lambda: workspace.open_views_for(am), "the New client modal")[-1].id
    setup_requests = 4 + 2 * deliverables  # new, its form, approvers add, new; 2 a deliverable
    return Stage(workspace, team, approvers, channel, new_view, buttons, setup_requests)


def clients_in(folder: Path) -> int:
    """How many clients the bot's SQLite database in `folder` holds."""
    with closing(sqlite3.connect(folder / "onboard.db")) as db:
        return int(db.execute("SELECT count(*) FROM clients").fetchone()[0])


def approve_buttons(workspace: Workspace, channel: str) -> list[Button]:
    found: list[Button] = []
    for message in workspace.messages_in(channel):
        for block in message.blocks:
            for element in block.get("elements", []) + (
                [block["accessory"]] if "accessory" in block else []
            ):
                if element.get("action_id") == "approve":
                    found.append(
                        Button(
                            channel,
                            message.ts,
                            block.get("block_id", ""),
                            element.get("value", ""),
                            element.get("text") or {},
                        )
                    )
    return found


# -- the client --------------------------------------------------------------------------------


def signature(body: bytes, timestamp: int) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


class KeepAlive:
    """One persistent connection, as a client thread's: sends prepared requests, times answers."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        self.connects = 0

    def open(self) -> None:
        """Connect now, if not connected, so that no timed request pays for the handshake."""
        if self.connection.sock is None:
            self.connection.connect()
            self.connects += 1

    def send(self, prepared: Prepared) -> tuple[Answer, float]:
        """The answer and the seconds from sending the request to reading the whole answer."""
        timestamp = int(time.time())
        headers = {
            "Content-Type": prepared.content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature(prepared.body, timestamp),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if self.connection.sock is None:
            self.connects += 1
        started = time.perf_counter()
        self.connection.request("POST", "/slack/events", body=prepared.body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        return Answer(response.status, data, dict(response.getheaders())), seconds

    def close(self) -> None:
        self.connection.close()


def saving(body: dict[str, Any]) -> bool:
    """A valid New client form's ack: the modal says "Saving…" (the client is written next)."""
    view = body.get("view") or {}
    return body.get("response_action") == "update" and view.get("callback_id") == (
        "new_client_saving"
    )


def problem(prepared: Prepared, answer: Answer) -> str | None:
    """Why an answer is not the one its kind of request expects, or None."""
    if answer.status == 404 and b"unhandled request" in answer.body:
        return f"{prepared.kind}: {ACK_TIMEOUT}"
    if answer.status != 200:
        return f"{prepared.kind}: HTTP {answer.status}: {answer.text[:200]}"
    body = answer.json() if answer.body.startswith(b"{") else {}
    expected: dict[str, Callable[[], bool]] = {
        "help": lambda: "blocks" in body,
        "errors": lambda: (
            body.get("response_action") == "errors" and set(body.get("errors", {})) == set(MISTAKES)
        ),
        "valid": lambda: saving(body),
    }
    check = expected.get(prepared.kind, lambda: not answer.body)  # the others ack empty
    return None if check() else f"{prepared.kind}: unexpected answer {answer.text[:200]}"


@dataclass(frozen=True)
class Phase:
    latencies: list[float]  # seconds, one per answered request
    seconds: float  # wall time from the start line to the last answer
    failures: list[str]  # wrong answers, and requests that got none
    unanswered: int  # requests that got no answer at all (connection errors)
    connects: int


def drive(
    clients: list[KeepAlive],
    requests: Iterable[Prepared],
    on_answer: Callable[[int], None] | None = None,
) -> Phase:
    """Send `requests` from one thread per client, each sending its next when answered.

    A generator is drawn from under a lock just before each send, so that what it prepares
    (a trigger_id lives 3 s, as Slack's) is fresh; the timing starts after it, at the send.

    `on_answer(n)` is called (under a lock) after the n-th answer, for sampling during a run.
    """
    lock = threading.Lock()
    queue = iter(requests)
    answered = 0
    latencies: list[list[float]] = [[] for _ in clients]
    failures: list[str] = []
    unanswered = 0
    start_line = threading.Barrier(len(clients) + 1)
    for client in clients:
        client.open()
    connects_before = sum(c.connects for c in clients)

    def work(client: KeepAlive, out: list[float]) -> None:
        nonlocal answered, unanswered
        start_line.wait()
        while True:
            with lock:
                prepared = next(queue, None)
            if prepared is None:
                return
            try:
                answer, seconds = client.send(prepared)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    failures.append(f"{prepared.kind}: {type(exc).__name__}: {exc}")
                    unanswered += 1
                client.close()
                continue
            out.append(seconds)
            wrong = problem(prepared, answer)
            if wrong:
                failures.append(wrong)
            if on_answer is not None:
                with lock:
                    answered += 1
                    on_answer(answered)

    threads = [
        threading.Thread(target=work, args=(client, out), name=f"client-{i}", daemon=True)
        for i, (client, out) in enumerate(zip(clients, latencies, strict=True))
    ]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    merged = [latency for out in latencies for latency in out]
    connects = sum(c.connects for c in clients) - connects_before
    return Phase(merged, seconds, failures, unanswered, connects)


# -- the report --------------------------------------------------------------------------------


def write_section(
    title: str, section: str, *, after: str | None = None, report: Path = REPORT
) -> None:
    """Replace the report's section headed `title`, else put it after the section `after` (a
    heading, "# Benchmarks" for the top) or at the end; the other sections stay as they are."""
    current = report.read_text() if report.exists() else "# Benchmarks\n"
    section = section.rstrip("\n") + "\n\n"

    def span(heading: str) -> re.Match[str] | None:
        pattern = rf"^{re.escape(heading)}\n.*?(?=^## |\Z)"
        return re.compile(pattern, re.MULTILINE | re.DOTALL).search(current)

    found = span(title)
    anchor = span(after) if after else None
    if found:
        updated = current[: found.start()] + section + current[found.end() :]
    elif anchor:
        head = current[: anchor.end()].rstrip("\n") + "\n\n"
        updated = head + section + current[anchor.end() :]
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(updated.rstrip("\n") + "\n")


def machine() -> dict[str, str]:
    """What the figures were measured on, for the report."""
    import importlib.metadata
    import platform

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    model = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = "?"
    with suppress(OSError, subprocess.SubprocessError):
        here = Path(__file__).resolve().parent.parent
        git = ["git", "-C", str(here)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "onboard"], capture_output=True
        )
        commit = head.stdout.decode().strip() + (
            " with uncommitted changes to onboard/" if dirty.stdout.strip() else ""
        )
    return {
        "commit": commit,
        "cores": str(cores),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{p} {version(p)}" for p in ("slack_bolt", "slack_sdk", "waitress", "SQLAlchemy")
        ),
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    }
