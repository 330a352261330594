"""How long Slack waits for the HTTP answer to `/onboard`: the bot next to a bare Bolt app.

Owns the load generator, the server process (bot and bare Bolt on waitress) and docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import http.client
import importlib.metadata
import logging
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from onboard.standin.driver import Answer, SlackDriver
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace

if TYPE_CHECKING:
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from waitress.server import BaseWSGIServer, MultiSocketServer

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Kind = Literal["help", "new", "bare"]

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
HTTP_THREADS = 16  # ONBOARD_HTTP_THREADS' default; the bare Bolt app's waitress gets the same
CONCURRENCIES = (1, 16)
REQUESTS = {1: 500, 16: 2000}  # measured requests per scenario, by concurrency
WARMUP = 50  # requests per scenario before measuring, at the same concurrency, not counted
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SERVER_START_SECONDS = 120
SETTLE_SECONDS = 30


# -- the server process --------------------------------------------------------------------------


def bare_bolt(api_url: str, bot_token: str) -> SlackRequestHandler:
    """A WSGI app: Bolt with one `/onboard` listener that only acks, nothing of the bot."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    # The token goes in the client only: Bolt ignores App(token=...) when given a client.
    app = App(
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        client=WebClient(token=bot_token, base_url=api_url),
    )

    @app.command("/onboard")
    def _(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app, path="/slack/events")


def waitress_like_the_bot(wsgi: Wsgi, threads: int) -> MultiSocketServer | BaseWSGIServer:
    """waitress with exactly the options onboard.bot.web.HttpServer uses, on a free port."""
    from waitress.server import create_server

    from onboard.bot.web import MAX_BODY_BYTES

    return create_server(
        wsgi,
        host="127.0.0.1",
        port=0,
        threads=threads,
        max_request_body_size=MAX_BODY_BYTES,
        ident="onboard",
        clear_untrusted_proxy_headers=True,
    )


def serve(conn: Connection, api_url: str, bot_token: str, database_url: str, threads: int) -> None:
    """Run in the spawned process: serve the bot and bare Bolt, send their URLs, await "stop"."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s server %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        from onboard.bot.app import build
        from onboard.bot.settings import Settings
        from onboard.bot.web import HttpServer

        settings = Settings(
            slack_bot_token=bot_token,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=api_url,
            database_url=database_url,
            team=(),
            admins=(),
            managers=(),
            http_threads=threads,
        )
        bot = build(settings)  # bot.start_background() is left out: no outbox worker
        bot_http = HttpServer(bot, "127.0.0.1", 0).start()
        bare = waitress_like_the_bot(bare_bolt(api_url, bot_token), threads)
        bare_thread = threading.Thread(target=bare.run, name="http-bare", daemon=True)
        bare_thread.start()
    except Exception:
        conn.send({"error": traceback.format_exc()})
        return
    host, port = bare.effective_host, bare.effective_port  # type: ignore[union-attr]
    conn.send({"bot": bot_http.url, "bare": f"http://{host}:{port}"})
    with suppress(EOFError):
        conn.recv()
    bot_http.stop()
    bare.close()
    bare_thread.join(5)
    bot.stop()


@dataclass(frozen=True)
class Servers:
    """Where the server process serves the bot and the bare Bolt app, and its process ID."""

    bot: str
    bare: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process `pid` has used so far (Linux), else NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


@contextmanager
def server_process(api_url: str, bot_token: str, database_url: str) -> Iterator[Servers]:
    """Spawn the server process, yield where it serves, and stop it on the way out."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    args = (theirs, api_url, bot_token, database_url, HTTP_THREADS)
    process = context.Process(target=serve, args=args, name="bench-server", daemon=True)
    process.start()
    theirs.close()
    try:
        if not ours.poll(SERVER_START_SECONDS):
            raise RuntimeError("the server process did not start in time")
        try:
            urls: dict[str, str] = ours.recv()
        except EOFError:
            raise RuntimeError("the server process died while starting") from None
        if "error" in urls:
            raise RuntimeError("the server process failed to start:\n" + urls["error"])
        yield Servers(urls["bot"], urls["bare"], process.pid or 0)
    finally:
        with suppress(OSError):
            ours.send("stop")
        process.join(15)
        if process.is_alive():
            process.terminate()
            process.join(5)
        ours.close()


