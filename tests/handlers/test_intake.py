"""Clients fill the intake questionnaire in modals in their shared channel; the team reviews it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from onboard.bot.erasure import erase_client
from onboard.bot.errors import NotAllowed
from onboard.bot.intake_state import PageRef
from onboard.bot.playbooks import MAX_PAGE_QUESTIONS
from onboard.standin.driver import Answer
from onboard.storage import audit
from onboard.storage.models import (
    AuditEvent,
    Base,
    Client,
    ClientFact,
    GateState,
    Intake,
    IntakeAnswer,
    OutboxMessage,
)
from tests.conftest import BotFactory, People, Running
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client

INTAKE_PLAYBOOK = """
key: tiny-intake
name: Tiny journey with intake
stages:
  - key: kickoff
    name: Kickoff
    objective: Meet the client.
    owner: Account Manager
    duration_days: {min: 1, max: 2}
    gates:
      - {key: kickoff-held, name: Kickoff held, kind: condition}
  - key: intake
    name: Data & Document Intake
    objective: Gather client details.
    owner: Client
    duration_days: {min: 3, max: 10}
    gates:
      - {key: data-verified, name: Data Verified, kind: condition}
  - key: build
    name: Build
    objective: Build it.
    owner: Engineer
    duration_days: {min: 1, max: 2}
intake:
  title: Onboarding form
  why: Your details, so we can set up your project.
  minutes: 10
  stage: intake
  gate: data-verified
  reminders:
    channel_after_business_days: 2
    dm_after_business_days: 4
    support_call_after_business_days: 6
    every_business_days: 2
    max_reminders: 4
  pages:
    - key: company
      title: Company
      questions:
        - {key: legal-name, label: Company name, kind: text, required: true, max_length: 100}
        - {key: website, label: Website, kind: url, required: true}
        - {key: email, label: Day-to-day email, kind: email, required: true,
           maps_to: contacts.day-to-day.email}
        - {key: phone, label: Phone, kind: phone}
        - {key: country, label: Country, kind: country, maps_to: client.country}
    - key: scale
      title: Scale
      questions:
        - {key: users, label: Number of users, kind: number, required: true, min: 1, max: 500,
           maps_to: profile.user-count}
        - {key: launch, label: Launch date, kind: date}
        - {key: industry, label: Industry, kind: single_choice, options: [Retail, Finance]}
        - {key: regulations, label: Regulations, kind: multi_choice, options: [GDPR, HIPAA],
           maps_to: profile.compliance}
        - {key: mfa, label: "Is MFA enforced?", kind: yes_no, required: true}
    - key: access
      title: Access
      questions:
        - {key: sponsor, label: Sponsor, kind: user}
        - {key: files, label: Brand files, kind: file, max_files: 2}
        - {key: access-notes, label: "How will you share access?", kind: long_text,
           credential: true}
        - {key: timezone, label: Timezone, kind: timezone, maps_to: client.timezone}
"""

PAGE_1 = {
    "legal-name": "Acme Rockets Ltd",
    "website": "https://acme.example",
    "email": "ops@acme.example",
    "phone": "+44 20 7946 0958",
    "country": "IE",
}
PAGE_2 = {"users": "120", "regulations": ["GDPR"], "mfa": "yes", "industry": "Retail"}
PAGE_3 = {
    "files": [{"id": "F0LOGO0001", "name": "logo.png"}],
    "access-notes": "We invited ops@agency.example to our CMS.",
    "timezone": "Europe/Dublin",
}


# -- playing Slack's part -------------------------------------------------------------------------


def fill(onboard: Running, user_id: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The person fills the modal's fields and presses its submit button; Slack's answer.

    What the person leaves untouched is submitted as the bot prefilled it, as in Slack.
    """
    answer = onboard.driver.submit_view(user_id, view_id, values)
    assert answer.status == 200, answer.text
    return answer.json() if answer.body else {}


def press(
    onboard: Running,
    user_id: str,
    view_id: str,
    action_id: str,
    typed: dict[str, Any] | None = None,
) -> Answer:
    """The person presses a button inside the modal (Back, Edit), with what they had typed."""
    before = onboard.workspace.views[view_id].hash
    answer = onboard.driver.press_in_view(user_id, view_id, action_id, typed)
    onboard.wait_until(lambda: onboard.workspace.views[view_id].hash != before)
    return answer


def blocks_of(onboard: Running, view_id: str) -> dict[str, dict[str, Any]]:
    return {
        b["block_id"]: b["element"]
        for b in onboard.workspace.views[view_id].blocks
        if b.get("type") == "input"
    }


def view_text(onboard: Running, view_id: str) -> str:
    return json.dumps(onboard.workspace.views[view_id].blocks, ensure_ascii=False)


