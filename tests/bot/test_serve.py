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