# -- the load generator --------------------------------------------------------------------------


class KeepAliveDriver(SlackDriver):
    """A SlackDriver on one persistent connection that times each answer, signed afresh."""

    def __init__(self, app_url: str, workspace: Workspace) -> None:
        super().__init__(app_url, SIGNING_SECRET, workspace)
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.seconds = 0.0  # how long the last answer took: request sent to body read
        self.connects = 0

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/slack/events",
    ) -> Answer:
        timestamp = int(time.time()) if timestamp is None else timestamp
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": self.signature(body, timestamp)
            if signature is None
            else signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(headers or {}),
        }
        sent = {name: value for name, value in sent.items() if value}  # as SlackDriver.post
        if self.connection.sock is None:
            self.connects += 1
        started = time.perf_counter()
        self.connection.request("POST", path, body=body, headers=sent)
        response = self.connection.getresponse()
        data = response.read()
        self.seconds = time.perf_counter() - started
        return Answer(response.status, data, dict(response.getheaders()))

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Scenario:
    """One kind of row: `help` or `new` to the bot, or `new` to the bare Bolt app."""

    kind: Kind
    url: str
    server_pid: int
    database: str = ""  # named in the row when more than one database is measured

    @property
    def text(self) -> str:
        """What the user types after `/onboard`."""
        return "help" if self.kind == "help" else "new Acme"

    @property
    def opens_modal(self) -> bool:
        """The listener goes on to call views.open after its ack."""
        return self.kind == "new"

    @property
    def name(self) -> str:
        on = f" on {self.database}" if self.database else ""
        if self.kind == "bare":
            return "`/onboard new Acme`, bare Bolt (ack only)"
        return f"`/onboard {self.text}`, bot{on}"

    def problem(self, answer: Answer) -> str | None:
        """Why an answer is not the one this scenario expects, or None."""
        if answer.status != 200:
            return f"HTTP {answer.status}: {answer.text[:200]}"
        if self.kind == "help" and b'"blocks"' not in answer.body:
            return f"no message in the answer: {answer.text[:200]}"
        if self.kind != "help" and answer.body:
            return f"expected an empty ack, got: {answer.text[:200]}"
        return None


@dataclass(frozen=True)
class Phase:
    latencies: list[float]  # seconds, one per answered request
    seconds: float  # wall time from the start line to the last answer
    failures: list[str]
    connects: int


def drive(drivers: list[KeepAliveDriver], user_id: str, scenario: Scenario, total: int) -> Phase:
    """Send `total` commands, one worker thread per driver, each as soon as its last returned."""
    lock = threading.Lock()
    taken = 0

    def take() -> bool:
        nonlocal taken
        with lock:
            if taken >= total:
                return False
            taken += 1
            return True

    latencies: list[list[float]] = [[] for _ in drivers]
    failures: list[str] = []
    start_line = threading.Barrier(len(drivers) + 1)
    connects_before = sum(d.connects for d in drivers)

    def work(driver: KeepAliveDriver, out: list[float]) -> None:
        start_line.wait()
        while take():
            try:
                answer = driver.command(user_id, scenario.text)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                driver.close()
                continue
            out.append(driver.seconds)
            problem = scenario.problem(answer)
            if problem:
                failures.append(problem)

    threads = [
        threading.Thread(target=work, args=(driver, out), name=f"client-{i}", daemon=True)
        for i, (driver, out) in enumerate(zip(drivers, latencies, strict=True))
    ]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    merged = [latency for out in latencies for latency in out]
    connects = sum(d.connects for d in drivers) - connects_before
    return Phase(merged, seconds, failures, connects)


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    concurrency: int
    latencies: list[float]
    seconds: float
    failures: list[str]
    connects: int
    server_cpu: float  # seconds of CPU the server process used for the row's requests
    client_cpu: float  # seconds of CPU this process (clients and stand-in) used meanwhile

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.failures)

    def percentile(self, p: int) -> float:
        """The p-th percentile latency, in milliseconds."""
        if len(self.latencies) < 2:
            return 1000 * (self.latencies[0] if self.latencies else float("nan"))
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    @property
    def mean(self) -> float:
        return 1000 * statistics.fmean(self.latencies) if self.latencies else float("nan")

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    @property
    def server_cpu_per_request(self) -> float:
        """Milliseconds of the server process's CPU per request, views.open after acks included."""
        return 1000 * self.server_cpu / self.requests if self.requests else float("nan")