# -- the story's set-up ---------------------------------------------------------------------------


@pytest.fixture
def shared(start_bot: BotFactory, tmp_path: Path, people: People) -> Running:
    """A client in its intake stage, with the client's user in the shared channel."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    enter_intake(onboard, people)
    return onboard


def enter_intake(onboard: Running, people: People) -> None:
    say(onboard, people.am.id, "gate kickoff-held pass")
    assert "moved on" in say(onboard, people.am.id, "advance")
    onboard.deliver()


def intake_messages(onboard: Running) -> list[Any]:
    return [
        m
        for m in onboard.workspace.messages_in(channel_of(onboard))
        if any(
            e.get("action_id") == "intake_start" for b in m.blocks for e in b.get("elements", [])
        )
    ]


def start(onboard: Running, user_id: str) -> str:
    onboard.workspace.close_views(user_id)  # a modal covers the channel: it was closed first
    opened = 0
    answer = onboard.driver.click_button(user_id, channel_of(onboard), "intake_start")
    assert answer.status == 200
    return onboard.wait_for_view(user_id, after=opened)


def stored(onboard: Running) -> dict[str, tuple[Any, str]]:
    with onboard.bot.db.transaction() as session:
        return {
            a.question_key: (a.value, a.answered_by) for a in session.scalars(select(IntakeAnswer))
        }


def the_intake(onboard: Running) -> Intake:
    with onboard.bot.db.transaction() as session:
        return session.scalars(select(Intake)).one()


def told(onboard: Running, user_id: str) -> str:
    found = onboard.wait_until(
        lambda: [e for e in onboard.workspace.ephemerals if e.user == user_id]
    )
    return found[-1].text


def fill_everything(onboard: Running, user_id: str) -> str:
    view_id = start(onboard, user_id)
    for values in (PAGE_1, PAGE_2, PAGE_3):
        assert fill(onboard, user_id, view_id, values).get("response_action") == "update"
    return view_id


def dm_of(onboard: Running, user_id: str) -> str:
    return next(
        c.id for c in onboard.workspace.channels.values() if c.is_im and user_id in c.members
    )


# -- the stories ----------------------------------------------------------------------------------


def test_the_intake_is_posted_when_its_stage_begins_with_what_why_and_how_long(
    shared: Running, people: People
) -> None:
    posted = intake_messages(shared)
    assert len(posted) == 1
    text = json.dumps(posted[0].blocks, ensure_ascii=False)
    assert "Onboarding form" in text and "about 10 minutes" in text
    assert "Company · Scale · Access" in text and "Start intake" in text
    # `/onboard intake` posts it again, lower in the channel.
    assert "posted" in say(shared, people.am.id, "intake")
    assert len(intake_messages(shared)) == 2


def test_a_client_fills_three_pages_closes_halfway_and_resumes_with_answers_kept(
    shared: Running, people: People
) -> None:
    carla = people.client.id
    view_id = start(shared, carla)
    assert "Page 1 of 3" in view_text(shared, view_id)
    answer = fill(shared, carla, view_id, PAGE_1)
    assert answer["response_action"] == "update"
    assert "Page 2 of 3" in view_text(shared, view_id)
    assert stored(shared)["website"] == ("https://acme.example", carla)
    assert stored(shared)["phone"][0] == "+442079460958"  # E.164

    shared.workspace.close_views(carla)  # she closes the modal; a week later she comes back
    view_id = start(shared, carla)
    assert "Page 2 of 3" in view_text(shared, view_id)  # where she left off
    press(shared, carla, view_id, "intake_back")
    page_1 = blocks_of(shared, view_id)
    assert page_1["legal-name"]["initial_value"] == "Acme Rockets Ltd"
    assert page_1["country"]["initial_option"]["value"] == "IE"

    fill(shared, carla, view_id, PAGE_1)
    fill(shared, carla, view_id, PAGE_2)
    assert blocks_of(shared, view_id)["files"]["type"] == "file_input"
    review = fill(shared, carla, view_id, PAGE_3)
    assert review["view"]["callback_id"] == "intake_review"
    assert review["view"]["submit"]["text"] == "Submit"
    assert {k for k in stored(shared)} >= {"users", "mfa", "files", "timezone"}
    assert stored(shared)["mfa"][0] is True and stored(shared)["users"][0] == 120
    assert len(shared.workspace.open_views_for(carla)) == 1  # pages replace, never stack


def test_every_validation_error_lands_under_its_field_and_valid_answers_are_kept(
    shared: Running, people: People
) -> None:
    carla = people.client.id
    view_id = start(shared, carla)
    answer = fill(
        shared,
        carla,
        view_id,
        {
            "legal-name": "A" * 101,
            "website": "javascript:alert(1)",
            "email": "not-an-email",
            "phone": "12",
            "country": "XX",
        },
    )
    assert answer["response_action"] == "errors"
    errors = answer["errors"]
    assert set(errors) == {"legal-name", "website", "email", "phone", "country"}
    assert "under 100 characters" in errors["legal-name"]
    assert "https://" in errors["website"]
    assert "name@company.com" in errors["email"]
    assert "country code" in errors["phone"]
    assert "from the list" in errors["country"]

    answer = fill(shared, carla, view_id, {**PAGE_1, "legal-name": ""})
    assert answer["errors"] == {"legal-name": "Please answer this one: it is required."}
    assert "website" in stored(shared)  # the good answers were saved all the same
    fill(shared, carla, view_id, PAGE_1)
    answer = fill(shared, carla, view_id, {"users": "9000", "launch": "2027-02-30"})
    assert answer["response_action"] == "errors"
    assert answer["errors"]["users"] == "Enter a number from 1 to 500."
    assert answer["errors"]["mfa"] == "Please answer this one: it is required."
    assert "date" in answer["errors"]["launch"]
    assert fill(shared, carla, view_id, {"users": "1.5", "mfa": "no"})["errors"] == {
        "users": "Enter a whole number."
    }


SECRETS = {
    "legal-name": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "website": "https://admin:Sup3rS3cret!@cms.acme.example/login",
}
PASSWORD = "Tr0ub4dor&3-horse"


def test_a_secret_is_refused_under_its_field_and_is_nowhere_in_the_database_or_logs(
    shared: Running, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    carla = people.client.id
    view_id = start(shared, carla)
    answer = fill(shared, carla, view_id, {**PAGE_1, **SECRETS})
    assert set(answer["errors"]) == {"legal-name", "website"}
    assert all("password, key or token" in e for e in answer["errors"].values())
    assert "ghp_" not in json.dumps(answer)  # never echoed back
    fill(shared, carla, view_id, PAGE_1)
    fill(shared, carla, view_id, PAGE_2)
    answer = fill(shared, carla, view_id, {**PAGE_3, "access-notes": f"password: {PASSWORD}"})
    assert "password manager" in answer["errors"]["access-notes"]
    shared.deliver()

    with shared.bot.db.transaction() as session:
        dump = "\n".join(
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(table.select()).all()
        )
    assert "Acme Rockets Ltd" in dump  # the dump does hold the answers that were accepted
    for secret in (*SECRETS.values(), "Sup3rS3cret", PASSWORD):
        assert secret not in dump
        assert secret not in caplog.text


def two_fillers(shared: Running, people: People, workspace: Any) -> tuple[str, str, str, str]:
    """Carla and her colleague Sam, each with the intake open on page 1: (carla, sam, and
    their modals' IDs)."""
    sam = workspace.add_user("sam.client", team_id="T0CLIENT").id
    shared.workspace.channels[channel_of(shared)].members.append(sam)
    carla = people.client.id
    return carla, sam, start(shared, carla), start(shared, sam)


def test_two_people_save_the_same_page_the_last_save_of_a_field_wins(
    shared: Running, people: People, workspace: Any
) -> None:
    carla, sam, carla_view, sam_view = two_fillers(shared, people, workspace)
    fill(shared, carla, carla_view, PAGE_1)
    fill(shared, sam, sam_view, {**PAGE_1, "website": "https://acme-rockets.example"})
    answers = stored(shared)
    assert answers["website"] == ("https://acme-rockets.example", sam)
    assert answers["legal-name"] == ("Acme Rockets Ltd", carla)  # unchanged by Sam's save

    # Both press Next on page 2 at the same moment: both saves land, one after the other.
    threads = [
        threading.Thread(target=fill, args=(shared, who, view, {**PAGE_2, "users": n}))
        for who, view, n in ((carla, carla_view, "10"), (sam, sam_view, "20"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored(shared)["users"] in ((10, carla), (20, sam))

    with shared.bot.db.transaction() as session:
        saves = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "intake.answers_saved")
        ).all()
    by_whom = [(e.actor, e.details["fields"]) for e in saves]
    assert (sam, ["website"]) in by_whom
    assert any(actor == carla and "legal-name" in fields for actor, fields in by_whom)
    assert all("Acme" not in json.dumps(e.details) for e in saves)  # values are not audit


def test_review_asks_for_changes_to_two_answers_then_verifies(
    shared: Running, people: People
) -> None:
    carla, alice = people.client.id, people.am.id
    view_id = fill_everything(shared, carla)
    assert fill(shared, carla, view_id, {})["view"]["callback_id"] == "intake_done"
    shared.deliver()
    dm = dm_of(shared, alice)
    summary = json.dumps(shared.workspace.messages_in(dm)[-1].blocks)
    assert "Acme Rockets Ltd" in summary and "Mark data verified" in summary

    shared.driver.click_button(alice, dm, "intake_changes")
    changes_view = shared.wait_for_view(alice)
    answer = fill(
        shared,
        alice,
        changes_view,
        {"fields": ["website", "users"], "note": "Use the shop's site; count contractors too."},
    )
    assert answer == {"response_action": "clear"}
    shared.deliver()
    assert the_intake(shared).reopened == ["website", "users"]
    asked = json.dumps(shared.workspace.messages_in(channel_of(shared))[-1].blocks)
    assert "count contractors too" in asked and "Update answers" in asked

    view_id = start(shared, carla)
    assert set(blocks_of(shared, view_id)) == {"website", "users"}  # exactly the two
    assert "count contractors too" in view_text(shared, view_id)
    review = fill(shared, carla, view_id, {"website": "https://shop.acme.example", "users": "140"})
    assert review["view"]["callback_id"] == "intake_review"
    fill(shared, carla, view_id, {})
    shared.deliver()

    shared.driver.click_button(alice, dm, "intake_verify")
    assert "Data verified" in told(shared, alice)
    shared.deliver()
    with shared.bot.db.transaction() as session:
        gate = session.scalars(select(GateState).where(GateState.gate_key == "data-verified")).one()
        client = session.scalars(select(Client)).one()
        facts = {f.key: f.value for f in session.scalars(select(ClientFact))}
        contacts = {c.role: c.email for c in client.contacts}
        actions = list(session.scalars(select(AuditEvent.action)))
    assert gate.status == "passed" and gate.decided_by == alice
    assert (client.country, client.timezone) == ("IE", "Europe/Dublin")
    assert facts == {"user-count": 140, "compliance": ["GDPR"]}
    assert contacts["day-to-day"] == "ops@acme.example"
    assert the_intake(shared).status == "verified"
    assert actions.count("intake.submitted") == 2 and "intake.verified" in actions
    assert "moved on" in say(shared, alice, "advance")  # the gate holds: the stage can close


def test_the_team_sees_progress_per_section_and_who_filled_what(
    shared: Running, people: People
) -> None:
    carla = people.client.id
    view_id = start(shared, carla)
    fill(shared, carla, view_id, PAGE_1)
    status = say(shared, people.am.id, "intake status")
    assert "Company*: 5 of 5 answered" in status
    assert "Scale*: 0 of 5 answered, 2 required left" in status
    assert f"<@{carla}>" in status


def test_an_internal_user_and_another_clients_user_are_refused(
    shared: Running, people: People, workspace: Any
) -> None:
    olga = workspace.add_user("olga.other", team_id="T0OTHER")
    channel = channel_of(shared)
    shared.workspace.channels[channel].members += [olga.id, people.engineer.id]
    for stranger in (people.engineer.id, olga.id):
        shared.driver.click_button(stranger, channel, "intake_start")
        assert "people" in told(shared, stranger)
        assert shared.workspace.open_views_for(stranger) == []
    # Another client's person in the channel is not told whose channel it is.
    assert "Acme" not in told(shared, olga.id)

    # A page submitted by someone who should not (a forged modal) saves nothing.
    view_id = start(shared, people.client.id)
    answer = fill(shared, olga.id, view_id, PAGE_1)
    assert answer["response_action"] == "errors"
    assert stored(shared) == {}

    # And the review buttons are the team's: the client cannot verify its own data.
    view_id = fill_everything(shared, people.client.id)
    fill(shared, people.client.id, view_id, {})
    shared.deliver()
    dm = dm_of(shared, people.am.id)
    shared.workspace.channels[dm].members.append(people.client.id)
    shared.driver.click_button(people.client.id, dm, "intake_verify")
    assert "onboarding team" in told(shared, people.client.id)
    with shared.bot.db.transaction() as session:
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "intake.refused")
        ).all()
    assert {people.engineer.id, olga.id, people.client.id} <= {e.actor for e in refused}
    # The chain keeps why as a code or fixed words, never the client's name (erasure cannot
    # reach into the chain).
    assert not any("Acme" in str(e.details) for e in refused)
    assert {"internal", "another_workspace"} <= {e.details["why"] for e in refused}
    assert the_intake(shared).status == "submitted"


