"""The Slack stand-in, driven over real HTTP by slack_sdk's WebClient.

Checks Slack's refusals, fault injection and the state the tests and the demo rely on.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from onboard.standin import SlackStandIn, Workspace
from tests.messages.refused_by_slack import (
    MESSAGE_TOO_LONG,
    REFUSED_IN_MESSAGES,
    REFUSED_IN_VIEWS,
    TAKEN_BY_SLACK,
    TEXT_INPUT,
    field,
)

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}
MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "New client"},
    "blocks": [SECTION],
}


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as running:
        yield running


@pytest.fixture
def ws(standin: SlackStandIn) -> Workspace:
    return standin.workspace


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    # No retry handlers, so every fault is seen exactly once.
    return WebClient(token=standin.workspace.bot_token, base_url=standin.api_url, retry_handlers=[])


def refusal(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)
    return dict(raised.value.response.data)


def error_of(call: Any, **kwargs: Any) -> str:
    return str(refusal(call, **kwargs)["error"])


# ----- server basics -----


def test_two_stand_ins_listen_on_different_free_ports() -> None:
    with SlackStandIn() as first, SlackStandIn() as second:
        assert first.port != second.port
        assert first.api_url == f"http://127.0.0.1:{first.port}/api/"


def test_auth_test_answers_the_bot_identity(client: WebClient, ws: Workspace) -> None:
    answer = client.auth_test()
    assert answer["ok"] is True
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0HOME", "U0BOT", "B0BOT")


def test_missing_or_unknown_token_and_unknown_method_are_refused(standin: SlackStandIn) -> None:
    assert error_of(WebClient(base_url=standin.api_url).auth_test) == "not_authed"
    assert error_of(WebClient(token="xoxb-wrong", base_url=standin.api_url).auth_test) == (
        "invalid_auth"
    )
    assert error_of(standin.client().api_call, api_method="nope.nothing") == "unknown_method"


def test_form_bodies_accept_json_strings_and_comma_lists(standin: SlackStandIn) -> None:
    ws = standin.workspace
    ann, bea = ws.add_user("ann"), ws.add_user("bea")
    channel = ws.add_channel("acme")

    def post(method: str, fields: dict[str, str]) -> dict[str, Any]:
        body = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(
            standin.api_url + method,
            data=body,
            headers={
                "Authorization": f"Bearer {ws.bot_token}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request) as response:
            return dict(json.loads(response.read()))

    assert post("conversations.invite", {"channel": channel.id, "users": f"{ann.id},{bea.id}"})[
        "ok"
    ]
    posted = post("chat.postMessage", {"channel": channel.id, "blocks": json.dumps([SECTION])})
    assert posted["message"]["blocks"] == [SECTION]
    assert set(channel.members) >= {ann.id, bea.id}


# ----- channels -----


def test_created_channel_is_slack_shaped_and_the_bot_is_a_member(
    client: WebClient, ws: Workspace
) -> None:
    channel = client.conversations_create(name="acme-onboarding", is_private=True)["channel"]
    assert channel["id"].startswith("C") and len(channel["id"]) == 11
    assert channel["name"] == "acme-onboarding"
    assert channel["is_private"] is True and channel["is_member"] is True
    assert channel["creator"] == "U0BOT"
    assert ws.channel_by_name("acme-onboarding").members == ["U0BOT"]


def test_a_taken_name_is_refused_even_when_that_channel_is_archived(
    client: WebClient,
) -> None:
    channel = client.conversations_create(name="acme")["channel"]
    assert error_of(client.conversations_create, name="acme") == "name_taken"
    client.conversations_archive(channel=channel["id"])
    assert error_of(client.conversations_create, name="acme") == "name_taken"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("a" * 81, "invalid_name_maxlength"),
        ("Acme", "invalid_name_specials"),
        ("acme corp", "invalid_name_specials"),
        ("acme!", "invalid_name_specials"),
        ("--_", "invalid_name_punctuation"),
    ],
)
def test_invalid_channel_names_are_refused_like_slack(
    client: WebClient, name: str, error: str
) -> None:
    assert error_of(client.conversations_create, name=name) == error


def test_an_eighty_character_name_is_accepted(client: WebClient) -> None:
    assert client.conversations_create(name="a" * 80)["ok"]


def test_conversations_list_pages_with_a_cursor(client: WebClient) -> None:
    for n in range(5):
        client.conversations_create(name=f"client-{n}")
    # slack_sdk reuses one response object while paging, so read each page as it comes.
    pages = [[c["name"] for c in page["channels"]] for page in client.conversations_list(limit=2)]
    names = [name for page in pages for name in page]
    assert [len(page) for page in pages] == [2, 2, 2]
    assert names == ["general"] + [f"client-{n}" for n in range(5)]


def test_private_channels_are_listed_only_when_the_bot_is_a_member(
    client: WebClient, ws: Workspace
) -> None:
    ws.add_channel("secret", is_private=True, members=[])
    client.conversations_create(name="ours", is_private=True)
    listed = client.conversations_list(types="private_channel")["channels"]
    assert [c["name"] for c in listed] == ["ours"]


def test_topic_longer_than_250_characters_is_too_long(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    assert error_of(client.conversations_setTopic, channel=channel, topic="x" * 251) == "too_long"
    topic = client.conversations_setTopic(channel=channel, topic="x" * 250)["channel"]["topic"]
    assert topic["value"] == "x" * 250


def test_topic_needs_the_bot_in_the_channel(client: WebClient, ws: Workspace) -> None:
    channel = ws.add_channel("elsewhere", members=[])
    assert error_of(client.conversations_setTopic, channel=channel.id, topic="t") == (
        "not_in_channel"
    )


# ----- invites -----


def test_inviting_only_members_answers_already_in_channel_with_errors(
    client: WebClient, ws: Workspace
) -> None:
    ann = ws.add_user("ann")
    channel = client.conversations_create(name="acme")["channel"]["id"]
    client.conversations_invite(channel=channel, users=[ann.id])
    answer = refusal(client.conversations_invite, channel=channel, users=[ann.id])
    assert answer["error"] == "already_in_channel"
    assert answer["errors"] == [{"user": ann.id, "ok": False, "error": "already_in_channel"}]


def test_invite_refuses_people_of_other_teams(client: WebClient, ws: Workspace) -> None:
    outsider = ws.add_user("carol", team_id="T0CLIENT")
    channel = client.conversations_create(name="acme")["channel"]["id"]
    assert error_of(client.conversations_invite, channel=channel, users=[outsider.id]) == (
        "cant_invite"
    )


def test_invite_with_force_invites_the_valid_users_and_lists_the_rest(
    client: WebClient, ws: Workspace
) -> None:
    ann = ws.add_user("ann")
    channel = client.conversations_create(name="acme")["channel"]["id"]
    answer = client.conversations_invite(channel=channel, users=[ann.id, "U0NOBODY00"], force=True)
    assert answer["errors"] == [{"user": "U0NOBODY00", "ok": False, "error": "user_not_found"}]
    assert ann.id in ws.channels[channel].members


def test_invite_without_force_fails_whole_call_on_one_bad_user(
    client: WebClient, ws: Workspace
) -> None:
    ann = ws.add_user("ann")
    channel = client.conversations_create(name="acme")["channel"]["id"]
    error = error_of(client.conversations_invite, channel=channel, users=[ann.id, "U0NOBODY00"])
    assert error == "user_not_found"
    assert ann.id not in ws.channels[channel].members


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("not_a_member", "not_in_channel"),
        ("archived", "is_archived"),
        ("too_many", "too_many_users"),
    ],
)
def test_invite_refusals(client: WebClient, ws: Workspace, setup: str, error: str) -> None:
    ann = ws.add_user("ann")
    channel = ws.add_channel("acme", members=[] if setup == "not_a_member" else None)
    channel.is_archived = setup == "archived"
    users = [ann.id] * (101 if setup == "too_many" else 1)
    assert error_of(client.conversations_invite, channel=channel.id, users=users) == error


def test_single_channel_guest_cannot_join_a_second_channel(
    client: WebClient, ws: Workspace
) -> None:
    guest = ws.add_user("gus", single_channel_guest=True)
    first = client.conversations_create(name="first")["channel"]["id"]
    second = client.conversations_create(name="second")["channel"]["id"]
    client.conversations_invite(channel=first, users=[guest.id])
    assert error_of(client.conversations_invite, channel=second, users=[guest.id]) == (
        "ura_max_channels"
    )


def test_invite_shared_records_a_pending_invite(client: WebClient, ws: Workspace) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    answer = client.conversations_inviteShared(channel=channel, emails=["dana@acme.example"])
    assert answer["is_legacy_shared_channel"] is False
    pending = ws.channels[channel].pending_shared_invites
    assert [(i["invite_id"], i["email"]) for i in pending] == [
        (answer["invite_id"], "dana@acme.example")
    ]
    assert pending[0]["external_limited"] is True


def test_invite_shared_is_refused_on_a_free_plan(client: WebClient, ws: Workspace) -> None:
    ws.paid_plan = False
    channel = client.conversations_create(name="acme")["channel"]["id"]
    assert error_of(client.conversations_inviteShared, channel=channel, emails=["d@a.io"]) == (
        "not_paid"
    )


def test_invite_shared_is_refused_by_the_connect_policy(client: WebClient, ws: Workspace) -> None:
    ws.connect_policy_refuses = True
    channel = client.conversations_create(name="acme")["channel"]["id"]
    assert error_of(client.conversations_inviteShared, channel=channel, emails=["d@a.io"]) == (
        "restricted_action"
    )
    ws.connect_policy_error = "team_not_allowed"
    assert error_of(client.conversations_inviteShared, channel=channel, emails=["d@a.io"]) == (
        "team_not_allowed"
    )


def test_invite_shared_takes_exactly_one_recipient(client: WebClient, ws: Workspace) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    # slack_sdk checks this itself, so send the call raw.
    no_one = refusal(
        client.api_call, api_method="conversations.inviteShared", json={"channel": channel}
    )
    assert no_one["error"] == "recipients_not_specified"
    two = refusal(client.conversations_inviteShared, channel=channel, emails=["a@x.io", "b@x.io"])
    assert two["error"] == "invalid_arguments"


def test_invite_shared_needs_the_bot_in_the_channel(client: WebClient, ws: Workspace) -> None:
    channel = ws.add_channel("acme", members=[])
    assert error_of(client.conversations_inviteShared, channel=channel.id, emails=["d@a.io"]) == (
        "not_in_channel"
    )


def test_pending_connect_invites_are_listed_as_slack_lists_them(
    client: WebClient, ws: Workspace
) -> None:
    channel = client.conversations_create(name="acme", is_private=True)["channel"]["id"]
    by_email = client.conversations_inviteShared(channel=channel, emails=["dana@acme.example"])
    outsider = ws.add_user("olga", team_id="T0ACME")
    by_user = client.conversations_inviteShared(channel=channel, user_ids=[outsider.id])

    listed = client.conversations_listConnectInvites()

    assert listed["response_metadata"]["next_cursor"] == ""
    first, second = listed["invites"]
    assert (first["direction"], first["status"], first["invite_type"]) == (
        "outgoing",
        "sent",
        "channel",
    )
    assert first["channel"] == {"id": channel, "is_private": True, "is_im": False, "name": "acme"}
    assert first["acceptances"] == []
    assert first["invite"]["id"] == by_email["invite_id"]
    assert first["invite"]["recipient_email"] == "dana@acme.example"
    assert first["invite"]["inviting_team"]["id"] == "T0HOME"
    assert first["invite"]["inviting_user"]["id"] == "U0BOT"
    assert first["invite"]["date_invalid"] > first["invite"]["date_created"]
    assert second["invite"]["id"] == by_user["invite_id"]
    assert second["invite"]["recipient_user_id"] == outsider.id
    assert "recipient_email" not in second["invite"]


def test_connect_invites_page_with_a_cursor(client: WebClient) -> None:
    sent = []
    for n in range(5):
        channel = client.conversations_create(name=f"client-{n}")["channel"]["id"]
        sent.append(client.conversations_inviteShared(channel=channel, emails=[f"c{n}@x.io"]))
    # slack_sdk reuses one response object while paging, so read each page as it comes.
    pages = [
        [i["invite"]["id"] for i in page["invites"]]
        for page in client.conversations_listConnectInvites(count=2)
    ]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [i for page in pages for i in page] == [s["invite_id"] for s in sent]


def test_an_accepted_connect_invite_is_no_longer_listed(client: WebClient, ws: Workspace) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    accepted = client.conversations_inviteShared(channel=channel, emails=["dana@acme.example"])
    waiting = client.conversations_inviteShared(channel=channel, emails=["eve@acme.example"])
    dana = ws.add_user("dana", team_id="T0ACME")

    ws.accept_shared_invite(accepted["invite_id"], dana.id)

    listed = client.conversations_listConnectInvites()["invites"]
    assert [i["invite"]["id"] for i in listed] == [waiting["invite_id"]]


def test_a_connect_invite_lapses_after_fourteen_days(client: WebClient, ws: Workspace) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    client.conversations_inviteShared(channel=channel, emails=["dana@acme.example"])
    sent_at = time.time()
    ws.clock = lambda: sent_at + 14 * 24 * 3600 - 60
    assert len(client.conversations_listConnectInvites()["invites"]) == 1
    ws.clock = lambda: sent_at + 14 * 24 * 3600 + 60
    assert client.conversations_listConnectInvites()["invites"] == []


# ----- messages -----


def test_post_message_with_an_invalid_block_is_refused_with_the_reason(
    client: WebClient,
) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    answer = refusal(
        client.chat_postMessage, channel=channel, text="x", blocks=[{"type": "section"}]
    )
    assert answer["error"] == "invalid_blocks"
    assert "json-pointer:/blocks/0" in answer["response_metadata"]["messages"][0]


def test_post_message_with_too_many_or_unknown_blocks_is_refused(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    many = [SECTION] * 51
    assert error_of(client.chat_postMessage, channel=channel, text="x", blocks=many) == (
        "invalid_blocks"
    )
    odd = [{"type": "no_such_block"}]
    assert error_of(client.chat_postMessage, channel=channel, text="x", blocks=odd) == (
        "invalid_blocks"
    )
    assert client.chat_postMessage(channel=channel, text="x", blocks=[SECTION] * 50)["ok"]


def says_where(answer: dict[str, Any], pointer: str) -> bool:
    """Slack names the place of each fault in response_metadata, as a JSON pointer."""
    return any(
        m.endswith(f"[json-pointer:{pointer}]") for m in answer["response_metadata"]["messages"]
    )


@pytest.mark.parametrize("case", sorted(REFUSED_IN_MESSAGES))
def test_a_fault_inside_a_block_is_refused_like_slack(client: WebClient, case: str) -> None:
    # A button, an option or a text object inside a block: not just the block's own fields.
    channel = client.conversations_create(name="acme")["channel"]["id"]
    blocks, pointer = REFUSED_IN_MESSAGES[case]
    answer = refusal(client.chat_postMessage, channel=channel, text="x", blocks=blocks)
    assert answer["error"] == "invalid_blocks"
    assert says_where(answer, pointer)
    assert client.conversations_history(channel=channel)["messages"] == []


def test_updates_and_ephemeral_messages_are_checked_as_deeply(
    client: WebClient, ws: Workspace
) -> None:
    ann = ws.add_user("ann")
    channel = client.conversations_create(name="acme")["channel"]["id"]
    client.conversations_invite(channel=channel, users=[ann.id])
    ts = client.chat_postMessage(channel=channel, text="x", blocks=[SECTION])["ts"]
    blocks, pointer = REFUSED_IN_MESSAGES["11 checkboxes"]
    update = refusal(client.chat_update, channel=channel, ts=ts, text="x", blocks=blocks)
    ephemeral = refusal(
        client.chat_postEphemeral, channel=channel, user=ann.id, text="x", blocks=blocks
    )
    assert (update["error"], ephemeral["error"]) == ("invalid_blocks", "invalid_blocks")
    assert says_where(update, pointer) and says_where(ephemeral, pointer)
    assert client.conversations_history(channel=channel)["messages"][0]["blocks"] == [SECTION]
    assert ws.ephemerals == []


def test_a_message_too_long_in_all_is_refused_as_slack_does(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    refused = error_of(client.chat_postMessage, channel=channel, text="x", blocks=MESSAGE_TOO_LONG)
    assert refused == "msg_blocks_too_long"
    posted = client.chat_postMessage(channel=channel, text="x", blocks=MESSAGE_TOO_LONG[:4])
    assert (
        error_of(
            client.chat_update, channel=channel, ts=posted["ts"], text="x", blocks=MESSAGE_TOO_LONG
        )
        == "msg_blocks_too_long"
    )


def test_what_slack_takes_at_each_limit_is_posted(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    posted = client.chat_postMessage(channel=channel, text="x", blocks=TAKEN_BY_SLACK)
    assert posted["message"]["blocks"] == TAKEN_BY_SLACK


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_without_text_or_blocks_is_no_text(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    assert error_of(client.chat_postMessage, channel=channel) == "no_text"


def test_post_message_refusals_for_channel_state(client: WebClient, ws: Workspace) -> None:
    assert error_of(client.chat_postMessage, channel="C0MISSING00", text="x") == (
        "channel_not_found"
    )
    private = ws.add_channel("hidden", is_private=True, members=[])
    assert error_of(client.chat_postMessage, channel=private.id, text="x") == "not_in_channel"
    archived = ws.add_channel("old")
    archived.is_archived = True
    assert error_of(client.chat_postMessage, channel=archived.id, text="x") == "is_archived"


def test_timestamps_are_unique_and_increasing(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    stamps = [client.chat_postMessage(channel=channel, text=str(n))["ts"] for n in range(20)]
    assert len(set(stamps)) == 20
    assert stamps == sorted(stamps, key=lambda ts: tuple(int(p) for p in ts.split(".")))


def test_posting_to_a_user_id_goes_to_the_same_direct_message(
    client: WebClient, ws: Workspace
) -> None:
    ann = ws.add_user("ann")
    first = client.chat_postMessage(channel=ann.id, text="one")["channel"]
    second = client.chat_postMessage(channel=ann.id, text="two")["channel"]
    opened = client.conversations_open(users=[ann.id])
    assert first == second == opened["channel"]["id"]
    assert first.startswith("D")
    assert opened["already_open"] is True
    assert [m.text for m in ws.messages_in(first)] == ["one", "two"]


def test_history_is_newest_first_and_has_metadata_only_when_asked(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    metadata = {"event_type": "onboard_outbox", "event_payload": {"key": "client:1:welcome"}}
    first = client.chat_postMessage(channel=channel, text="first", metadata=metadata)["ts"]
    client.chat_postMessage(channel=channel, text="in thread", thread_ts=first)
    client.chat_postMessage(channel=channel, text="second")

    plain = client.conversations_history(channel=channel)["messages"]
    assert [m["text"] for m in plain] == ["second", "first"]
    assert all("metadata" not in m for m in plain)
    assert plain[1]["reply_count"] == 1

    rich = client.conversations_history(channel=channel, include_all_metadata=True)["messages"]
    assert rich[1]["metadata"] == metadata
    replies = client.conversations_replies(channel=channel, ts=first)["messages"]
    assert [m["text"] for m in replies] == ["first", "in thread"]


def test_history_pages_and_respects_oldest(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    stamps = [client.chat_postMessage(channel=channel, text=str(n))["ts"] for n in range(5)]
    page = client.conversations_history(channel=channel, limit=2)
    assert [m["text"] for m in page["messages"]] == ["4", "3"]
    assert page["has_more"] is True
    rest = client.conversations_history(
        channel=channel, limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["2", "1"]
    newer = client.conversations_history(channel=channel, oldest=stamps[2])["messages"]
    assert [m["text"] for m in newer] == ["4", "3"]


def test_bad_metadata_is_refused(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    bad = {"event_type": "x"}
    assert error_of(client.chat_postMessage, channel=channel, text="x", metadata=bad) == (
        "invalid_metadata_format"
    )


def test_update_refuses_long_text_and_missing_messages(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    ts = client.chat_postMessage(channel=channel, text="x")["ts"]
    assert error_of(client.chat_update, channel=channel, ts=ts, text="y" * 4001) == "msg_too_long"
    assert error_of(client.chat_update, channel=channel, ts="1.000001", text="y") == (
        "message_not_found"
    )
    edited = client.chat_update(channel=channel, ts=ts, text="edited")["message"]
    assert edited["text"] == "edited" and edited["edited"]["user"] == "U0BOT"


def test_ephemeral_needs_the_user_in_the_channel(client: WebClient, ws: Workspace) -> None:
    ann = ws.add_user("ann")
    channel = client.conversations_create(name="acme")["channel"]["id"]
    assert error_of(client.chat_postEphemeral, channel=channel, user=ann.id, text="psst") == (
        "user_not_in_channel"
    )
    client.conversations_invite(channel=channel, users=[ann.id])
    assert client.chat_postEphemeral(channel=channel, user=ann.id, text="psst")["message_ts"]
    assert ws.ephemerals[-1].user == ann.id


def test_pinning_twice_is_already_pinned(client: WebClient) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    ts = client.chat_postMessage(channel=channel, text="pin me")["ts"]
    client.pins_add(channel=channel, timestamp=ts)
    assert error_of(client.pins_add, channel=channel, timestamp=ts) == "already_pinned"
    assert [i["message"]["ts"] for i in client.pins_list(channel=channel)["items"]] == [ts]


def test_file_upload_v2_stores_the_bytes_and_shares_them(client: WebClient, ws: Workspace) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    answer = client.files_upload_v2(
        channel=channel, content=b"\x89PNG...", filename="chart.png", title="Progress"
    )
    stored = ws.files[answer["file"]["id"]]
    assert stored.content == b"\x89PNG..." and stored.title == "Progress"
    assert ws.messages_in(channel)[-1].files == [stored.id]


# ----- users, groups -----


def test_users_info_and_lookup_by_email(client: WebClient, ws: Workspace) -> None:
    ann = ws.add_user("ann", email="ann@home.example", tz="America/New_York", guest=True)
    user = client.users_info(user=ann.id)["user"]
    assert user["profile"]["email"] == "ann@home.example"
    assert user["is_restricted"] is True and user["is_ultra_restricted"] is False
    assert user["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert client.users_lookupByEmail(email="ANN@home.example")["user"]["id"] == ann.id
    assert error_of(client.users_lookupByEmail, email="nobody@x.io") == "users_not_found"
    assert error_of(client.users_info, user="U0NOBODY00") == "user_not_found"


def test_usergroup_members_and_unknown_group(client: WebClient, ws: Workspace) -> None:
    ann = ws.add_user("ann")
    group = ws.add_usergroup("account-managers", [ann.id])
    assert client.usergroups_users_list(usergroup=group)["users"] == [ann.id]
    assert error_of(client.usergroups_users_list, usergroup="S0NOPE") == "no_such_subteam"


# ----- faults -----


def test_injected_429_is_a_slack_api_error_with_retry_after(
    client: WebClient, ws: Workspace
) -> None:
    channel = client.conversations_create(name="acme")["channel"]["id"]
    ws.inject("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=channel, text="hi")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel=channel, text="hi")["ok"]
    attempts = ws.calls_to("chat.postMessage")
    assert [c.faulted for c in attempts] == [True, False]
    assert ws.messages_in(channel)[-1].text == "hi" and len(ws.messages_in(channel)) == 1


def test_rate_limit_retry_handler_retries_after_an_injected_429(
    standin: SlackStandIn, ws: Workspace
) -> None:
    patient = WebClient(
        token=ws.bot_token,
        base_url=standin.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    ws.inject("auth.test", retry_after=0)
    assert patient.auth_test()["ok"]
    assert len(ws.calls_to("auth.test")) == 2


def test_injected_server_error_and_ok_false_error(client: WebClient, ws: Workspace) -> None:
    ws.inject("*", status=503, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.auth_test()
        assert raised.value.response.status_code == 503
    ws.inject("auth.test", error="internal_error")
    assert error_of(client.auth_test) == "internal_error"
    assert client.auth_test()["ok"]
    assert [c.faulted for c in ws.calls_to("auth.test")] == [True, True, True, False]


def test_dropped_connection_is_a_network_error_then_recovers(
    client: WebClient, ws: Workspace
) -> None:
    ws.inject("auth.test", drop=True)
    with pytest.raises(OSError):
        client.auth_test()
    assert client.auth_test()["ok"]
    assert [c.faulted for c in ws.calls_to("auth.test")] == [True, False]


def test_injected_delay_slows_the_call_but_it_still_runs(client: WebClient, ws: Workspace) -> None:
    ws.inject("conversations.create", delay=0.3)
    started = time.monotonic()
    assert client.conversations_create(name="slow")["ok"]
    assert time.monotonic() - started >= 0.3
    assert ws.calls_to("conversations.create")[0].faulted is False


def test_delay_longer_than_the_client_timeout_times_out(
    standin: SlackStandIn, ws: Workspace
) -> None:
    impatient = WebClient(
        token=ws.bot_token, base_url=standin.api_url, timeout=1, retry_handlers=[]
    )
    ws.inject("auth.test", delay=2.0, status=200)
    with pytest.raises(TimeoutError):
        impatient.auth_test()


def test_rate_limiter_hook_answers_429(client: WebClient, ws: Workspace) -> None:
    ws.rate_limiter = lambda method, now: 3.0 if method == "pins.add" else None
    assert client.auth_test()["ok"]
    with pytest.raises(SlackApiError) as raised:
        client.pins_add(channel="C0GENERAL", timestamp="1.000001")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "3"


# ----- views -----


def test_trigger_id_works_once(client: WebClient, ws: Workspace) -> None:
    ann = ws.add_user("ann")
    trigger = ws.issue_trigger(ann.id)
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["hash"]
    assert view["state"] == {"values": {}}
    assert error_of(client.views_open, trigger_id=trigger, view=MODAL) == "exchanged_trigger_id"
    assert error_of(client.views_open, trigger_id="1.2.bogus", view=MODAL) == "invalid_trigger_id"
    assert [v.id for v in ws.open_views_for(ann.id)] == [view["id"]]


def test_trigger_id_expires_after_three_seconds() -> None:
    now = [1_700_000_000.0]
    with SlackStandIn(Workspace(clock=lambda: now[0])) as standin:
        ws = standin.workspace
        trigger = ws.issue_trigger("U0SOMEONE0")
        now[0] += 3.5
        assert error_of(standin.client().views_open, trigger_id=trigger, view=MODAL) == (
            "expired_trigger_id"
        )


def test_an_invalid_view_does_not_use_up_the_trigger(client: WebClient, ws: Workspace) -> None:
    trigger = ws.issue_trigger(ws.add_user("ann").id)
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    answer = refusal(client.views_open, trigger_id=trigger, view=long_title)
    assert answer["error"] == "invalid_arguments"
    assert answer["response_metadata"]["messages"]
    assert client.views_open(trigger_id=trigger, view=MODAL)["ok"]


def test_a_modal_with_inputs_needs_a_submit_button(client: WebClient, ws: Workspace) -> None:
    field = {
        "type": "input",
        "block_id": "name",
        "label": {"type": "plain_text", "text": "Name"},
        "element": {"type": "plain_text_input", "action_id": "value"},
    }
    view = {**MODAL, "blocks": [field]}
    trigger = ws.issue_trigger(ws.add_user("ann").id)
    assert error_of(client.views_open, trigger_id=trigger, view=view) == "invalid_arguments"
    submit = {"type": "plain_text", "text": "Create"}
    assert client.views_open(trigger_id=trigger, view={**view, "submit": submit})["ok"]


# Faults of a modal: those only views have (inputs), and those of any blocks, one level down.
FAULTS_IN_MODALS = REFUSED_IN_VIEWS | {
    case: (blocks, "/view" + pointer)
    for case, (blocks, pointer) in REFUSED_IN_MESSAGES.items()
    if case in ("11 checkboxes", "an initial option that is not an option")
}


@pytest.mark.parametrize("case", sorted(FAULTS_IN_MODALS))
def test_a_modal_with_a_fault_inside_a_block_is_refused_like_slack(
    client: WebClient, ws: Workspace, case: str
) -> None:
    blocks, pointer = FAULTS_IN_MODALS[case]
    trigger = ws.issue_trigger(ws.add_user("ann").id)
    answer = refusal(client.views_open, trigger_id=trigger, view={**MODAL, "blocks": blocks})
    # What Slack answers for a bad view: invalid_arguments, not invalid_blocks.
    assert answer["error"] == "invalid_arguments"
    assert says_where(answer, pointer)
    assert client.views_open(trigger_id=trigger, view=MODAL)["ok"]  # the trigger is not used up


def test_views_update_push_and_publish_are_checked_as_deeply(
    client: WebClient, ws: Workspace
) -> None:
    ann = ws.add_user("ann")
    opened = client.views_open(trigger_id=ws.issue_trigger(ann.id), view=MODAL)["view"]
    blocks, pointer = REFUSED_IN_MESSAGES["a button in mrkdwn"]
    bad = {**MODAL, "blocks": blocks}
    refused = [
        refusal(client.views_update, view_id=opened["id"], view=bad),
        refusal(client.views_push, trigger_id=ws.issue_trigger(ann.id), view=bad),
        refusal(client.views_publish, user_id=ann.id, view={"type": "home", "blocks": blocks}),
    ]
    assert [r["error"] for r in refused] == ["invalid_arguments"] * 3
    assert all(says_where(r, "/view" + pointer) for r in refused)
    assert [v.id for v in ws.open_views_for(ann.id)] == [opened["id"]]
    assert ws.view(opened["id"]).blocks == MODAL["blocks"]


def test_a_modal_that_slack_takes_at_each_limit_opens(client: WebClient, ws: Workspace) -> None:
    form = [field(TEXT_INPUT, label={"type": "plain_text", "text": "x" * 2000})]
    view = {
        **MODAL,
        "submit": {"type": "plain_text", "text": "x" * 24},
        "blocks": [*TAKEN_BY_SLACK, *form],
    }
    opened = client.views_open(trigger_id=ws.issue_trigger(ws.add_user("ann").id), view=view)
    assert opened["view"]["blocks"] == view["blocks"]


def test_views_push_stops_at_a_stack_of_three(client: WebClient, ws: Workspace) -> None:
    ann = ws.add_user("ann")
    root = client.views_open(trigger_id=ws.issue_trigger(ann.id), view=MODAL)["view"]
    second = client.views_push(trigger_id=ws.issue_trigger(ann.id), view=MODAL)["view"]
    third = client.views_push(trigger_id=ws.issue_trigger(ann.id), view=MODAL)["view"]
    assert (second["previous_view_id"], third["previous_view_id"]) == (root["id"], second["id"])
    assert third["root_view_id"] == root["id"]
    assert error_of(client.views_push, trigger_id=ws.issue_trigger(ann.id), view=MODAL) == (
        "push_limit_reached"
    )
    assert len(ws.open_views_for(ann.id)) == 3


def test_views_update_with_a_stale_hash_conflicts(client: WebClient, ws: Workspace) -> None:
    trigger = ws.issue_trigger(ws.add_user("ann").id)
    opened = client.views_open(trigger_id=trigger, view={**MODAL, "external_id": "new-1"})["view"]
    changed = {**MODAL, "private_metadata": "step-2", "external_id": "new-1"}
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)["view"]
    assert updated["hash"] != opened["hash"]
    assert ws.view(opened["id"]).private_metadata == "step-2"
    stale = error_of(client.views_update, view_id=opened["id"], hash=opened["hash"], view=MODAL)
    assert stale == "hash_conflict"
    by_external_id = client.views_update(
        external_id="new-1", view={**MODAL, "external_id": "new-1"}
    )
    assert by_external_id["view"]["id"] == opened["id"]
    assert error_of(client.views_update, view_id="V0NOPE", view=MODAL) == "not_found"


def test_views_publish_keeps_one_home_per_user(client: WebClient, ws: Workspace) -> None:
    ann = ws.add_user("ann")
    home = {"type": "home", "blocks": [SECTION]}
    first = client.views_publish(user_id=ann.id, view=home)["view"]
    again = client.views_publish(user_id=ann.id, view=home)["view"]
    assert first["id"] == again["id"] == ws.home_of(ann.id).id
    assert error_of(client.views_publish, user_id=ann.id, view=MODAL) == "invalid_arguments"


# ----- response_url -----


def test_response_url_records_what_the_bot_sends(ws: Workspace) -> None:
    url = ws.new_response_url()
    request = urllib.request.Request(
        url,
        data=json.dumps({"response_type": "ephemeral", "text": "Working on it"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.read() == b"ok"
    assert ws.responses[-1].payload == {"response_type": "ephemeral", "text": "Working on it"}
    assert url.endswith(ws.responses[-1].response_id)