@dataclass
class ModalCheck:
    """views.open calls the stand-in saw while the bot answered `/onboard new`."""

    expected: int = 0
    seen: int = 0
    refused: int = 0


def settle(workspace: Workspace, modals: ModalCheck) -> None:
    """Wait for every views.open the bot still owes after its acks, so runs do not overlap."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        calls = workspace.calls_to("views.open")
        if len(calls) >= modals.expected:
            break
        time.sleep(0.02)
    time.sleep(0.1)  # the last listeners return from views.open and free their threads
    calls = workspace.calls_to("views.open")
    modals.seen = len(calls)
    modals.refused = sum(1 for call in calls if call.error or call.faulted)


def measure(
    scenario: Scenario,
    concurrency: int,
    count: int,
    workspace: Workspace,
    user_id: str,
    modals: ModalCheck,
) -> Result:
    drivers = [KeepAliveDriver(scenario.url, workspace) for _ in range(concurrency)]
    try:
        for total in (WARMUP, count):
            server_before, client_before = cpu_seconds(scenario.server_pid), time.process_time()
            phase = drive(drivers, user_id, scenario, total)
            client_cpu = time.process_time() - client_before
            if scenario.opens_modal:
                modals.expected += total
            settle(workspace, modals)
            server_cpu = cpu_seconds(scenario.server_pid) - server_before
    finally:
        for driver in drivers:
            driver.close()
    return Result(
        scenario,
        concurrency,
        phase.latencies,
        phase.seconds,
        phase.failures,
        phase.connects,
        server_cpu,
        client_cpu,
    )


# -- the report ----------------------------------------------------------------------------------

HEADER = (
    "| scenario | concurrency | requests | p50 ms | p95 ms | p99 ms | mean ms | req/s "
    "| server CPU ms/req |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
)


def row(result: Result) -> str:
    r = result
    return (
        f"| {r.scenario.name} | {r.concurrency} | {r.requests} | {r.percentile(50):.1f} "
        f"| {r.percentile(95):.1f} | {r.percentile(99):.1f} | {r.mean:.1f} | {r.per_second:.0f} "
        f"| {r.server_cpu_per_request:.2f} |"
    )


def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))  # what `nproc` prints
    return os.cpu_count() or 1


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def find(results: list[Result], concurrency: int, kind: Kind) -> Result:
    """The first row of that kind at that concurrency (the bot on SQLite, for help and new)."""
    return next(r for r in results if r.concurrency == concurrency and r.scenario.kind == kind)


def reading(results: list[Result]) -> list[str]:
    """Sentences that read this run's figures; every number in them comes from the run."""
    lines: list[str] = []
    for concurrency in CONCURRENCIES:
        bare = find(results, concurrency, "bare")
        help_ = find(results, concurrency, "help")
        new = find(results, concurrency, "new")
        on = f" on {help_.scenario.database}" if help_.scenario.database else ""
        lines.append(
            f"- **Concurrency {concurrency}:** bare Bolt acks in {bare.percentile(50):.1f} ms "
            f"at p50 and {bare.percentile(99):.1f} ms at p99 ({bare.per_second:.0f} req/s). "
            f"The bot{on} answers `help` in {help_.percentile(50):.1f} / "
            f"{help_.percentile(99):.1f} ms (p50 / p99: "
            f"{help_.percentile(50) - bare.percentile(50):+.1f} / "
            f"{help_.percentile(99) - bare.percentile(99):+.1f} ms over bare Bolt, "
            f"{help_.per_second:.0f} req/s) and acks `new` in {new.percentile(50):.1f} / "
            f"{new.percentile(99):.1f} ms ({new.percentile(50) - bare.percentile(50):+.1f} / "
            f"{new.percentile(99) - bare.percentile(99):+.1f} ms, {new.per_second:.0f} req/s)."
        )
    busiest = CONCURRENCIES[-1]
    bare = find(results, busiest, "bare")
    help_ = find(results, busiest, "help")
    new = find(results, busiest, "new")
    lines.append(
        f"- **Server CPU** at concurrency {busiest}: {bare.server_cpu_per_request:.2f} ms per "
        f"request for bare Bolt, {help_.server_cpu_per_request:.2f} ms for the bot's `help` and "
        f"{new.server_cpu_per_request:.2f} ms for `new` (its `views.open` included); the server "
        f"process was busy {bare.server_cpu / bare.seconds:.0%}, "
        f"{help_.server_cpu / help_.seconds:.0%} and {new.server_cpu / new.seconds:.0%} of one "
        "CPU. CPython runs Python code on one thread at a time per process, so near 100% a row "
        "is CPU-bound and its latency is mostly queueing. The figure includes the 10 ms polls "
        "of server threads waiting for an ack (below), so it grows when acks wait."
    )
    worst = max(results, key=lambda r: r.percentile(99))
    lines.append(
        f"- The slowest p99 of the run, {worst.percentile(99):.1f} ms "
        f"({worst.scenario.name}, concurrency {worst.concurrency}), is "
        f"{worst.percentile(99) / 3000:.1%} of the 3 seconds Slack allows before it shows "
        "the user an error."
    )
    return lines


