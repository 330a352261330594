"""An account manager starts onboarding a client with `/onboard new`, over real HTTP."""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import select

from onboard.standin.driver import Answer
from onboard.storage.db import Database
from onboard.storage.models import AuditEvent, Client
from tests.conftest import People, Running

GO_LIVE = (dt.date.today() + dt.timedelta(days=60)).isoformat()


def good_form(**changes: Any) -> dict[str, Any]:
    form = {
        "name": "Acme Rockets",
        "tier": "Gold",
        "contact_name": "Carla Client",
        "contact_email": "carla@acme.example",
        "timezone": "Europe/London",
        "country": "GB",
        "go_live": GO_LIVE,
        "playbook": "managed-services",
    }
    return {**form, **changes}


def saving(answer: Answer) -> bool:
    """A valid form's ack: the modal says it is saving (the client is written after the ack)."""
    body = answer.json()
    return body.get("response_action") == "update" and (
        body["view"]["callback_id"] == "new_client_saving"
    )


def shown(onboard: Running, view_id: str) -> str:
    """What the modal shows once the work after the ack is done: its callback ID."""
    onboard.settle()
    view = onboard.workspace.view(view_id)
    assert view is not None
    return view.callback_id


def open_form(onboard: Running, user_id: str, text: str = "new Acme Rockets") -> str:
    answer = onboard.driver.command(user_id, text)
    assert answer.status == 200
    return onboard.wait_for_view(user_id)


