"""A client asks to be forgotten, or the retention policy comes due: their personal data goes,
and the audit chain stays whole and records the erasure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from onboard.bot import erasure
from onboard.bot.erasure import client_cli
from onboard.bot.errors import OnboardError
from onboard.bot.settings import load_settings
from onboard.schedules.jobs import JOBS
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import (
    AuditEvent,
    Client,
    Contact,
    Hypercare,
    OutboxMessage,
    StandupAnswer,
    StandupDayOff,
    StandupPrompt,
    Task,
)
from onboard.storage.schema import upgrade
from tests.bot.test_standups import channel_of, command, dms, in_hypercare, posts, sweep
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_new_client import good_form

runner = CliRunner()
NOW = dt.datetime.now(dt.UTC)
AM = audit.Cause("U0ALICE", "T0HOME")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    for name in ("ONBOARD_CONFIG", "ONBOARD_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    upgrade(database)
    return database


def onboard_client(
    db: Database,
    slug: str,
    *,
    person: str,
    email: str,
    status: str = "active",
    completed_days_ago: int | None = None,
) -> int:
    """A client as the services leave it: contacts, audit events, outbox rows; its id."""
    with db.transaction() as session:
        client = Client(
            slug=slug,
            name=f"{person} Consulting",
            tier="Gold",
            timezone="Europe/London",
            country="GB",
            go_live=dt.date(2026, 4, 1),
            playbook_key="standard",
            playbook={"key": "standard", "stages": []},
            stage_key="kickoff",
            status=status,
            account_manager=AM.actor,
            created_at=NOW - dt.timedelta(days=400),
            completed_at=(
                None if completed_days_ago is None else NOW - dt.timedelta(days=completed_days_ago)
            ),
        )
        client.contacts.append(Contact(role="primary", name=person, email=email))
        client.contacts.append(Contact(role="billing", name=f"{person} Jr", email=f"b.{email}"))
        session.add(client)
        session.flush()
        # What the team typed about them: a task, a stand-up update, a day off's reason.
        session.add(
            Task(
                client_id=client.id,
                stage_key="kickoff",
                number=1,
                title=f"Call {person} at {email}",
                owner_role="Account Manager",
                created_at=NOW,
            )
        )
        prompt = StandupPrompt(
            client_id=client.id,
            day=NOW.date(),
            kind="daily",
            status="closed",
            due_at=NOW,
            expected=[AM.actor],
            created_at=NOW,
        )
        session.add(prompt)
        session.flush()
        session.add(
            StandupAnswer(
                prompt_id=prompt.id,
                user_id=AM.actor,
                yesterday=f"Met {person}",
                today="Cut over the mail flow",
                blockers=f"VPN drops for {email}",
                health="amber",
                answered_at=NOW,
            )
        )
        session.add(
            StandupDayOff(
                client_id=client.id,
                day=NOW.date(),
                reason=f"{person} is away",
                added_by=AM.actor,
                added_at=NOW,
            )
        )
        audit.record(session, AM, "client.created", client_id=client.id, subject=slug)
        audit.record(  # why the team skipped a gate: typed text beside the chain
            session,
            AM,
            "stage.advanced",
            client_id=client.id,
            details={"forced": True},
            note=f"{person} signed by email",
        )
        audit.record(
            session, AM, "contact.added", client_id=client.id, subject="contact:1", details={}
        )
        for step, status_ in (("connect", "sent"), ("welcome", "failed"), ("digest", "pending")):
            key = f"client:{client.id}:{step}"
            outbox.enqueue(
                session,
                key,
                "slack.call",
                {"method": "chat.postMessage", "args": {"text": f"Welcome {person} <{email}>"}},
                client_id=client.id,
                now=NOW,
            )
            session.execute(
                text("UPDATE outbox SET status = :s WHERE key = :k"), {"s": status_, "k": key}
            )
        return client.id


def dump(db: Database) -> str:
    """Every value of every table, as text: where personal data could still hide."""
    parts = []
    with db.engine.connect() as conn:
        # Sorted: PostgreSQL lists tables, and returns rows, in no promised order.
        for table in sorted(inspect(conn).get_table_names()):
            rows = [
                f"{table}: {tuple(row)!r}" for row in conn.execute(text(f'SELECT * FROM "{table}"'))
            ]
            parts += sorted(rows)
    return "\n".join(parts)


def chain_holds(db: Database) -> int:
    with db.transaction() as session:
        count, found = audit.verify_database(session)
    assert found is None, found
    return count


def with_retention(monkeypatch: pytest.MonkeyPatch, days: int | None) -> None:
    """ONBOARD_RETENTION_DAYS as the settings will carry it (`retention_days`)."""
    settings = load_settings()
    monkeypatch.setattr(
        erasure,
        "load_settings",
        lambda: types.SimpleNamespace(database_url=settings.database_url, retention_days=days),
    )


# -- erase on request ----------------------------------------------------------------------------


def test_erase_removes_names_and_emails_from_every_table_and_the_chain_still_verifies(
    db: Database,
) -> None:
    acme = onboard_client(db, "acme", person="Carla Cliente", email="carla@acme.example")
    onboard_client(db, "globex", person="Gina Globex", email="gina@globex.example")
    before = chain_holds(db)
    assert "carla@acme.example" in dump(db)

    result = runner.invoke(client_cli, ["erase", "acme", "--yes", "--actor", "U0DPO"])

    assert result.exit_code == 0, result.output
    assert f"erased client acme (id {acme}): name, 2 contacts, 3 Slack message payloads" in (
        result.stdout
    )
    everything = dump(db)
    for personal in (
        "carla@acme.example",
        "Carla Cliente",
        "Carla Cliente Consulting",
        "Carla Cliente signed by email",
    ):
        assert personal not in everything
        assert personal not in result.output  # nor printed
    # Another client's data is untouched.
    assert "gina@globex.example" in everything and "Gina Globex Consulting" in everything
    assert chain_holds(db) == before + 1
    with db.transaction() as session:
        client = session.get_one(Client, acme)
        assert client.name == f"erased client {acme}" and client.slug == "acme"
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last is not None
        assert (last.action, last.actor, last.client_id) == ("client.erased", "U0DPO", acme)
        assert last.details == {"reason": "request", "contacts": 2, "outbox": 3, "given_up": 1}
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.client_id == acme).order_by(OutboxMessage.id)
        ).all()
        # The pending call will never send; none of the three keeps its payload.
        assert [(r.status, r.payload) for r in rows] == [
            ("sent", {"erased": True}),
            ("failed", {"erased": True}),
            ("failed", {"erased": True}),
        ]
        assert rows[2].last_error == "erased"


def test_on_sqlite_the_erased_email_is_gone_from_the_files_too(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL keeps old row versions until VACUUM; the module says so")
    onboard_client(db, "acme", person="Carla Cliente", email="carla@acme.example")
    with db.engine.connect():  # the bot still has the database open: its WAL stays
        result = runner.invoke(client_cli, ["erase", "acme", "--yes"])
        assert result.exit_code == 0, result.output
        path = Path(db.engine.url.database or "")
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        for file in (path, wal):
            assert b"carla@acme.example" not in file.read_bytes(), file.name


def test_erase_asks_first_and_declining_erases_nothing(db: Database) -> None:
    onboard_client(db, "acme", person="Carla Cliente", email="carla@acme.example")
    before = dump(db)
    result = runner.invoke(client_cli, ["erase", "acme"], input="n\n")
    assert result.exit_code == 1
    assert "Erase the personal data of client acme" in result.output
    assert "2 contacts and 3 queued or sent Slack messages" in result.output
    assert "nothing erased" in result.stderr
    assert dump(db) == before
    confirmed = runner.invoke(client_cli, ["erase", "acme"], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "carla@acme.example" not in dump(db)


def test_erasing_an_unknown_client_or_with_a_bad_actor_is_refused(db: Database) -> None:
    unknown = runner.invoke(client_cli, ["erase", "initech", "--yes"])
    assert unknown.exit_code == 2 and "no client 'initech'" in unknown.stderr
    onboard_client(db, "acme", person="Carla Cliente", email="carla@acme.example")
    bad = runner.invoke(client_cli, ["erase", "acme", "--yes", "--actor", "carla"])
    assert bad.exit_code == 2 and "expected a Slack user ID" in bad.stderr
    assert "carla@acme.example" in dump(db)


def test_after_a_digest_was_sent_erasing_a_client_leaves_its_name_in_no_outbox_row(
    start_bot: BotFactory, people: People
) -> None:
    monday = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    clock = FixedClock(monday - dt.timedelta(days=6))  # the Tuesday before
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    for name, contact, email in (
        ("Acme Rockets", "Carla Client", "carla@acme.example"),
        ("Globex", "Gina Globex", "gina@globex.example"),
    ):
        onboard.bot.onboarding.submit(
            good_form(name=name, contact_name=contact, contact_email=email, go_live="2027-06-01"),
            audit.Cause(people.am.id, "T0HOME"),
        )
    clock.now = monday
    assert onboard.bot.digest.sweep(monday) == 1
    onboard.deliver()

    def outbox_rows() -> str:
        with onboard.bot.db.transaction() as session:
            rows = session.scalars(select(OutboxMessage)).all()
            return json.dumps([[r.key, r.payload, r.result] for r in rows])

    assert "Acme Rockets" in outbox_rows()  # the sent digest named it among this week's starts
    with onboard.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug).where(Client.name == "Acme Rockets")).one()

    erasure.erase(onboard.bot.db, slug, AM, reason="request", now=monday)

    everything = outbox_rows()
    for personal in ("Acme Rockets", "Carla Client", "carla@acme.example"):
        assert personal not in everything
    # The digest keeps its key and Slack's ts: this week's is never sent again.
    with onboard.bot.db.transaction() as session:
        digest = session.scalars(
            select(OutboxMessage).where(OutboxMessage.key == f"digest:{people.admin.id}:2026-W48")
        ).one()
        assert digest.status == "sent" and digest.result and digest.result["ts"]
    assert onboard.bot.digest.sweep(monday + dt.timedelta(hours=2)) == 0


# -- retention -----------------------------------------------------------------------------------


def test_retention_erases_only_completed_clients_past_the_policy(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = onboard_client(
        db,
        "old",
        person="Olga Old",
        email="olga@old.example",
        status="completed",
        completed_days_ago=100,
    )
    recent = onboard_client(
        db,
        "recent",
        person="Rita Recent",
        email="rita@recent.example",
        status="completed",
        completed_days_ago=10,
    )
    onboard_client(db, "active", person="Arne Active", email="arne@active.example")
    with_retention(monkeypatch, 90)
    before = chain_holds(db)

    dry = runner.invoke(client_cli, ["retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would erase client old (id {old})" in dry.stdout and "recent" not in dry.stdout
    assert "1 clients completed more than 90 days ago would be erased" in dry.stdout
    assert "olga@old.example" in dump(db) and chain_holds(db) == before

    result = runner.invoke(client_cli, ["retention"])
    assert result.exit_code == 0, result.output
    assert f"erased client old (id {old})" in result.stdout
    everything = dump(db)
    assert "olga@old.example" not in everything and "Olga Old" not in everything
    assert "rita@recent.example" in everything and "arne@active.example" in everything
    assert chain_holds(db) == before + 1
    with db.transaction() as session:
        erased = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "client.erased")
        ).all()
        assert [(e.client_id, e.actor, e.details["reason"]) for e in erased] == [
            (old, "system", "retention")
        ]
        assert session.get_one(Client, recent).name == "Rita Recent Consulting"

    # Run again: nobody is due any more, and nothing new is recorded.
    again = runner.invoke(client_cli, ["retention"])
    assert again.exit_code == 0 and "0 clients" in again.stdout
    assert chain_holds(db) == before + 1


def test_without_a_policy_retention_erases_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    onboard_client(
        db,
        "old",
        person="Olga Old",
        email="olga@old.example",
        status="completed",
        completed_days_ago=1000,
    )
    with_retention(monkeypatch, None)
    result = runner.invoke(client_cli, ["retention"])
    assert result.exit_code == 0
    assert "ONBOARD_RETENTION_DAYS is not set" in result.stdout
    assert "olga@old.example" in dump(db)


def test_the_retention_service_takes_the_moment_it_runs_as(db: Database) -> None:
    old = onboard_client(
        db,
        "old",
        person="Olga Old",
        email="olga@old.example",
        status="completed",
        completed_days_ago=10,
    )
    # As of today nobody is due; as of a month from now the client is.
    assert erasure.apply_retention(db, 30, NOW) == []
    done = erasure.apply_retention(db, 30, NOW + dt.timedelta(days=31))
    assert [(d.client_id, d.contacts) for d in done] == [(old, 2)]
    assert chain_holds(db) > 0


def test_two_retention_runs_at_once_erase_a_client_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's run and an operator's `client retention` meet on one client: the
    second waits for the first's transaction, looks again and finds it erased."""
    if db.is_sqlite:
        pytest.skip("SQLite runs one writing transaction at a time: the runs cannot overlap")
    onboard_client(
        db,
        "old",
        person="Olga Old",
        email="olga@old.example",
        status="completed",
        completed_days_ago=40,
    )
    # Each run, once it has decided to erase, waits (up to 1 s) for the other to decide too.
    both_decided = threading.Barrier(2, timeout=1)
    erase_client = erasure.erase_client

    def erase_when_both_decided(*args: Any, **kwargs: Any) -> erasure.Erasure:
        with contextlib.suppress(threading.BrokenBarrierError):
            both_decided.wait()
        return erase_client(*args, **kwargs)

    monkeypatch.setattr(erasure, "erase_client", erase_when_both_decided)
    runs = [threading.Thread(target=erasure.apply_retention, args=(db, 30, NOW)) for _ in "ab"]
    for run in runs:
        run.start()
    for run in runs:
        run.join(10)

    with db.transaction() as session:
        erased = session.scalars(
            select(AuditEvent.seq).where(AuditEvent.action == erasure.ERASED_ACTION)
        ).all()
    assert len(erased) == 1
    assert chain_holds(db) > 0