def render(
    results: list[Result], modals: ModalCheck, *, quick: bool, databases: list[str], took: float
) -> str:
    failures = sum(len(r.failures) for r in results)
    reconnects = sum(r.connects for r in results)  # measured phases; warm-ups connect first
    client_busy = max(r.client_cpu / r.seconds for r in results)
    database = "a SQLite file in a temporary directory" + (
        ", or PostgreSQL in the rows that say so" if len(databases) > 1 else ""
    )
    lines = [
        "# Benchmarks",
        "",
        "<!-- Written by `python -m bench` (bench/ack_latency.py); edits here are overwritten. -->",
        "",
        "## Ack latency of `/onboard`",
        "",
        "Slack gives a slash command 3 seconds to get its HTTP answer (the *ack*). This measures "
        "that answer, from the request leaving the client to the answer's body read, for:",
        "",
        "- **`/onboard help`** to the real bot: it looks the user up (cached after the first "
        "request), renders the help message and acks with it;",
        "- **`/onboard new Acme`** to the real bot: it acks with an empty body, then renders the "
        "New client modal and opens it with `views.open` on the Slack stand-in, over HTTP. Only "
        "the ack is timed, but the `views.open` that follows shares the server with the next "
        "requests;",
        "- **the same `new Acme` body to a bare Bolt app** whose only listener calls `ack()`: "
        "the floor that Bolt, its request verification and the server stack set.",
        "",
        "The bot and the bare app run in a spawned server process (one per database), each on "
        f"its own waitress (`waitress.server.create_server`, {HTTP_THREADS} threads, the bot's "
        "own options) behind Bolt's WSGI `SlackRequestHandler`. The bot stores to "
        f"{database}; its outbox worker is not started, so only the ack path runs. The load "
        "generator and the Slack stand-in run in a separate "
        "process: every request is a real form-encoded slash command with a fresh trigger, "
        "signed afresh (HMAC v0, current timestamp), sent on one keep-alive connection per "
        "client thread, each thread sending its next request as soon as the last is answered. "
        f"Each row follows a {WARMUP}-request warm-up at the same concurrency.",
        "",
        f"- Machine: {cores()} CPUs (`nproc`), {cpu_model()}; {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}, slack_bolt {version('slack_bolt')}, "
        f"slack_sdk {version('slack_sdk')}, waitress {version('waitress')}",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; the whole run took {took:.0f} s"
        + (" (`--quick`: a tenth of the requests)" if quick else ""),
        "- Reproduce: `./dev bench` (or `.venv/bin/python -m bench`; `--quick` for a smoke run, "
        "`--database-url postgresql://…` to add PostgreSQL)",
        "",
        *HEADER,
        *(row(result) for result in results),
        "",
        "Latencies are in milliseconds; req/s is requests divided by the wall time of the row; "
        "server CPU is the server process's user and system time over the row (the `views.open` "
        "calls `new` makes after its acks included) divided by its requests.",
        "",
        "### Reading the figures",
        "",
        *reading(results),
        "- Bolt (1.x, threaded, `process_before_response` off) runs each listener on a worker "
        "pool while the server thread checks for the ack every 10 ms (`time.sleep(0.01)` in "
        "`ThreadListenerRunner`). An ack that is not there at the first look costs a whole "
        "10 ms step however fast the listener is: that step is the floor of every row, bare "
        "Bolt's too, and at concurrency 1 it hides the bot's own work, which shows only where "
        "it pushes an ack past a step.",
        "- Neither app passes Bolt a `listener_executor`, so listeners run on Bolt's default "
        f"pool of 5 threads whatever the {HTTP_THREADS} waitress threads. At concurrency 16 "
        "requests queue for that pool; a `new` listener keeps its pool thread through the "
        "`views.open` call it makes after acking, so `new` acks wait on other users' "
        "`views.open` round trips.",
        "- Client, stand-in and servers share this machine's cores over loopback, and the "
        "figures include that contention. A user in Slack sees Slack's network and servers on "
        "top; and real Slack answers `views.open` more slowly than the local stand-in, which "
        "keeps a `new` listener on Bolt's pool longer, so against real Slack the `new` rows at "
        "concurrency 16 would be expected to be worse, not better.",
        "",
        f"Checks on this run: {failures} failed or unexpected answers; "
        f"{modals.seen} `views.open` calls for {modals.expected} `new` commands "
        f"(warm-ups included), {modals.refused} refused; "
        f"{reconnects} connections re-opened after the warm-ups; the client process (clients "
        f"and stand-in) used at most {client_busy:.0%} of one CPU in any row.",
        "",
    ]
    return "\n".join(lines)


