"""The bot process killed (SIGKILL) again and again during a busy run: nothing lost or doubled.

Each restart picks up the inbox (acked forms not yet saved) and the outbox where the dead
process left them; the audit chain stays whole.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, OutboxMessage
from tests.conftest import SIGNING_SECRET, People
from tests.handlers.test_new_client import good_form, saving
from tests.test_replicas import free_port, wait_for

CLIENTS = 8


def clients_in(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Client)) or 0


def test_killing_the_bot_mid_run_loses_nothing_and_sends_nothing_twice(
    slack: object, people: People, database_url: str, tmp_path: Path
) -> None:
    from onboard.standin.driver import SlackDriver

    workspace = slack.workspace  # type: ignore[attr-defined]
    workspace.inject("*", delay=0.05, times=None)  # slow Slack: kills land mid-delivery
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": workspace.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,  # type: ignore[attr-defined]
        "DATABASE_URL": database_url,
        "ONBOARD_TEAM": people.engineer.id,
        "ONBOARD_OUTBOX_POLL_SECONDS": "0.05",
        "ONBOARD_INBOX_LEASE_SECONDS": "2",
    }
    driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, workspace)
    log = (tmp_path / "serve.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "onboard", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: driver.get("/healthz").status == 200, 60, "serve did not start")
        return process

    db = Database(database_url)
    chance = random.Random(7)
    process = start()
    try:
        for n in range(CLIENTS):
            before = len(workspace.open_views_for(people.am.id))
            driver.command(people.am.id, "new")
            wait_for(
                lambda b=before: len(workspace.open_views_for(people.am.id)) > b, 10, "no modal"
            )
            view_id = workspace.open_views_for(people.am.id)[-1].id
            form = good_form(name=f"Crash Test {n}")
            assert saving(driver.submit_view(people.am.id, view_id, form))
            workspace.close_views(people.am.id)
            # Before the form's work, during it, or after: acked is owed.
            time.sleep(chance.uniform(0, 0.4))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            process = start()
        # The restarted process takes on what a killed one left, once its lease runs out.
        wait_for(lambda: clients_in(db) == CLIENTS, 60, "an acked form was never saved")

        def drained() -> bool:
            with db.transaction() as session:
                return (
                    session.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status == "pending")
                    )
                    == 0
                )

        wait_for(drained, 120, "the outbox never drained after the crashes")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    with db.transaction() as session:
        clients = session.scalars(select(Client)).all()
        failed = session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.status == "failed")
        ).all()
        assert audit.verify_database(session)[1] is None
    db.dispose()
    assert sorted(c.name for c in clients) == [f"Crash Test {n}" for n in range(CLIENTS)]
    assert failed == []
    channels = [c for c in workspace.channels.values() if c.name.startswith("client-")]
    assert sorted(c.id for c in channels) == sorted(c.channel_id for c in clients)
    posts = Counter((m.channel, m.text) for c in channels for m in workspace.messages_in(c.id))
    assert posts and max(posts.values()) == 1, "a message was posted twice"
    assert all(sum("Welcome" in m.text for m in workspace.messages_in(c.id)) == 1 for c in channels)
