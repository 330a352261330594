"""An operator runs `onboard serve`: migrations applied, Slack's requests answered, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from onboard.standin.driver import SlackDriver
from onboard.standin.server import SlackStandIn
from tests.conftest import SIGNING_SECRET, People
from tests.handlers.test_new_client import good_form, saving
from tests.test_replicas import saved, start, wait_for


def serve_environment(slack: SlackStandIn, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.workspace.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_onboard_serve_answers_slack_and_stops_on_sigterm(
    slack: SlackStandIn, people: People, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = serve_environment(slack, database_url)
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
    env = serve_environment(slack, database_url) | {
        "ONBOARD_TEAM": people.engineer.id,
        "ONBOARD_OUTBOX_POLL_SECONDS": "0.1",
    }
    serve = ["serve", "--port", str(port), "--no-scheduler", "--no-outbox"]
    processes = [start(serve, env, tmp_path / "serve.log")]
    workspace = slack.workspace
    try:
        driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, workspace)
        wait_for(lambda: driver.get("/healthz").status == 200, 30, "serve did not start")
        driver.command(people.am.id, "new")
        wait_for(lambda: workspace.open_views_for(people.am.id), 10, "no modal")
        view_id = workspace.open_views_for(people.am.id)[-1].id
        assert saving(driver.submit_view(people.am.id, view_id, good_form()))
        wait_for(lambda: saved(workspace, view_id), 10, "the form was not saved")

        time.sleep(1)  # the client is saved, its Slack calls queued: nobody makes them here
        assert workspace.channel_by_name("client-acme-rockets") is None

        processes.append(start(["scheduler"], env, tmp_path / "scheduler.log"))
        wait_for(lambda: workspace.channel_by_name("client-acme-rockets"), 30, "no calls")
        channel = workspace.channel_by_name("client-acme-rockets")
        assert channel is not None
        wait_for(lambda: people.engineer.id in channel.members, 30, "the team was not invited")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