def test_a_crafted_intake_button_tells_another_clients_person_nothing_of_that_client(
    start_bot: BotFactory, tmp_path: Path, people: People, workspace: Any
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK)
    onboard = start_bot(playbook_dir=folder)
    zephyr = onboard_client(onboard, people, playbook="tiny-intake", name="Zephyr Secret Co")
    assert zephyr.channel_id is not None
    enter_intake(onboard, people)
    with onboard.bot.db.transaction() as session:
        intake_id = session.scalars(select(Intake.id)).one()
    # Bob, of another client, edits an "Start intake" button's value in his own channel to
    # the IDs of intakes that are not his: he must not learn whose they are.
    blue = onboard_client(onboard, people, playbook="tiny-intake", name="Blue Widgets")
    assert blue.channel_id is not None
    bob = workspace.add_user("bob.blue", team_id="T0BLUE", email="bob@blue.example")
    onboard.workspace.channels[blue.channel_id].members.append(bob.id)

    def crafted_start() -> str:
        before = len([e for e in onboard.workspace.ephemerals if e.user == bob.id])
        button = {"type": "button", "action_id": "intake_start", "value": str(intake_id)}
        onboard.driver.act(bob.id, blue.channel_id or "", "1.000001", {**button, "block_id": "x"})
        return onboard.wait_until(
            lambda: [e.text for e in onboard.workspace.ephemerals if e.user == bob.id][before:]
        )[-1]

    def crafted_page() -> str:  # intake_goto: a page of the intake his modal's metadata names
        with pytest.raises(NotAllowed) as refused:
            onboard.bot.intake.show_page(PageRef(intake=intake_id, page=1), bob.id)
        return str(refused.value)

    while_under_way = [crafted_start(), crafted_page()]
    # Zephyr completes its onboarding: the refusal that says so is for its own people only.
    for text in ("gate data-verified pass on a call", "advance", "advance"):
        onboard.driver.command(people.am.id, text, channel_id=zephyr.channel_id)
    with onboard.bot.db.transaction() as session:
        assert session.get_one(Client, zephyr.id).status == "completed"
    once_completed = [crafted_start(), crafted_page()]

    for text in while_under_way + once_completed:
        assert "Zephyr" not in text and "completed" not in text, text
        assert "Only the client's own people, in its channel," in text, text
    assert onboard.workspace.open_views_for(bob.id) == []
    assert "not_in_channel" in refusals(onboard) and "client_closed" not in refusals(onboard)


