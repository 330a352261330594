"""Several `onboard serve` replicas and schedulers on one PostgreSQL: nothing lost, nothing twice.

Runs only against PostgreSQL (ONBOARD_TEST_DATABASE_URL), as production does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from onboard.standin.driver import SlackDriver
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import Workspace
from onboard.storage.models import AckedRequest, Client, OutboxMessage
from tests.conftest import SIGNING_SECRET, People
from tests.handlers.test_new_client import good_form, saving

pytestmark = pytest.mark.skipif(
    not os.environ.get("ONBOARD_TEST_DATABASE_URL"), reason="replicas share a PostgreSQL server"
)


def saved(workspace: Workspace, view_id: str) -> bool:
    """The modal says the client is saved (it is written just after the form's ack)."""
    view = workspace.view(view_id)
    return view is not None and view.callback_id == "new_client_saved"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "onboard", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(what)


def test_three_replicas_one_ack_only_and_two_schedulers_share_the_work_exactly_once(
    slack: SlackStandIn, people: People, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.workspace.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ONBOARD_TEAM": people.engineer.id,
        "ONBOARD_SCHEDULER_STANDBY_SECONDS": "2",
        "ONBOARD_LOG_FORMAT": "json",
    }
    engine = create_engine(database_url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ports = [free_port() for _ in range(3)]
        for n, port in enumerate(ports):
            args = ["serve", "--port", str(port), "--no-scheduler"]
            if n == 2:  # answers Slack only: its acked forms are saved by another process
                args.append("--ack-only")
            processes.append(start(args, env, tmp_path / f"serve{n}.log"))
        drivers = [
            SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, slack.workspace)
            for port in ports
        ]
        for driver in drivers:
            wait_for(
                lambda d=driver: d.get("/healthz").status == 200, 60, "a replica did not start"
            )
        leader = start(["scheduler"], env, tmp_path / "scheduler-a.log")
        time.sleep(1)
        standby = start(["scheduler"], env, tmp_path / "scheduler-b.log")
        processes += [leader, standby]

        for n in range(12):
            opener, submitter = drivers[n % 3], drivers[(n + 1) % 3]
            before = len(slack.workspace.open_views_for(people.am.id))
            opener.command(people.am.id, "new")
            wait_for(
                lambda b=before: len(slack.workspace.open_views_for(people.am.id)) > b,
                10,
                "no modal",
            )
            view_id = slack.workspace.open_views_for(people.am.id)[-1].id
            answer = submitter.submit_view(people.am.id, view_id, good_form(name=f"Client {n}"))
            assert saving(answer), answer.text
            wait_for(lambda v=view_id: saved(slack.workspace, v), 10, "the form was not saved")
            slack.workspace.close_views(people.am.id)

        def drained() -> bool:
            with engine.connect() as conn:
                return (
                    conn.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status == "pending")
                    )
                    == 0
                )

        wait_for(drained, 120, "the replicas did not drain the outbox")
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(AckedRequest)) == 0
            channels = conn.execute(select(Client.channel_id)).scalars().all()
            failed = conn.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "failed")
            )
        assert len(channels) == 12 and len(set(channels)) == 12 and None not in channels
        assert failed == 0
        created = [c for c in slack.workspace.channels.values() if c.name.startswith("client-")]
        assert len(created) == 12
        keys = Counter(
            (c.args.get("metadata") or {}).get("event_payload", {}).get("key")
            for c in slack.workspace.calls_to("chat.postMessage")
            if not c.faulted
        )
        keys.pop(None, None)
        assert keys and max(keys.values()) == 1, "a message was posted twice"
        for channel in channels:
            welcomes = [m for m in slack.workspace.messages_in(channel) if "Welcome" in m.text]
            assert len(welcomes) == 1

        # The scheduler: one leader; kill it and the standby takes over.
        def leads(log: str) -> bool:
            return "this process runs the scheduler" in (tmp_path / log).read_text()

        wait_for(lambda: leads("scheduler-a.log"), 30, "no scheduler took the lead")
        assert not leads("scheduler-b.log")
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        wait_for(lambda: leads("scheduler-b.log"), 60, "the standby did not take over")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        engine.dispose()
    with create_engine(database_url).connect() as conn:
        conn.execute(text("SELECT 1"))
