"""An operator runs `onboard …` and something outside the bot is wrong: the database is down,
missing, not migrated or from a newer version; a folder, a port or a file will not do. Each
ends in one line `onboard: …` on stderr and exit 2, never a traceback (INTERFACE.md)."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from onboard.bot import cli as cli_module
from onboard.bot.cli import cli
from onboard.storage.db import Database
from onboard.storage.schema import upgrade
from tests.conftest import SIGNING_SECRET, People, Running
from tests.test_replicas import free_port

runner = CliRunner()
TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_APP_TOKEN": "xapp-1",
    "SLACK_API_URL": "http://127.0.0.1:1/",
}


@pytest.fixture(autouse=True)
def operator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell with nothing of the test machine's configuration in it."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith(("ONBOARD_", "SLACK_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    # serve, scheduler and `jobs run` configure the root logger: not this test process's.
    monkeypatch.setattr(cli_module, "_logging", lambda settings: None)


def run(*args: str, **env: str) -> tuple[int, list[str]]:
    """Exit code and stderr lines of `onboard ARGS` with the tokens and `env` set."""
    result = runner.invoke(cli, list(args), env={**TOKENS, **env})
    return result.exit_code, result.stderr.splitlines()


def sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def migrated(path: Path) -> str:
    db = Database(sqlite(path))
    upgrade(db)
    db.dispose()
    return sqlite(path)


def postgres_down(_tmp: Path) -> str:
    return f"postgresql://onboard@127.0.0.1:{free_port()}/onboard"  # nothing listens there


def sqlite_in_a_missing_folder(tmp: Path) -> str:
    return sqlite(tmp / "no" / "such" / "folder" / "onboard.db")


def not_a_database(tmp: Path) -> str:
    (tmp / "notes.db").write_text("shopping list\n")
    return sqlite(tmp / "notes.db")


def from_a_newer_version(tmp: Path) -> str:
    url = migrated(tmp / "onboard.db")
    with sqlite3.connect(tmp / "onboard.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999_from_the_future'")
    return url


def never_migrated(tmp: Path) -> str:
    return sqlite(tmp / "onboard.db")


def empty_file(tmp: Path) -> str:
    (tmp / "onboard.db").touch()
    return sqlite(tmp / "onboard.db")


def port_in_use(tmp: Path) -> str:
    return migrated(tmp / "onboard.db")


DOWN = "cannot use the database (DATABASE_URL): connection failed"
CASES: list[tuple[str, Callable[[Path], str], list[str], str]] = [
    ("serve, database down", postgres_down, ["serve", "--port", "0"], DOWN),
    ("db upgrade, database down", postgres_down, ["db", "upgrade"], DOWN),
    ("jobs run, database down", postgres_down, ["jobs", "run", "standups"], DOWN),
    ("digest, database down", postgres_down, ["digest"], DOWN),
    ("intake export, database down", postgres_down, ["intake", "export", "acme"], DOWN),
    (
        "db upgrade, SQLite file in a missing folder",
        sqlite_in_a_missing_folder,
        ["db", "upgrade"],
        "cannot use the database (DATABASE_URL): unable to open database file",
    ),
    (
        "serve, a file that is not a database",
        not_a_database,
        ["serve", "--port", "0"],
        "cannot use the database (DATABASE_URL): file is not a database",
    ),
    (
        "db upgrade, a database from a newer version",
        from_a_newer_version,
        ["db", "upgrade"],
        "cannot migrate the database (DATABASE_URL): Can't locate revision identified by "
        "'0999_from_the_future' (was the database migrated by a newer version of onboard?)",
    ),
    (
        "serve, a database from a newer version",
        from_a_newer_version,
        ["serve", "--port", "0"],
        "cannot migrate the database (DATABASE_URL): Can't locate revision",
    ),
    ("digest, never migrated", never_migrated, ["digest"], "no database at "),
    ("intake export, never migrated", never_migrated, ["intake", "export", "acme"], "no database"),
    (
        "digest, an empty database file",
        empty_file,
        ["digest"],
        "the database is not set up yet: run `onboard db upgrade`",
    ),
    (
        "intake export, an empty database file",
        empty_file,
        ["intake", "export", "acme"],
        "the database is not set up yet: run `onboard db upgrade`",
    ),
    (
        "digest --png into a missing folder",
        lambda tmp: migrated(tmp / "onboard.db"),
        ["digest", "--png", "/no/such/folder/chart.png"],
        "cannot write /no/such/folder/chart.png: No such file or directory",
    ),
]


@pytest.mark.parametrize(
    ("database", "args", "told"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_what_the_database_or_a_file_refuses_is_one_line(
    tmp_path: Path, database: Callable[[Path], str], args: list[str], told: str
) -> None:
    code, stderr = run(*args, DATABASE_URL=database(tmp_path))
    assert code == 2, stderr
    assert len(stderr) == 1 and stderr[0].startswith(f"onboard: {told}"), stderr
    if database is never_migrated:
        assert not (tmp_path / "onboard.db").exists()  # no empty database left behind


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = run("serve", "--port", str(port), DATABASE_URL=port_in_use(tmp_path))
    assert code == 2
    assert stderr == [f"onboard: cannot listen on 127.0.0.1:{port}: Address already in use"]


# -- a malformed ONBOARD_PLAYBOOK_DIR stops start-up before the database is touched ------------


@pytest.mark.parametrize(
    "args", [["serve", "--port", "0"], ["scheduler"], ["socket"], ["jobs", "run", "standups"]]
)
@pytest.mark.parametrize("mistake", ["a folder that is not there", "a playbook that is not YAML"])
def test_a_mistake_in_the_playbook_folder_stops_start_up_in_one_line(
    tmp_path: Path, args: list[str], mistake: str
) -> None:
    folder = tmp_path / "playbooks"
    if mistake == "a playbook that is not YAML":
        folder.mkdir()
        (folder / "ours.yaml").write_text("key: ours\nstages: [\n")
    code, stderr = run(
        *args, ONBOARD_PLAYBOOK_DIR=str(folder), DATABASE_URL=sqlite(tmp_path / "onboard.db")
    )
    assert code == 2
    assert len(stderr) == 1 and stderr[0].startswith("onboard: setting ONBOARD_PLAYBOOK_DIR: ")
    assert str(folder) in stderr[0]
    assert not (tmp_path / "onboard.db").exists()  # checked before migrating


# -- jobs run: a visit that fails does not hold back what the others queued --------------------


def test_jobs_run_delivers_the_other_managers_digest_when_one_manager_fails(
    onboard: Running, people: People, database_url: str
) -> None:
    before = len(onboard.workspace.calls)
    moment = "2027-03-29T08:00:00+00:00"  # a Monday
    result = runner.invoke(
        cli,
        ["jobs", "run", "weekly-digest", "--at", moment],
        env={
            "SLACK_BOT_TOKEN": onboard.workspace.bot_token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": onboard.bot.settings.slack_api_url,
            "DATABASE_URL": database_url,
            "ONBOARD_MANAGERS": f"U0NOSUCHUSER,{people.am.id}",  # Slack knows only the second
        },
    )
    digests = [
        c
        for c in onboard.workspace.calls[before:]
        if c.method == "chat.postMessage" and c.args.get("channel") == people.am.id
    ]
    assert len(digests) == 1
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"onboard: weekly-digest as of {moment}: the sweep failed for 1 of its visits; "
        "see the log; the other visits' sends were delivered"
    ]


# -- serve with the database away: one line when it goes, one when it is back -----------------


def test_serve_with_the_database_down_logs_it_once_not_every_round(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        **TOKENS,
        "DATABASE_URL": postgres_down(tmp_path),
        "ONBOARD_OUTBOX_POLL_SECONDS": "0.1",
    }
    logged = tmp_path / "serve.log"
    with logged.open("w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "onboard", "serve", "--no-migrate", "--port", "0"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        try:
            # Both loops failing (a start-up on a busy machine may take seconds), then
            # another 3 s of rounds: 15 inbox rounds, 30 outbox rounds, each logged or not.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(
                line in logged.read_text() for line in ("inbox rounds", "outbox delivery rounds")
            ):
                time.sleep(0.1)
            time.sleep(3)
        finally:
            serve.terminate()
            serve.wait(30)
    text = logged.read_text()
    assert "Traceback" not in text
    assert text.count("inbox rounds failing, retrying: OperationalError: ") == 1, text
    assert text.count("outbox delivery rounds failing, retrying: OperationalError: ") == 1, text


def test_the_loops_say_when_the_database_is_back(
    onboard: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = onboard.bot
    away = threading.Event()
    away.set()
    run_once, claim = bot.delivery.run_once, bot.inbox.claim

    def unless_away(real: Callable[..., int]) -> Callable[..., int]:
        def attempt(*args: object, **kwargs: object) -> int:
            if away.is_set():
                raise OperationalError("SELECT 1", {}, ConnectionError("connection refused"))
            return real(*args, **kwargs)

        return attempt

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(bot.delivery, "poll_seconds", 0.05)
    monkeypatch.setattr(bot.delivery, "run_once", unless_away(run_once))
    monkeypatch.setattr(bot.inbox, "claim", unless_away(claim))
    bot.start_background(scheduler=False)
    time.sleep(1.5)  # rounds of each loop fail: 7 of the inbox's, 20 of the outbox's
    away.clear()

    def told(logger: str) -> list[tuple[int, str, bool]]:
        return [
            (r.levelno, r.getMessage(), r.exc_info is not None)
            for r in caplog.records
            if r.name == logger and r.levelno >= logging.INFO
        ]

    onboard.wait_until(lambda: len(told("onboard.bot.inbox")) == 2, timeout=10)
    onboard.wait_until(lambda: len(told("onboard.bot.delivery")) == 2, timeout=10)
    reason = "OperationalError: (builtins.ConnectionError) connection refused"
    assert told("onboard.bot.inbox") == [
        (logging.WARNING, f"inbox rounds failing, retrying: {reason}", False),
        (logging.WARNING, "inbox rounds work again", False),
    ]
    assert told("onboard.bot.delivery") == [
        (logging.WARNING, f"outbox delivery rounds failing, retrying: {reason}", False),
        (logging.WARNING, "outbox delivery rounds work again", False),
    ]


# -- smaller slips -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["onboard.example.com", "http://onboard.example.com", "https://"])
def test_manifest_refuses_a_url_slack_would_not_call(url: str) -> None:
    code, stderr = run("manifest", "--url", url)
    assert code == 2
    assert stderr == [
        f"onboard: --url {url!r}: give the https:// address where Slack reaches `onboard serve`"
    ]


def test_manifest_takes_https_and_a_local_http_address() -> None:
    for url in ("https://bot.example.com", "http://localhost:3000"):
        result = runner.invoke(cli, ["manifest", "--url", url])
        assert result.exit_code == 0 and f"url: {url}/slack/events" in result.stdout


def test_serve_refuses_a_port_that_does_not_exist(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], **TOKENS, "DATABASE_URL": sqlite(tmp_path / "x.db")}
    done = subprocess.run(
        [sys.executable, "-m", "onboard", "serve", "--port", "99999"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "Invalid value for '--port'" in done.stderr and "Traceback" not in done.stderr


def test_audit_verify_reads_a_jsonl_export_whatever_its_name(tmp_path: Path) -> None:
    from onboard.storage import audit

    url = migrated(tmp_path / "onboard.db")
    db = Database(url)
    with db.transaction() as session:
        audit.record(session, audit.Cause.system(), "retention.applied")
    db.dispose()
    exported = tmp_path / "audit.csv"
    code, _ = run("audit", "export", "--format", "jsonl", "-o", str(exported), DATABASE_URL=url)
    assert code == 0 and exported.read_text().startswith("{")
    result = runner.invoke(cli, ["audit", "verify", "--file", str(exported)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("audit export intact: 1 events")


def test_validating_a_playbook_whose_anchor_holds_itself_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text("key: loop\nstages: &s [*s]\n")
    result = runner.invoke(cli, ["playbook", "validate", "loop.yaml"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "loop.yaml:1: (yaml): an anchor holds an alias of itself: a playbook cannot be recursive"
    ]