def test_erasing_a_client_leaves_none_of_its_words_anywhere(
    shared: Running, people: People
) -> None:
    fill_everything(shared, people.client.id)
    say(shared, people.am.id, "deliverable")
    view_id = shared.wait_for_view(people.am.id)
    shared.driver.submit_view(
        people.am.id,
        view_id,
        {
            "title": "Acme brand book",
            "description": "For Carla Client",
            "approvers": [people.client.id],
        },
    )
    shared.deliver()
    shared.driver.click_button(people.client.id, channel_of(shared), "request_changes")
    view_id = shared.wait_for_view(people.client.id)
    shared.driver.submit_view(people.client.id, view_id, {"reason": "Carla wants ops@acme.example"})
    shared.deliver()

    erase(shared)
    with shared.bot.db.transaction() as session:
        dump = "\n".join(
            str(row)
            for table in Base.metadata.sorted_tables
            if table.name != "audit_events"
            for row in session.execute(table.select())
        )
        assert audit.verify_database(session)[1] is None
    for words in ("ops@acme.example", "carla@acme.example", "Carla", "Acme Rockets Ltd", "CMS"):
        assert words not in dump, words


def test_a_team_member_named_an_approver_still_cannot_fill_the_intake(
    shared: Running, people: People
) -> None:
    # Separation of duties: the team reviews the client's word, it does not write it.
    engineer = people.engineer.id
    say(shared, people.am.id, f"approvers add <@{engineer}|eric>")
    shared.workspace.channels[channel_of(shared)].members.append(engineer)
    shared.driver.click_button(engineer, channel_of(shared), "intake_start")
    assert "for Acme Rockets's people to fill in" in told(shared, engineer)
    assert shared.workspace.open_views_for(engineer) == []


