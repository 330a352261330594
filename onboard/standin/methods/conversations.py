"""The stand-in's conversations.* methods: channels made, read, named, joined, shared."""

from __future__ import annotations

import re
from typing import Any

from onboard.standin.answers import Answer, Args, SlackError, _invalid, _opt_str
from onboard.standin.limits import (
    _NAME_CHARS,
    MAX_CHANNEL_NAME,
    MAX_INVITE_MESSAGE,
    MAX_INVITE_USERS,
    MAX_TOPIC,
)
from onboard.standin.methods.api import api
from onboard.standin.methods.arguments import (
    flag,
    id_list,
    paged,
    ts_bound,
    ts_micros,
)
from onboard.standin.records import Channel, Message
from onboard.standin.shapes import channel_obj, message_obj
from onboard.standin.workspace import Workspace


def _check_channel_name(name: str | None) -> str:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise SlackError("invalid_name_maxlength")
    if not _NAME_CHARS.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")
    return name


@api("conversations.create")
def _conversations_create(ws: Workspace, a: Args) -> Answer:
    name = _check_channel_name(_opt_str(a, "name"))
    if ws.channel_by_name(name) is not None:
        raise SlackError("name_taken")
    channel = ws.add_channel(name, is_private=flag(a, "is_private"))
    return {"channel": channel_obj(ws, channel)}


@api("conversations.info")
def _conversations_info(ws: Workspace, a: Args) -> Answer:
    return {"channel": channel_obj(ws, ws._channel(a))}


@api("conversations.list")
def _conversations_list(ws: Workspace, a: Args) -> Answer:
    types = set(id_list(a, "types") or ["public_channel"])
    skip_archived = flag(a, "exclude_archived")

    def listed(c: Channel) -> bool:
        kind = "im" if c.is_im else "private_channel" if c.is_private else "public_channel"
        visible = not c.is_private or c.is_im or ws.bot_user_id in c.members
        return kind in types and visible and not (skip_archived and c.is_archived)

    found = [c for c in ws.channels.values() if listed(c)]
    page, cursor = paged(found, a, 100, 1000)
    return {
        "channels": [channel_obj(ws, c) for c in page],
        "response_metadata": {"next_cursor": cursor},
    }


@api("conversations.members")
def _conversations_members(ws: Workspace, a: Args) -> Answer:
    page, cursor = paged(list(ws._channel(a).members), a, 100, 1000)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def _in_window(message: Message, a: Args) -> bool:
    oldest, latest = ts_bound(a, "oldest"), ts_bound(a, "latest")
    inclusive, at = flag(a, "inclusive"), ts_micros(message.ts)
    after = oldest is None or at > oldest or (inclusive and at == oldest)
    before = latest is None or at < latest or (inclusive and at == latest)
    return after and before


def _readable(ws: Workspace, a: Args) -> Channel:
    channel = ws._channel(a)
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    return channel


@api("conversations.history")
def _conversations_history(ws: Workspace, a: Args) -> Answer:
    channel = _readable(ws, a)
    with_metadata = flag(a, "include_all_metadata")
    top = [
        m
        for m in reversed(ws.messages[channel.id])
        if (m.thread_ts in (None, m.ts) or m.reply_broadcast) and _in_window(m, a)
    ]
    page, cursor = paged(top, a, 100, 999)
    return {
        "messages": [message_obj(ws, m, with_metadata) for m in page],
        "has_more": bool(cursor),
        "pin_count": len(channel.pins),
        "response_metadata": {"next_cursor": cursor},
    }