# -- the run -------------------------------------------------------------------------------------


def main(*, quick: bool = False, database_url: str | None = None, write: bool = True) -> int:
    """Measure every scenario at each concurrency, print the table, and write the report.

    Slack's side (the stand-in Web API, and the clients signing every request afresh) runs in
    this process; the bot and the bare Bolt app run in a spawned server process (one per
    database), so clients and servers do not share one interpreter lock. Only the ack path is
    measured: the bot's outbox worker is not started; `new` opens its modal on the stand-in.
    Returns 1 when an answer was not the expected one or a modal failed to open, else 0.
    """
    began = time.monotonic()
    counts = {c: n // 10 if quick else n for c, n in REQUESTS.items()}
    workspace = Workspace()
    user = workspace.add_user("alice.am")  # a full member of the home team: internal
    modals = ModalCheck()
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="onboard-bench-") as tmp,
        SlackStandIn(workspace) as standin,
        ExitStack() as stack,
    ):
        databases = {"SQLite": f"sqlite:///{tmp}/onboard.db"}
        if database_url:
            databases["PostgreSQL"] = database_url
        servers = {
            label: stack.enter_context(server_process(standin.api_url, workspace.bot_token, url))
            for label, url in databases.items()
        }
        scenarios: list[Scenario] = []
        for label, urls in servers.items():
            database = label if database_url else ""
            bot_kinds: tuple[Kind, ...] = ("help", "new")
            scenarios += [Scenario(kind, urls.bot, urls.pid, database) for kind in bot_kinds]
        scenarios.append(Scenario("bare", servers["SQLite"].bare, servers["SQLite"].pid))
        print("\n".join(HEADER), flush=True)
        for concurrency in CONCURRENCIES:
            for scenario in scenarios:
                result = measure(
                    scenario, concurrency, counts[concurrency], workspace, user.id, modals
                )
                results.append(result)
                print(row(result), flush=True)
                for failure in result.failures[:3]:
                    print(f"    failed: {failure}", file=sys.stderr)
    took = time.monotonic() - began
    report = render(results, modals, quick=quick, databases=list(databases), took=took)
    if write:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(report)
        print(f"\nwrote {REPORT} ({took:.0f} s)")
    else:
        print(f"\n({took:.0f} s; docs/benchmarks.md left as it was)")
    failed = sum(len(r.failures) for r in results) + modals.refused
    return 1 if failed else 0