def test_a_required_file_already_uploaded_answers_it_when_its_page_is_saved_again(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    optional = "{key: files, label: Brand files, kind: file, max_files: 2}"
    required = optional.replace("kind: file,", "kind: file, required: true,")
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK.replace(optional, required))
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    enter_intake(onboard, people)
    carla = people.client.id
    view_id = start(onboard, carla)
    for page in (PAGE_1, PAGE_2):
        fill(onboard, carla, view_id, page)
    assert fill(onboard, carla, view_id, PAGE_3)["view"]["callback_id"] == "intake_review"

    # Back on the last page to change the time zone: Slack sends the file input back empty.
    page = PageRef(intake=the_intake(onboard).id, page=2)
    changed = {**PAGE_3, "files": [], "timezone": "Europe/London"}
    assert onboard.bot.intake.save(page, changed, audit.Cause(carla)).errors == {}
    assert stored(onboard)["timezone"][0] == "Europe/London"
    assert stored(onboard)["files"][0] == PAGE_3["files"]


def test_a_colleagues_page_opened_earlier_does_not_clear_or_overwrite_answers(
    shared: Running, people: People, workspace: Any
) -> None:
    carla, sam, carla_view, sam_view = two_fillers(shared, people, workspace)  # on page 1
    fill(shared, carla, carla_view, PAGE_1)  # Carla answers it, and goes on to page 2

    # Sam's page still shows it empty; he fixes only the website and goes on.
    answer = fill(shared, sam, sam_view, {"website": "https://shop.acme.example"})
    assert "errors" not in answer  # Carla's answers count: nothing is missing
    kept = {key: value for key, (value, _) in stored(shared).items() if key in PAGE_1}
    assert kept == {**PAGE_1, "website": "https://shop.acme.example", "phone": "+442079460958"}

    # Now both on page 2: Carla answers it; Sam, on his empty copy, presses Back.
    fill(shared, carla, carla_view, PAGE_2)
    before = {key: value for key, value in stored(shared).items() if key in PAGE_2}
    press(shared, sam, sam_view, "intake_back")
    assert {key: value for key, value in stored(shared).items() if key in PAGE_2} == before
    assert len(before) == len(PAGE_2)