@api("conversations.replies")
def _conversations_replies(ws: Workspace, a: Args) -> Answer:
    channel = _readable(ws, a)
    try:
        parent = ws._message(channel, _opt_str(a, "ts"))
    except SlackError:
        raise SlackError("thread_not_found") from None
    root = parent.thread_ts or parent.ts
    thread = [
        m
        for m in ws.messages[channel.id]
        if (m.ts == root or m.thread_ts == root) and _in_window(m, a)
    ]
    page, cursor = paged(thread, a, 1000, 1000)
    with_metadata = flag(a, "include_all_metadata")
    return {
        "messages": [message_obj(ws, m, with_metadata) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _set_text_field(ws: Workspace, a: Args, attribute: str) -> Answer:
    channel = ws._writable(ws._channel(a))
    value = _opt_str(a, attribute) or ""
    if len(value) > MAX_TOPIC:
        raise SlackError("too_long")
    setattr(channel, attribute, value)
    return {"channel": channel_obj(ws, channel)}


@api("conversations.setTopic")
def _conversations_set_topic(ws: Workspace, a: Args) -> Answer:
    return _set_text_field(ws, a, "topic")


@api("conversations.setPurpose")
def _conversations_set_purpose(ws: Workspace, a: Args) -> Answer:
    return _set_text_field(ws, a, "purpose")


def _invite_problem(ws: Workspace, channel: Channel, user_id: str) -> str | None:
    user = ws.users.get(user_id)
    if user is None:
        return "user_not_found"
    if user_id == ws.bot_user_id:
        return "cant_invite_self"
    if user_id in channel.members:
        return "already_in_channel"
    if user.deleted or user.team_id != ws.team_id:
        return "cant_invite"
    if user.is_ultra_restricted and any(
        user_id in c.members for c in ws.channels.values() if not c.is_im
    ):
        return "ura_max_channels"
    return None


@api("conversations.invite")
def _conversations_invite(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    users = id_list(a, "users")
    if not users:
        raise SlackError("no_user")
    if len(users) > MAX_INVITE_USERS:
        raise SlackError("too_many_users")
    ws._writable(channel)
    problems = {u: p for u in users if (p := _invite_problem(ws, channel, u))}
    errors = [{"user": u, "ok": False, "error": p} for u, p in problems.items()]
    hard = [p for p in problems.values() if p != "already_in_channel"]
    invitable = [u for u in users if u not in problems]
    if hard and (not invitable or not flag(a, "force")):
        raise SlackError(hard[0], errors=errors)
    if not invitable:  # everyone named is already a member
        raise SlackError("already_in_channel", errors=errors)
    channel.members += invitable
    answer: Answer = {"channel": channel_obj(ws, channel)}
    if hard:
        answer["errors"] = errors
    return answer


@api("conversations.inviteShared")
def _conversations_invite_shared(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    if channel.is_im:
        raise SlackError("invalid_channel_type")
    if channel.is_general:
        raise SlackError("cannot_share_mandatory_channel")
    if not ws.paid_plan:
        raise SlackError("not_paid")
    if ws.connect_policy_refuses:
        raise SlackError(ws.connect_policy_error)
    ws._writable(channel, archived="channel_archived")
    emails, user_ids = id_list(a, "emails"), id_list(a, "user_ids")
    if not emails and not user_ids:
        raise SlackError("recipients_not_specified")
    if len(emails) + len(user_ids) > 1:
        raise _invalid("[ERROR] only one email or one user ID may be invited at a time")
    if len(_opt_str(a, "message") or "") > MAX_INVITE_MESSAGE:
        raise SlackError("message_too_long")
    invite: dict[str, Any] = {"invite_id": ws._new_id("I"), "date_created": int(ws.clock())}
    invite["external_limited"] = flag(a, "external_limited", default=True)
    if emails:
        if "@" not in emails[0]:
            raise SlackError("invalid_email")
        invite["email"] = emails[0]
    else:
        if ws._user(user_ids[0]).id in channel.members:
            raise SlackError("already_in_channel")
        invite["user_id"] = user_ids[0]
    channel.pending_shared_invites.append(invite)
    return {"invite_id": invite["invite_id"], "is_legacy_shared_channel": False}


INVITE_LIFETIME = 14 * 24 * 3600  # Slack Connect invitations lapse after 14 days


@api("conversations.listConnectInvites")
def _conversations_list_connect_invites(ws: Workspace, a: Args) -> Answer:
    # Only the home team's outgoing invitations exist here; acceptance removes one (in Slack,
    # once every party has approved it it is no longer listed), and so does lapsing.
    now = int(ws.clock())
    pending = [
        (channel, invite)
        for channel in ws.channels.values()
        for invite in channel.pending_shared_invites
        if now < invite["date_created"] + INVITE_LIFETIME
    ]
    pending.sort(key=lambda found: found[1]["date_created"])
    # Slack names the page size `count`; `paged` reads it as `limit`.
    page, cursor = paged(pending, {**a, "limit": a.get("count")}, 100, 1000)
    return {
        "invites": [_connect_invite_obj(ws, channel, invite) for channel, invite in page],
        "response_metadata": {"next_cursor": cursor},
    }


def _connect_invite_obj(ws: Workspace, channel: Channel, invite: dict[str, Any]) -> Answer:
    team = ws.teams[ws.team_id]
    bot = ws.users[ws.bot_user_id]
    created = invite["date_created"]
    sent: Answer = {
        "id": invite["invite_id"],
        "date_created": created,
        "date_invalid": created + INVITE_LIFETIME,
        "inviting_team": {"id": team["id"], "name": team["name"], "domain": team["domain"]},
        "inviting_user": {"id": bot.id, "team_id": bot.team_id, "name": bot.name},
        "link": f"https://join.slack.com/share/{invite['invite_id']}",
    }
    if "email" in invite:
        sent["recipient_email"] = invite["email"]
    else:
        sent["recipient_user_id"] = invite["user_id"]
    return {
        "direction": "outgoing",
        "status": "sent",
        "date_last_updated": created,
        "invite_type": "channel",
        "invite": sent,
        "channel": {
            "id": channel.id,
            "is_private": channel.is_private,
            "is_im": channel.is_im,
            "name": channel.name,
        },
        "acceptances": [],
    }


@api("conversations.archive")
def _conversations_archive(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_general:
        raise SlackError("cant_archive_general")
    ws._writable(channel, archived="already_archived").is_archived = True
    return {}


@api("conversations.join")
def _conversations_join(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    if channel.is_private or channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    answer: Answer = {}
    if ws.bot_user_id in channel.members:
        answer["warning"] = "already_in_channel"
    else:
        channel.members.append(ws.bot_user_id)
    return {"channel": channel_obj(ws, channel), **answer}


@api("conversations.open")
def _conversations_open(ws: Workspace, a: Args) -> Answer:
    if _opt_str(a, "channel"):
        channel = ws._channel(a)
        return {"channel": channel_obj(ws, channel) if flag(a, "return_im") else {"id": channel.id}}
    users = [u for u in id_list(a, "users") if u != ws.bot_user_id]
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > 1:
        raise _invalid("[ERROR] the stand-in opens one-to-one DMs only (no MPIMs)")
    existed = ws._user(users[0]).id in ws._dms
    channel = ws._dm_with(users[0])
    answer: Answer = {
        "channel": channel_obj(ws, channel) if flag(a, "return_im") else {"id": channel.id}
    }
    if existed:
        answer.update(no_op=True, already_open=True)
    return answer
