"""Whatever people type, the bot answers in words: an inline error or escaped text, no crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import People, Running
from tests.handlers.test_journey import channel_of
from tests.handlers.test_new_client import good_form, onboard_client

nasty = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "<!channel>",
            "<!here> <@U0BOT>",
            "'; DROP TABLE clients; --",
            "{{ 7*7 }} {% raw %}",
            "\u202eevil\u202c",
            "مرحبا بالعالم",
            "🚀" * 50,
            "x" * 3500,
            "*bold* _it_ ~s~ `code` <https://x.io|click>",
            "\x00\x1f",
        ]
    ),
)
subcommands = st.sampled_from(
    [
        "",
        "help",
        "status",
        "advance",
        "back",
        "task",
        "task add",
        "task done",
        "task assign",
        "gate",
        "mute reminders",
        "approvers",
        "approvers add",
        "deliverable",
        "new",
        "zzz",
    ]
)
slow = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def no_injected_ping(answer: dict[str, object]) -> None:
    shown = json.dumps(answer)
    assert "<!channel>" not in shown and "<!here>" not in shown
    assert "<https://x.io" not in shown


@slow
@given(subcommand=subcommands, words=nasty)
def test_any_command_text_gets_a_private_answer_in_words(
    onboard: Running, people: People, subcommand: str, words: str
) -> None:
    answer = onboard.driver.command(people.am.id, f"{subcommand} {words}".strip())
    assert answer.status == 200, answer.text
    if answer.body:
        no_injected_ping(answer.json())


@slow
@given(
    field=st.sampled_from(
        ["name", "contact_name", "contact_email", "timezone", "country", "go_live", "tier"]
    ),
    value=nasty,
)
def test_any_value_in_the_new_client_form_is_an_inline_error_or_a_client(
    onboard: Running, people: People, field: str, value: str
) -> None:
    onboard.driver.command(people.am.id, "new")
    view_id = onboard.wait_for_view(people.am.id)
    answer = onboard.driver.submit_view(people.am.id, view_id, good_form(**{field: value}))
    assert answer.status == 200, answer.text
    body = answer.json()
    assert body["response_action"] in ("errors", "update")
    if body["response_action"] == "errors":
        assert set(body["errors"]) <= {field, "name"}
    onboard.workspace.close_views(people.am.id)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=nasty)
def test_typed_reasons_and_titles_land_escaped_in_the_channel(
    onboard: Running, people: People, words: str
) -> None:
    if not onboard.workspace.channel_by_name("client-acme-rockets"):
        onboard_client(onboard, people)
    channel = channel_of(onboard)
    onboard.driver.command(people.am.id, f"task add {words}", channel_id=channel)
    onboard.driver.command(people.admin.id, f"advance --force {words}", channel_id=channel)
    onboard.driver.command(people.am.id, f"back 1 {words}", channel_id=channel)
    onboard.deliver()
    for message in onboard.workspace.messages_in(channel):
        no_injected_ping({"text": message.text, "blocks": message.blocks})
