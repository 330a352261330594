"""Every message the bot builds shows typed text as typed, and never pings anyone."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard.bot.playbook_files import available
from onboard.messages.render import RenderError, escape_mrkdwn, render_message, render_view


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