def erase(onboard: Running) -> None:
    """The client's data is erased (a GDPR request), as `onboard client erase` does."""
    with onboard.bot.db.transaction() as session:
        client = session.scalars(select(Client)).one()
        erase_client(
            session,
            client,
            audit.Cause.system(),
            reason="GDPR request",
            now=dt.datetime.now(dt.UTC),
        )
    onboard.deliver()


def refusals(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return [
            e.details["why"]
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "intake.refused")
            )
        ]


def test_an_erased_clients_intake_loses_its_button_and_takes_no_more_answers(
    shared: Running, people: People
) -> None:
    carla, alice = people.client.id, people.am.id
    view_id = start(shared, carla)
    fill(shared, carla, view_id, PAGE_1)  # she is on page 2 when the client asks for erasure
    erase(shared)

    # The intake message stays in the channel, closed: its Start button is gone.
    assert intake_messages(shared) == []
    closed = [m for m in shared.workspace.messages_in(channel_of(shared)) if "closed" in m.text]
    assert closed and "takes no more answers" in json.dumps(closed[-1].blocks)
    assert the_intake(shared).status == "closed"

    # Page 2, still open, is refused where she typed it; nothing she typed is kept.
    answer = fill(shared, carla, view_id, PAGE_2)
    assert answer["response_action"] == "errors"
    assert "records were erased" in next(iter(answer["errors"].values()))
    assert stored(shared) == {}
    # An old link to the intake (its changes message, a forged click) opens nothing.
    with pytest.raises(NotAllowed, match="records were erased"):
        shared.bot.intake.start(the_intake(shared).id, carla)
    assert "client_erased" in refusals(shared)

    # Nor does the team post it again; its status says why.
    assert "records were erased" in say(shared, alice, "intake")
    assert intake_messages(shared) == []
    assert "closed (the client's records were erased)" in say(shared, alice, "intake status")


def test_an_erased_clients_summary_loses_its_review_buttons(
    shared: Running, people: People
) -> None:
    carla, alice = people.client.id, people.am.id
    fill(shared, carla, fill_everything(shared, carla), {})  # submitted for review
    shared.deliver()
    dm = dm_of(shared, alice)
    summary_ts = shared.workspace.messages_in(dm)[-1].ts
    erase(shared)

    summary = next(m for m in shared.workspace.messages_in(dm) if m.ts == summary_ts)
    assert "intake_verify" not in json.dumps(summary.blocks)
    assert "Acme Rockets Ltd" not in json.dumps(summary.blocks)  # the answers went with it
    assert "records were erased" in json.dumps(summary.blocks)
    # A click on the old buttons, sent before the update landed, is told why.
    with pytest.raises(NotAllowed, match="records were erased"):
        shared.bot.intake.verify(the_intake(shared).id, audit.Cause(alice))


