"""The database away for a while, for real: a PostgreSQL server stopped, then started again.

While it is down, people get a clear "try again" and nothing is half-written, the health check
says the database is unavailable, and once it is back the same bot process (not restarted)
serves again by itself: the form that failed goes through and its channel is created.

The test runs its own throwaway PostgreSQL cluster on a free port, so it can stop it without
touching any shared server; it is skipped when PostgreSQL's binaries are not installed.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from onboard.bot.app import build
from onboard.bot.settings import Settings
from onboard.bot.web import HttpServer
from onboard.handlers.failures import DATABASE_DOWN
from onboard.standin.driver import Answer, SlackDriver
from onboard.standin.server import SlackStandIn
from onboard.storage.models import Client
from tests.conftest import SIGNING_SECRET, People, Running
from tests.handlers.test_new_client import good_form, open_form, saving, shown
from tests.test_replicas import free_port

# Bounds on every wait, so a wedged server fails the test rather than hanging it.
SERVER_SECONDS = 30  # pg_ctl start/stop -w -t
COMMAND_SECONDS = 90  # any one initdb/pg_ctl run
RECOVERY_SECONDS = 30  # from the server being back to the bot answering normally


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL bin directory that has initdb, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _version(initdb: str) -> tuple[int, ...]:
    number = Path(initdb).parent.parent.name
    return tuple(int(part) for part in number.split(".") if part.isdigit())


class Cluster:
    """A private PostgreSQL cluster on loopback that this test may stop and start at will."""

    def __init__(self, bin_dir: Path, data: Path, port: int) -> None:
        self.bin_dir, self.data, self.port = bin_dir, data, port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str, check: bool = True) -> int:
        command = shlex.join(args)
        # PostgreSQL refuses to run as root: run its tools as the postgres user then.
        argv = (
            ["su", "postgres", "-s", "/bin/sh", "-c", command]
            if os.geteuid() == 0
            else ["/bin/sh", "-c", command]
        )
        done = subprocess.run(argv, timeout=COMMAND_SECONDS, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"{command} failed ({done.returncode}): {done.stderr.strip()}")
        return done.returncode

    def init(self) -> None:
        initdb = str(self.bin_dir / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def start(self) -> None:
        # The data directory doubles as the socket directory: nothing shared in /tmp.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        log = str(self.data / "server.log")
        self._pg_ctl("-o", options, "-l", log, "-w", "-t", str(SERVER_SECONDS), "start")

    def stop(self) -> None:
        # Fast shutdown cuts every open connection, as a crashed or restarted server does.
        self._pg_ctl("-m", "fast", "-w", "-t", str(SERVER_SECONDS), "stop")

    def running(self) -> bool:
        return self._pg_ctl("status", check=False) == 0

    def _pg_ctl(self, *args: str, check: bool = True) -> int:
        return self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args, check=check)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL initdb found (install Debian's postgresql to run this test)")
    # Not tmp_path itself: pytest's base directory is private to its owner, which the postgres
    # user cannot enter when the tests run as root.
    data = Path(tempfile.mkdtemp(prefix="onboard-outage-"))
    os.chmod(data, 0o700)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    cluster = Cluster(bin_dir, data, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        if (data / "server.log").exists():  # kept beside the test's other files, for a failure
            shutil.copy(data / "server.log", tmp_path / "postgres.log")
        shutil.rmtree(data, ignore_errors=True)


def text_of(answer: Answer) -> str:
    """A command's private answer as one string: its text and its blocks."""
    assert answer.status == 200, answer.text
    body = answer.json()
    return (body.get("text") or "") + str(body.get("blocks") or "")


def client_names(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return list(session.scalars(select(Client.name).order_by(Client.name)))


def problem_text(onboard: Running, view_id: str) -> str:
    modal = onboard.workspace.view(view_id)
    assert modal is not None
    blocks = {b.get("block_id"): b for b in modal.blocks}
    return str(blocks["problem"]["text"]["text"])


def test_the_database_away_for_a_while_says_try_again_and_the_bot_recovers_by_itself(
    cluster: Cluster, slack: SlackStandIn, people: People
) -> None:
    settings = Settings(
        slack_bot_token=slack.workspace.bot_token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        database_url=cluster.url,
        team=(people.engineer.id,),
        admins=(people.admin.id,),
        http_threads=4,
    )
    bot = build(settings)
    server = HttpServer(bot, "127.0.0.1", 0).start()
    onboard = Running(
        bot, server, SlackDriver(server.url, SIGNING_SECRET, slack.workspace), slack.workspace
    )
    driver, am = onboard.driver, people.am.id
    try:
        # 1. A normal day: the bot answers, is healthy, and onboards a client.
        assert "/onboard" in text_of(driver.command(am, "help"))
        assert driver.get("/healthz").status == 200
        first = open_form(onboard, am)
        assert saving(driver.submit_view(am, first, good_form()))
        assert shown(onboard, first) == "new_client_saved"
        onboard.deliver()
        assert onboard.workspace.channel_by_name("client-acme-rockets") is not None
        assert "Acme Rockets" in text_of(driver.command(am, "status acme-rockets"))

        # 2. The database goes away (its server stopped, the bot's pooled connections cut).
        cluster.stop()

        health = driver.get("/healthz")
        assert (health.status, health.json()) == (503, {"status": "database unavailable"})

        # Alice starts onboarding a second client; the form itself needs no database.
        onboard.workspace.close_views(am)
        second = open_form(onboard, am, "new Globex")
        globex = good_form(name="Globex", contact_email="gina@globex.example")
        assert saving(driver.submit_view(am, second, globex))
        # Saving fails after the ack: the form comes back, filled in, saying nothing was saved.
        assert shown(onboard, second) == "new_client"
        problem = problem_text(onboard, second)
        assert "nothing was saved" in problem and "Try again" in problem

        # A command that reads the database answers "try again", not an error or silence.
        answer = text_of(driver.command(am, "status acme-rockets"))
        assert DATABASE_DOWN in answer and "Try again" in answer
        assert "Something went wrong" not in answer  # the database named, not a generic error

        # 3. The database comes back; the same bot process, untouched, serves again.
        cluster.start()
        onboard.wait_until(lambda: driver.get("/healthz").status == 200, RECOVERY_SECONDS)
        assert client_names(onboard) == ["Acme Rockets"]  # the outage wrote nothing

        # The very form that failed, submitted again, goes through.
        assert saving(driver.submit_view(am, second, globex))
        assert shown(onboard, second) == "new_client_saved"
        assert client_names(onboard) == ["Acme Rockets", "Globex"]
        onboard.deliver()
        assert onboard.workspace.channel_by_name("client-globex") is not None
        assert "Globex" in text_of(driver.command(am, "status globex"))
    finally:
        server.stop()
        bot.stop()
