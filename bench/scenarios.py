"""Slack's side of the benchmarks: the workspace set up over HTTP, requests as Slack sends them
(prepared, and signed as they are sent), the keep-alive clients, and what each answer should be.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import itertools
import json
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from bench.servers import SIGNING_SECRET
from onboard.standin.driver import Answer, SlackDriver
from onboard.standin.workspace import Workspace

T = TypeVar("T")
Kind = Literal["help", "new", "approve", "errors", "valid"]
BareKind = Literal["command", "click", "view"]

# Bolt answers 404 "unhandled request" when a listener has not acked within its 3 s.
ACK_TIMEOUT = "no ack within Bolt's 3 s (404 unhandled request)"
APPROVERS = 16  # client users who may sign off; every deliverable names them all
TEAM = 8  # internal users who type commands and fill in the New client form, in turn


def wait_for(found: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


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