# -- stand-ups and service reviews stop --------------------------------------------------------


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def hypercare_bot(start_bot: BotFactory, clock: FixedClock) -> Running:
    onboard = start_bot(clock=clock)
    onboard.bot.standups.pacer.per_channel = 0
    return onboard


def test_a_client_erased_mid_hypercare_is_asked_nothing_more(
    start_bot: BotFactory, people: People
) -> None:
    # Acme asks to be forgotten at 10:00 on a stand-up day: no reminder, no summary, no more
    # stand-ups, and the open one takes no new updates (each would be new personal data).
    clock = FixedClock(at("2027-03-25T08:00"))
    bot = hypercare_bot(start_bot, clock)
    am, engineer = people.am.id, people.engineer.id
    client = in_hypercare(bot.bot.db, bot.workspace, am, entered=at("2027-03-25T07:00"))
    channel = channel_of(bot, client)
    sweep(bot, clock, at("2027-03-25T09:30"))
    assert len(posts(bot.workspace, channel)) == 1
    with bot.bot.db.transaction() as session:
        prompt_id = session.scalars(select(StandupPrompt.id)).one()

    clock.now = at("2027-03-25T10:00")
    assert erasure.erase(bot.bot.db, "acme", AM, reason="request", now=clock.now) is not None

    update = {"yesterday": "Met Carla", "today": "Cut over", "health": "red", "blockers": "x"}
    with pytest.raises(OnboardError):
        bot.bot.standups.answer(prompt_id, update, audit.Cause(actor=engineer))
    for moment in ("2027-03-25T11:30", "2027-03-25T17:00", "2027-03-29T08:30"):
        assert sweep(bot, clock, at(moment)) == 0, moment  # reminder, summary, Monday
    assert len(posts(bot.workspace, channel)) == 1
    assert [t for t in dms(bot, am) + dms(bot, engineer) if "Acme" in t or "erased" in t] == []
    with bot.bot.db.transaction() as session:
        row = session.scalars(select(Hypercare)).one()
        assert (row.status, row.review_cadence) == ("stopped", None)
        assert session.scalars(select(StandupPrompt.status)).all() == ["closed"]
        assert session.scalars(select(StandupAnswer)).all() == []
    refused = command(bot, am, "standup resume", channel)
    assert "data was erased" in refused, refused
    assert "stopped: the client’s data was erased" in command(bot, am, "sdm", channel)