def audit_actions(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_account_manager_onboards_a_client_into_its_own_channel(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    modal = onboard.workspace.view(view_id)
    assert modal is not None and modal.callback_id == "new_client"
    name_block = next(b for b in modal.blocks if b.get("block_id") == "name")
    assert name_block["element"]["initial_value"] == "Acme Rockets"

    answer = onboard.driver.submit_view(people.am.id, view_id, good_form())
    assert answer.status == 200
    assert saving(answer)
    assert shown(onboard, view_id) == "new_client_saved"
    onboard.deliver()

    channel = onboard.workspace.channel_by_name("client-acme-rockets")
    assert channel is not None and channel.is_private
    assert {people.am.id, people.engineer.id} <= set(channel.members)
    assert "Acme Rockets" in channel.topic and "Sales Handoff" in channel.topic
    assert "Acme Rockets" in channel.purpose
    posted = onboard.workspace.messages_in(channel.id)
    welcome = [m for m in posted if "Welcome, Acme Rockets" in m.text]
    assert len(welcome) == 1
    assert [m.ts for m in posted if m.ts in channel.pins] == [posted[-1].ts]  # the journey card
    stages = str(welcome[0].blocks)
    assert "Technical Discovery" in stages and "Transition to BAU" in stages

    dm = [
        c
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.am.id
    ]
    assert len(dm) == 1 and f"<#{channel.id}>" in dm[0].args["text"]

    with onboard.bot.db.transaction() as session:
        client = session.scalars(select(Client)).one()
        assert (client.slug, client.channel_id, client.status) == (
            "acme-rockets",
            channel.id,
            "active",
        )
        assert client.contacts[0].email == "carla@acme.example"
    assert audit_actions(onboard) == [
        "client.created",
        "contact.added",
        "channel.created",
        "channel.topic_set",
        "channel.purpose_set",
        "channel.invited",
        "channel.welcomed",
        "card.pinned",
        "client.confirmation_sent",
    ]


def written_rows(onboard: Running) -> tuple[int, int]:
    with onboard.bot.db.transaction() as session:
        clients = len(session.scalars(select(Client)).all())
        events = len(session.scalars(select(AuditEvent)).all())
    return clients, events


def test_a_client_whose_name_says_payload_opens_the_form_too(
    onboard: Running, people: People
) -> None:
    # Bolt's own body parser reads any form body containing the word "payload" as empty.
    view_id = open_form(onboard, people.am.id, "new payload logistics")

    modal = onboard.workspace.view(view_id)
    assert modal is not None
    name_block = next(b for b in modal.blocks if b.get("block_id") == "name")
    assert name_block["element"]["initial_value"] == "payload logistics"


@pytest.mark.parametrize(
    ("field", "bad", "says"),
    [
        ("name", "   ", "Enter the client's name"),
        ("name", "🚀🚀🚀 !!!", "no usable channel name"),
        ("contact_email", "carla-at-acme", "email address"),
        ("contact_email", "carla@", "email address"),
        ("go_live", "2020-01-01", "in the past"),
        ("contact_name", "", "primary contact's name"),
        ("timezone", "Mars/Olympus_Mons", "timezone"),
        ("country", "XX", "country"),
        ("tier", "Diamond", "Platinum, Gold or Silver"),
        ("playbook", "no-such-playbook", "playbooks listed"),
    ],
)
def test_bad_input_keeps_the_modal_open_with_a_message_under_the_field(
    onboard: Running, people: People, field: str, bad: str, says: str
) -> None:
    view_id = open_form(onboard, people.am.id)

    answer = onboard.driver.submit_view(people.am.id, view_id, good_form(**{field: bad}))

    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [field]
    assert says in body["errors"][field]
    onboard.deliver()
    assert written_rows(onboard) == (0, 0)
    assert onboard.workspace.calls_to("conversations.create") == []


def test_several_bad_fields_each_get_their_own_message(onboard: Running, people: People) -> None:
    view_id = open_form(onboard, people.am.id)
    form = good_form(name="", contact_email="nope", go_live="2001-09-09")
    errors = onboard.driver.submit_view(people.am.id, view_id, form).json()["errors"]
    assert set(errors) == {"name", "contact_email", "go_live"}


def test_a_form_whose_opening_answer_was_lost_is_open_and_nobody_is_told_otherwise(
    onboard: Running, people: People
) -> None:
    # Slack opened the modal, then the connection dropped before its answer: the client sends
    # the call again, and Slack says the trigger was used, by that first send.
    onboard.workspace.inject("views.open", lose_answer=True)

    onboard.driver.command(people.am.id, "new")

    assert onboard.wait_for_view(people.am.id)
    onboard.settle()
    assert len(onboard.workspace.open_views_for(people.am.id)) == 1
    assert [r.payload for r in onboard.workspace.responses] == []  # no "Slack was slow"


@pytest.mark.parametrize("who", ["client", "guest"])
def test_someone_outside_the_team_is_told_the_command_is_not_for_them(
    onboard: Running, people: People, who: str
) -> None:
    user = getattr(people, who)
    for text in ("new Acme", "help", ""):
        answer = onboard.driver.command(user.id, text)
        assert answer.status == 200
        assert "for the onboarding team" in answer.json()["text"]
    time.sleep(0.2)  # the bot would open a modal after the ack: give it the chance to misbehave
    assert onboard.workspace.open_views_for(user.id) == []
    assert written_rows(onboard) == (0, 0)


def test_a_form_submitted_by_someone_outside_the_team_writes_nothing(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    answer = onboard.driver.submit_view(people.client.id, view_id, good_form())
    assert answer.json()["response_action"] == "errors"
    assert written_rows(onboard) == (0, 0)


def test_help_lists_the_commands(onboard: Running, people: People) -> None:
    body = onboard.driver.command(people.engineer.id, "help").json()
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert "/onboard new" in str(body["blocks"])


def test_an_unknown_subcommand_says_so_and_shows_help(onboard: Running, people: People) -> None:
    body = onboard.driver.command(people.engineer.id, "frobnicate <!channel>").json()
    text = str(body["blocks"])
    assert "I don't know `/onboard frobnicate`" in text
    assert "/onboard new" in text


def onboard_client(onboard: Running, people: People, **changes: Any) -> Client:
    view_id = open_form(onboard, people.am.id, "new")
    answer = onboard.driver.submit_view(people.am.id, view_id, good_form(**changes))
    assert saving(answer), answer.text
    assert shown(onboard, view_id) == "new_client_saved"
    onboard.workspace.close_views(people.am.id)  # "Done"
    onboard.deliver()
    with onboard.bot.db.transaction() as session:
        return session.scalars(select(Client).order_by(Client.id.desc())).first()  # type: ignore[return-value]


def test_a_taken_channel_name_gets_a_numbered_suffix(onboard: Running, people: People) -> None:
    onboard.workspace.add_channel("client-acme-rockets", creator=people.engineer.id)

    first = onboard_client(onboard, people)
    second = onboard_client(onboard, people)

    assert (first.slug, first.channel_name) == ("acme-rockets", "client-acme-rockets-2")
    assert (second.slug, second.channel_name) == ("acme-rockets-2", "client-acme-rockets-2-2")
    assert first.status == second.status == "active"


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("Café Zoë & Co", "client-cafe-zoe-co"),
        ("🚀 Rocket 🚀 Science", "client-rocket-science"),
        ("Москва Logistics", "client-moskva-logistics"),
        ("A" * 150, "client-" + "a" * 70),
    ],
)
def test_names_are_cleaned_into_channel_names_slack_accepts(
    onboard: Running, people: People, name: str, channel: str
) -> None:
    client = onboard_client(onboard, people, name=name)
    assert client.channel_name == channel
    assert client.name == name
    assert len(channel) <= 80


def test_typed_text_can_never_ping_or_fake_a_link(onboard: Running, people: People) -> None:
    hostile = "<!channel> <@U0BOT> Tom & Jerry <https://evil.example|bank>"
    client = onboard_client(onboard, people, name=hostile)
    posted = [c.args for c in onboard.workspace.calls_to("chat.postMessage")]
    topics = [c.args["topic"] for c in onboard.workspace.calls_to("conversations.setTopic")]
    for text in [str(p.get("blocks")) + p.get("text", "") for p in posted] + topics:
        assert "<!channel>" not in text
        assert "<@U0BOT>" not in text
        assert "<https://evil" not in text
        assert " & " not in text
    assert "&lt;!channel&gt;" in str(posted[0]["blocks"])
    assert client.name == hostile


def test_submitting_the_same_form_twice_creates_one_client(
    onboard: Running, people: People
) -> None:
    # Slack shows an error when the ack is late, and the form stays; the person presses submit
    # again, on the same form.
    view_id = open_form(onboard, people.am.id)
    form = copy.deepcopy(onboard.workspace.views[view_id])
    first = onboard.driver.submit_view(people.am.id, view_id, good_form())
    onboard.workspace.views[view_id] = form  # the late ack's "Saving…" never showed
    again = onboard.driver.submit_view(people.am.id, view_id, good_form())
    assert saving(first) and saving(again)
    onboard.deliver()
    assert written_rows(onboard)[0] == 1
    assert (
        len([c for c in onboard.workspace.channels.values() if c.name.startswith("client-")]) == 1
    )


def test_two_clients_with_one_long_name_each_get_a_channel_within_slacks_80_characters(
    onboard: Running, people: People
) -> None:
    name = "A" * 150  # the form takes 150 characters; a slug keeps 70 of them
    onboard.workspace.add_channel("client-" + "a" * 70, creator=people.engineer.id)  # taken
    first = onboard_client(onboard, people, name=name)
    second = onboard_client(onboard, people, name=name)  # its slug ends "-2" already

    names = [first.channel_name, second.channel_name]
    assert all(n is not None and len(n) <= 80 for n in names), names
    assert second.status == "active" and len(set(names)) == 2


# -- regions: where public holidays differ within a country ---------------------------------------


def suggested(onboard: Running, user_id: str, view_id: str, typed: str) -> list[tuple[str, str]]:
    answer = onboard.driver.suggest(user_id, view_id, "country", typed).json()
    return [(o["value"], o["text"]["text"]) for o in answer["options"]]


def test_typing_a_region_or_a_country_code_finds_the_regions_with_their_own_holidays(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)

    assert suggested(onboard, people.am.id, view_id, "England") == [
        ("GB-ENG", "United Kingdom — England (GB-ENG)")
    ]
    assert [v for v, _ in suggested(onboard, people.am.id, view_id, "Bavaria")] == ["DE-BY"]
    assert [v for v, _ in suggested(onboard, people.am.id, view_id, "Bayern")] == ["DE-BY"]
    assert [v for v, _ in suggested(onboard, people.am.id, view_id, "texas")] == ["US-TX"]
    # The country's code: the country first (a client with no region), then its regions.
    assert [v for v, _ in suggested(onboard, people.am.id, view_id, "GB")] == [
        "GB",
        "GB-ENG",
        "GB-NIR",
        "GB-SCT",
        "GB-WLS",
    ]
    states = [v for v, _ in suggested(onboard, people.am.id, view_id, "us")]
    assert states[0] == "US" and "US-TX" in states and "US-WY" in states
    # The German city holidays has a calendar for is no ISO region: the calendar would read
    # it as the whole of Germany, so it is not offered.
    assert suggested(onboard, people.am.id, view_id, "Augsburg") == []


def test_a_client_in_england_is_saved_with_its_region(onboard: Running, people: People) -> None:
    client = onboard_client(onboard, people, country="GB-ENG")
    assert (client.country, client.status) == ("GB-ENG", "active")


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("GB-XYZ", "GB-XYZ: GB has no region XYZ; known: GB-ENG, GB-NIR, GB-SCT, GB-WLS"),
        # Read as the calendar reads it, upper case: the city is no region of its own.
        ("DE-Augsburg", "DE-AUGSBURG: DE has no region AUGSBURG; known: DE-BB, DE-BE,"),
        ("GB-ENG-LND", "GB-ENG-LND: GB has no region ENG-LND; known: GB-ENG, GB-NIR,"),
        ("ENG", "ENG: no public holidays known for country ENG;"),
        ("US-XX", "US-XX: US has no region XX; known: US-AK, US-AL,"),
    ],
)
def test_a_region_the_holidays_are_not_known_for_is_named_under_the_country_field(
    onboard: Running, people: People, bad: str, says: str
) -> None:
    view_id = open_form(onboard, people.am.id)
    body = onboard.driver.submit_view(people.am.id, view_id, good_form(country=bad)).json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == ["country"]
    message = body["errors"]["country"]
    assert message.startswith(says)
    assert len(message) <= 150  # Slack's field errors are short; 57 US regions are not listed
    assert written_rows(onboard) == (0, 0)


