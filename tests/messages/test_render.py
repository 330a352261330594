"""Every message the bot builds shows typed text as typed, and never pings anyone."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard.bot.playbook_files import available
from onboard.messages.render import (
    RenderError,
    environment,
    escape_mrkdwn,
    render_message,
    render_view,
)
from tests.messages.refused_by_slack import (
    MESSAGE_TOO_LONG,
    REFUSED_IN_MESSAGES,
    REFUSED_IN_VIEWS,
    TAKEN_BY_SLACK,
    TEXT_INPUT,
    field,
    mrkdwn,
    plain,
)


@dataclass
class ClientShown:
    name: str
    tier: str = "Gold"
    account_manager: str = "U0ALICE"
    go_live: dt.date = dt.date(2027, 1, 7)
    channel_id: str = "C0ACME"


def welcome(name: str) -> dict[str, object]:
    playbook = available()["managed-services"]
    return render_message(
        "welcome",
        client=ClientShown(name),
        playbook=playbook,
        stage=playbook.stages[0],
        team=["U0ALICE"],
        slack_connect=False,
    )


names = st.text(min_size=1, max_size=300).filter(lambda s: any(c.isalnum() for c in s))
hostile = st.sampled_from(["<!channel>", "<!here>", "<@U0BOSS>", "<https://x.io|bank>", "&", ">"])


@given(st.lists(st.one_of(names, hostile), min_size=1, max_size=5).map(" ".join))
def test_any_client_name_renders_a_valid_welcome_that_cannot_ping(name: str) -> None:
    message = welcome(name)
    shown = json.dumps(message, ensure_ascii=False)
    assert "<!" not in shown
    assert "<http" not in shown
    assert shown.count("<@") == shown.count("<@U0ALICE>")
    header = message["blocks"][0]["text"]["text"]  # type: ignore[index]
    assert len(header) <= 150


def test_a_short_name_is_shown_exactly_as_typed() -> None:
    header = welcome("Tom & Jerry <Ltd>")["blocks"][0]["text"]["text"]  # type: ignore[index]
    assert header == "Welcome, " + escape_mrkdwn("Tom & Jerry <Ltd>") + "!"


def test_a_long_name_full_of_ampersands_is_cut_without_breaking_an_entity() -> None:
    header = welcome("&" * 149)["blocks"][0]["text"]["text"]  # type: ignore[index]
    assert len(header) <= 150 and header.endswith("&amp;…")


@given(st.text(max_size=3000))
def test_the_new_client_modal_prefills_any_typed_name_verbatim(name: str) -> None:
    view = render_view(
        "new_client_modal",
        metadata="{}",
        name=name[:150],
        tiers=("Gold",),
        timezone=None,
        playbooks={"managed-services": "Managed services"},
        default_playbook="managed-services",
    )
    element = view["blocks"][1]["element"]
    assert element.get("initial_value", "") == name[:150]


def test_a_mention_of_anything_but_an_id_is_refused() -> None:
    with pytest.raises(RenderError):
        render_message(
            "client_created", client=ClientShown("x", channel_id="<!channel>"), stage=None
        )


# ----- a template with a bug: Slack would refuse what it renders -----


@pytest.fixture
def buggy_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bug` and `bug_view` render whatever they are given, as a template with a bug might."""
    env = environment()
    bugs = jinja2.DictLoader(
        {
            "bug.json.j2": '{"text": "A bug", "blocks": {{ blocks | json }}}',
            "bug_view.json.j2": "{{ view | json }}",
        }
    )
    monkeypatch.setattr(env, "loader", jinja2.ChoiceLoader([bugs, env.loader]))


def modal(blocks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": plain("Bug"),
        "submit": plain("Send"),
        "blocks": blocks,
    } | fields


def pointed_at(pointer: str) -> str:
    return re.escape(f"[json-pointer:{pointer}]")


@pytest.mark.usefixtures("buggy_template")
@pytest.mark.parametrize("case", sorted(REFUSED_IN_MESSAGES))
def test_a_message_slack_would_refuse_is_not_rendered(case: str) -> None:
    blocks, pointer = REFUSED_IN_MESSAGES[case]
    with pytest.raises(RenderError, match=pointed_at(pointer)):
        render_message("bug", blocks=blocks)


@pytest.mark.usefixtures("buggy_template")
@pytest.mark.parametrize("case", sorted(REFUSED_IN_VIEWS))
def test_a_modal_slack_would_refuse_is_not_rendered(case: str) -> None:
    blocks, pointer = REFUSED_IN_VIEWS[case]
    with pytest.raises(RenderError, match=pointed_at(pointer)):
        render_view("bug_view", view=modal(blocks))


@pytest.mark.usefixtures("buggy_template")
def test_two_blocks_of_one_block_id_are_not_rendered() -> None:
    twice = [{"type": "section", "block_id": "same", "text": mrkdwn("x")}] * 2
    with pytest.raises(RenderError, match=pointed_at("/blocks/1/block_id")):
        render_message("bug", blocks=twice)


@pytest.mark.usefixtures("buggy_template")
def test_a_modal_without_a_title_or_with_an_input_and_no_submit_is_not_rendered() -> None:
    with pytest.raises(RenderError, match=pointed_at("/view/title")):
        render_view("bug_view", view={"type": "modal", "blocks": [{"type": "divider"}]})
    with pytest.raises(RenderError, match="submit"):
        render_view("bug_view", view=modal([field(TEXT_INPUT)], submit=None))
    with pytest.raises(RenderError, match=pointed_at("/view/title/type")):
        render_view("bug_view", view=modal([field(TEXT_INPUT)], title=mrkdwn("*Bug*")))


@pytest.mark.usefixtures("buggy_template")
def test_a_message_whose_blocks_slack_would_find_too_long_in_all_is_not_rendered() -> None:
    with pytest.raises(RenderError, match="msg_blocks_too_long"):
        render_message("bug", blocks=MESSAGE_TOO_LONG)
    assert render_message("bug", blocks=MESSAGE_TOO_LONG[:4])["blocks"] == MESSAGE_TOO_LONG[:4]


@pytest.mark.usefixtures("buggy_template")
def test_what_slack_takes_at_each_limit_is_rendered() -> None:
    assert render_message("bug", blocks=TAKEN_BY_SLACK)["blocks"] == TAKEN_BY_SLACK
    view = modal([field(TEXT_INPUT, label=plain("x" * 2000), hint=plain("x" * 2000))])
    assert render_view("bug_view", view=view) == view
