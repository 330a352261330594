"""Slack's side of the benchmarks: the workspace set up over HTTP, requests as Slack sends them
(prepared here; bench/senders.py signs and sends them), and what each answer should be.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
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