def test_an_erased_client_in_bau_gets_no_more_service_review_reminders(
    start_bot: BotFactory, people: People
) -> None:
    # Acme left hypercare for BAU (Gold: quarterly reviews, the first on Thu 1 July), then the
    # retention policy erased it: its review is not brought up with the account manager.
    clock = FixedClock(at("2027-03-25T08:00"))
    bot = hypercare_bot(start_bot, clock)
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    sweep(bot, clock, at("2027-03-25T08:00"))
    clock.now = at("2027-04-01T10:00")
    admin = audit.Cause(actor=people.admin.id)
    for _ in ("into BAU transition", "completed"):
        bot.bot.journey.advance("", channel_of(bot, client), admin, force="signed off by phone")
    sweep(bot, clock, at("2027-04-01T10:05"))
    with bot.bot.db.transaction() as session:
        row = session.scalars(select(Hypercare)).one()
        assert (row.bau_started_on, row.review_cadence) == (dt.date(2027, 4, 1), "quarterly")

    [erased] = erasure.apply_retention(bot.bot.db, 30, at("2027-06-01T00:00"))
    assert erased.client_id == client

    clock.now = at("2027-07-01T12:00")
    assert JOBS["service-reviews"].run(bot.bot, clock.now) == 0
    assert sweep(bot, clock, clock.now) == 0
    assert [t for t in dms(bot, people.am.id) if "Service review" in t] == []