def test_a_mistyped_region_is_named_and_the_corrected_one_is_saved(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)

    mistyped = onboard.driver.submit_view(people.am.id, view_id, good_form(country="GB-XYZ"))
    assert mistyped.json()["errors"] == {
        "country": "GB-XYZ: GB has no region XYZ; known: GB-ENG, GB-NIR, GB-SCT, GB-WLS"
    }
    # Lower case and spaces are read as the calendar reads them, upper case and trimmed.
    lower = onboard.driver.submit_view(people.am.id, view_id, good_form(country=" gb-xyz "))
    assert lower.json()["errors"]["country"].startswith("GB-XYZ: GB has no region XYZ;")
    # The list's own codes are exact: a lower-case one is not one of its options.
    assert onboard.driver.submit_view(people.am.id, view_id, good_form(country="gb-eng")).json()[
        "errors"
    ] == {"country": "Choose the client's country or region from the list."}
    assert written_rows(onboard) == (0, 0)

    assert saving(onboard.driver.submit_view(people.am.id, view_id, good_form(country="GB-ENG")))
    assert shown(onboard, view_id) == "new_client_saved"
    with onboard.bot.db.transaction() as session:
        assert session.scalars(select(Client.country)).all() == ["GB-ENG"]


def test_a_country_code_that_is_no_country_says_so_without_repeating_it(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    forged = "<!channel> " + "x" * 300
    body = onboard.driver.submit_view(people.am.id, view_id, good_form(country=forged)).json()
    assert body["errors"] == {
        "country": "Not a country or region code: use an ISO 3166 code such as GB, or GB-ENG."
    }


def test_a_form_that_could_not_be_saved_comes_back_with_its_region_chosen(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    onboard.bot.onboarding.db = Database("postgresql+psycopg://nobody@127.0.0.1:9/none")

    assert saving(onboard.driver.submit_view(people.am.id, view_id, good_form(country="GB-ENG")))

    assert shown(onboard, view_id) == "new_client"  # the form again, not "saved"
    modal = onboard.workspace.view(view_id)
    assert modal is not None
    country = next(b for b in modal.blocks if b.get("block_id") == "country")
    assert country["element"]["initial_option"] == {
        "text": {"type": "plain_text", "text": "United Kingdom — England"},
        "value": "GB-ENG",
    }