def test_a_client_erased_before_its_intake_stage_is_never_asked_for_it(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    erase(onboard)  # at kickoff; the team carries on with the journey all the same
    enter_intake(onboard, people)
    assert intake_messages(onboard) == []
    with onboard.bot.db.transaction() as session:
        assert session.scalars(select(Intake)).all() == []


def test_a_completed_clients_intake_takes_no_more_answers(shared: Running, people: People) -> None:
    carla, alice = people.client.id, people.am.id
    view_id = start(shared, carla)
    fill(shared, carla, view_id, PAGE_1)  # page 2 is open on her screen
    # The team takes the rest on a call and finishes the onboarding.
    say(shared, alice, "gate data-verified pass details taken on a call")
    assert "moved on" in say(shared, alice, "advance")
    assert "completed onboarding" in say(shared, alice, "advance")

    answer = fill(shared, carla, view_id, PAGE_2)
    assert answer["response_action"] == "errors"
    assert "has completed onboarding" in next(iter(answer["errors"].values()))
    assert not set(PAGE_2) & set(stored(shared))
    assert "client_closed" in refusals(shared)
    assert "has completed onboarding" in say(shared, alice, "intake")


def test_back_with_a_mistyped_answer_stays_on_the_page_and_says_how_to_fix_it(
    shared: Running, people: People
) -> None:
    carla = people.client.id
    view_id = start(shared, carla)
    fill(shared, carla, view_id, PAGE_1)
    # On page 2 she types 5,000 users (at most 500) and presses Back to check page 1.
    press(shared, carla, view_id, "intake_back", {**PAGE_2, "users": "5000"})
    assert "Page 2 of 3" in view_text(shared, view_id)  # still here, her typing kept by Slack
    assert "Enter a number from 1 to 500." in view_text(shared, view_id)
    assert "users" not in stored(shared) and stored(shared)["mfa"][0] is True  # the rest kept

    # Fixed, Back goes back; a required answer left empty is no reason to stay.
    press(shared, carla, view_id, "intake_back", {**PAGE_2, "users": "50", "mfa": None})
    assert "Page 1 of 3" in view_text(shared, view_id)
    assert "Enter a number" not in view_text(shared, view_id)
    assert stored(shared)["users"][0] == 50


def test_a_contacts_new_email_unlinks_the_old_persons_slack_account(
    shared: Running, people: People, workspace: Any
) -> None:
    carla, alice = people.client.id, people.am.id
    olly = workspace.add_user("olly.ops", team_id="T0CLIENT", email="ops@acme.example").id
    nina = workspace.add_user("nina.ops", team_id="T0CLIENT", email="nina@acme.example").id
    view_id = fill_everything(shared, carla)  # day-to-day contact: ops@acme.example, Olly
    fill(shared, carla, view_id, {})
    shared.deliver()
    dm = dm_of(shared, alice)
    shared.driver.click_button(alice, dm, "intake_verify")
    assert "Data verified" in told(shared, alice)
    start(shared, carla)  # any intake action links the contacts to Slack by email

    def day_to_day() -> tuple[str, str | None]:
        with shared.bot.db.transaction() as session:
            client = session.scalars(select(Client)).one()
            contact = next(c for c in client.contacts if c.role == "day-to-day")
            return contact.email, contact.slack_user_id

    assert day_to_day() == ("ops@acme.example", olly)

    # Olly leaves: the team sends the journey back, and asks who it is now.
    say(shared, alice, "back intake new day-to-day contact")
    shared.driver.click_button(alice, dm, "intake_changes")
    changes_view = shared.wait_for_view(alice)
    fill(shared, alice, changes_view, {"fields": ["email"], "note": "Olly left: who is it now?"})
    shared.deliver()
    view_id = start(shared, carla)
    fill(shared, carla, view_id, {"email": "nina@acme.example"})
    fill(shared, carla, view_id, {})
    shared.deliver()
    shared.driver.click_button(alice, dm, "intake_verify")
    shared.wait_until(lambda: day_to_day()[0] == "nina@acme.example")
    assert day_to_day() == ("nina@acme.example", None)  # not Olly's account any more

    start(shared, carla)  # the next lookup by email finds Nina's
    assert day_to_day() == ("nina@acme.example", nina)


def test_a_contacts_new_slack_account_drops_the_previous_persons_email(
    start_bot: BotFactory, tmp_path: Path, people: People, workspace: Any
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    sponsor = "{key: sponsor, label: Sponsor, kind: user}"
    mapped = "{key: sponsor, label: Sponsor, kind: user, maps_to: contacts.primary.slack_user}"
    (folder / "tiny-intake.yaml").write_text(INTAKE_PLAYBOOK.replace(sponsor, mapped))
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    enter_intake(onboard, people)
    carla, alice = people.client.id, people.am.id
    sam = workspace.add_user("sam.client", team_id="T0CLIENT").id

    def primary() -> tuple[str, str | None]:
        with onboard.bot.db.transaction() as session:
            client = session.scalars(select(Client)).one()
            contact = next(c for c in client.contacts if c.role == "primary")
            return contact.email, contact.slack_user_id

    view_id = start(onboard, carla)  # links the primary contact, Carla, by her email
    carla_email = primary()[0]
    assert primary() == (carla_email, carla) and carla_email
    # Carla names Sam as the primary contact's Slack account from now on.
    for values in (PAGE_1, PAGE_2, {**PAGE_3, "sponsor": sam}):
        fill(onboard, carla, view_id, values)
    fill(onboard, carla, view_id, {})
    onboard.deliver()
    onboard.driver.click_button(alice, dm_of(onboard, alice), "intake_verify")
    assert "Data verified" in told(onboard, alice)
    assert primary() == ("", sam)  # Carla's address is not left beside Sam's account


def big_intake(start_bot: BotFactory, tmp_path: Path, people: People) -> Running:
    """A client whose questionnaire is as long as a playbook may make it: 5 pages of 20
    questions, all answered and submitted for review."""
    pages = []
    for p in range(5):
        questions = "\n".join(
            f"        - {{key: q{p}-{i}, label: Question {p}-{i}, kind: text}}"
            for i in range(MAX_PAGE_QUESTIONS)
        )
        pages.append(f"    - key: page{p}\n      title: Page {p}\n      questions:\n{questions}")
    playbook = INTAKE_PLAYBOOK.split("  pages:\n")[0] + "  pages:\n" + "\n".join(pages) + "\n"
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny-intake.yaml").write_text(playbook)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny-intake")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    enter_intake(onboard, people)
    carla = people.client.id
    view_id = start(onboard, carla)
    for p in range(5):
        fill(onboard, carla, view_id, {f"q{p}-{i}": "first answer" for i in range(20)})
    assert fill(onboard, carla, view_id, {})["view"]["callback_id"] == "intake_done"
    onboard.deliver()
    return onboard


BIG_KEYS = [f"q{p}-{i}" for p in range(5) for i in range(20)]


def test_a_reviewer_reopens_at_most_a_page_of_answers_and_is_told_so(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    onboard = big_intake(start_bot, tmp_path, people)
    carla, alice = people.client.id, people.am.id
    onboard.driver.click_button(alice, dm_of(onboard, alice), "intake_changes")
    changes_view = onboard.wait_for_view(alice)
    assert blocks_of(onboard, changes_view)["fields"]["max_selected_items"] == MAX_PAGE_QUESTIONS

    # Every answer (from a form Slack did not limit): refused under the list, saying how many.
    answer = fill(onboard, alice, changes_view, {"fields": BIG_KEYS, "note": "Check them all."})
    assert answer["response_action"] == "errors"
    assert f"at most {MAX_PAGE_QUESTIONS} answers" in answer["errors"]["fields"]
    assert the_intake(onboard).status == "submitted"

    # A page's worth opens as one page for the client, and goes back for review.
    wanted = BIG_KEYS[10:30]
    answer = fill(onboard, alice, changes_view, {"fields": wanted, "note": "Check these."})
    assert answer == {"response_action": "clear"}
    onboard.deliver()
    view_id = start(onboard, carla)
    assert list(blocks_of(onboard, view_id)) == wanted
    review = fill(onboard, carla, view_id, {k: "second answer" for k in wanted})
    assert review["view"]["submit"]["text"] == "Submit"


def test_an_intake_reopened_wider_than_a_page_before_the_limit_is_updated_page_by_page(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    onboard = big_intake(start_bot, tmp_path, people)
    carla = people.client.id
    with onboard.bot.db.transaction() as session:  # as a reviewer could before the limit
        intake = session.scalars(select(Intake)).one()
        intake.status, intake.reopened, intake.review_note = "changes_requested", BIG_KEYS, "All"

    view_id = start(onboard, carla)
    for n in range(5):
        page = BIG_KEYS[20 * n : 20 * n + 20]
        assert list(blocks_of(onboard, view_id)) == page
        last = n == 4
        assert onboard.workspace.views[view_id].submit["text"] == ("Review" if last else "Next")
        answer = fill(onboard, carla, view_id, {k: "second answer" for k in page})
        assert answer["view"]["callback_id"] == ("intake_review" if last else "intake_page")
    assert fill(onboard, carla, view_id, {})["view"]["callback_id"] == "intake_done"
    assert {value for value, _ in stored(onboard).values()} == {"second answer"}


def test_erasing_a_completed_client_whose_channel_is_archived_sends_nothing_that_fails(
    shared: Running, people: People
) -> None:
    # Retention erases a completed client months later, its channel archived: its intake is
    # closed without updating a message Slack would refuse to touch (is_archived).
    carla, alice = people.client.id, people.am.id
    fill(shared, carla, start(shared, carla), PAGE_1)
    say(shared, alice, "gate data-verified pass details taken on a call")
    assert "moved on" in say(shared, alice, "advance")
    assert "completed onboarding" in say(shared, alice, "advance")
    shared.deliver()
    shared.workspace.channels[channel_of(shared)].is_archived = True
    erase(shared)

    with shared.bot.db.transaction() as session:
        failed = session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.status == "failed")
        ).all()
        status = session.scalars(select(Intake.status)).one()
    assert failed == [] and status == "closed"
