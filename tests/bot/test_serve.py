"""An operator runs `onboard serve`: migrations applied, Slack's requests answered, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from onboard.standin.driver import SlackDriver
from onboard.standin.server import SlackStandIn
from tests.conftest import SIGNING_SECRET, People
from tests.handlers.test_new_client import good_form, saving

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_onboard_serve_answers_slack_and_stops_on_sigterm(
    slack: SlackStandIn, people: People, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.workspace.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "onboard", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, slack.workspace)
        for _ in range(300):
            try:
                if driver.get("/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        answer = driver.command(people.am.id, "help")
        assert answer.status == 200
        assert "/onboard new" in answer.text
        assert driver.command(people.am.id, "help", signature="v0=bad").status == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert slack.workspace.bot_token not in output
    assert SIGNING_SECRET not in output
    assert people.am.name not in output  # a refused request's body is not logged
    assert "Traceback" not in output


def test_serve_with_no_outbox_only_answers_and_the_scheduler_process_makes_the_calls(
    slack: SlackStandIn, people: People, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.workspace.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ONBOARD_TEAM": people.engineer.id,
        "ONBOARD_OUTBOX_POLL_SECONDS": "0.1",
    }
    serve = ["serve", "--port", str(port), "--no-scheduler", "--no-outbox"]
    processes = [subprocess.Popen([sys.executable, "-m", "onboard", *serve], env=env, cwd=tmp_path)]
    try:
        driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, slack.workspace)
        wait(lambda: _healthy(driver), "serve did not start")
        driver.command(people.am.id, "new")
        view_id = wait(lambda: slack.workspace.open_views_for(people.am.id), "no modal")[-1].id
        assert saving(driver.submit_view(people.am.id, view_id, good_form()))
        wait(lambda: _shown(slack, view_id) == "new_client_saved", "the form was not saved")

        time.sleep(1)  # the client is saved, its Slack calls queued: nobody makes them here
        assert slack.workspace.channel_by_name("client-acme-rockets") is None

        scheduler = [sys.executable, "-m", "onboard", "scheduler"]
        processes.append(subprocess.Popen(scheduler, env=env, cwd=tmp_path))
        channel = wait(lambda: slack.workspace.channel_by_name("client-acme-rockets"), "no call")
        wait(lambda: people.engineer.id in channel.members, "the team was not invited")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)


def wait(found: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(what)


def _healthy(driver: SlackDriver) -> bool:
    try:
        return driver.get("/healthz").status == 200
    except OSError:
        return False


def _shown(slack: SlackStandIn, view_id: str) -> str | None:
    view = slack.workspace.view(view_id)
    return view.callback_id if view else None