def test_clients_erased_before_the_upgrade_have_their_stand_ups_and_reviews_stopped(
    database_url: str,
) -> None:
    # Acme was erased mid-hypercare and Globex in BAU before erasures stopped hypercare;
    # Initech, erased with no hypercare row yet, must not start one; Umbrella is not erased.
    db = Database(database_url)
    upgrade(db, "0012")
    with db.transaction() as session:
        ids = {}
        for slug in ("acme", "globex", "initech", "umbrella"):
            client = Client(
                slug=slug,
                name=slug.title(),
                tier="Gold",
                timezone="Europe/London",
                country="GB",
                go_live=dt.date(2027, 3, 1),
                playbook_key="standard",
                playbook={},
                stage_key="kickoff",
                status="active",
                account_manager=AM.actor,
                created_at=NOW,
            )
            session.add(client)
            session.flush()
            ids[slug] = client.id
        for slug, status, cadence in (
            ("acme", "active", None),
            ("globex", "exited", "quarterly"),
            ("umbrella", "active", None),
        ):
            session.add(
                Hypercare(
                    client_id=ids[slug],
                    status=status,
                    paused=False,
                    review_cadence=cadence,
                    bau_started_on=dt.date(2027, 4, 1) if cadence else None,
                    created_at=NOW,
                )
            )
            session.add(
                StandupPrompt(
                    client_id=ids[slug],
                    day=NOW.date(),
                    kind="daily",
                    status="open",
                    due_at=NOW,
                    expected=[AM.actor],
                    created_at=NOW,
                )
            )
        for slug in ("acme", "globex", "initech"):
            audit.record(session, AM, erasure.ERASED_ACTION, client_id=ids[slug], at=NOW)

    upgrade(db)

    with db.transaction() as session:
        rows = {
            row.client_id: (row.status, row.review_cadence, row.ended_at is not None)
            for row in session.scalars(select(Hypercare))
        }
        prompts = {
            client_id: status
            for client_id, status in session.execute(
                select(StandupPrompt.client_id, StandupPrompt.status)
            )
        }
    assert rows == {
        ids["acme"]: ("stopped", None, True),
        ids["globex"]: ("stopped", None, False),
        ids["initech"]: ("stopped", None, False),
        ids["umbrella"]: ("active", None, False),
    }
    assert prompts == {ids["acme"]: "closed", ids["globex"]: "closed", ids["umbrella"]: "open"}
