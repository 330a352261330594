"""The stand-in's chat.*, pins.* and reactions.* methods: messages posted and changed."""

from __future__ import annotations

from onboard.standin.answers import Answer, Args, SlackError, _opt_str
from onboard.standin.limits import MAX_UPDATE_TEXT
from onboard.standin.methods.api import api
from onboard.standin.methods.arguments import (
    flag,
    message_blocks,
    message_metadata,
    text_and_blocks,
)
from onboard.standin.records import Channel, Ephemeral, Message
from onboard.standin.shapes import message_obj
from onboard.standin.workspace import Workspace


@api("chat.postMessage")
def _chat_post_message(ws: Workspace, a: Args) -> Answer:
    channel = ws._target(a)
    if channel.is_archived:
        raise SlackError("is_archived")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    text, blocks = text_and_blocks(a)
    message = ws._post(
        channel,
        text,
        blocks,
        thread_ts=_opt_str(a, "thread_ts"),
        metadata=message_metadata(a),
        reply_broadcast=flag(a, "reply_broadcast"),
    )
    return {"channel": channel.id, "ts": message.ts, "message": message_obj(ws, message, True)}


@api("chat.postEphemeral")
def _chat_post_ephemeral(ws: Workspace, a: Args) -> Answer:
    channel = ws._target(a)
    user = ws._user(_opt_str(a, "user"))
    if channel.is_archived:
        raise SlackError("is_archived")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = text_and_blocks(a)
    ts = ws._next_ts()
    ws.ephemerals.append(Ephemeral(ts, channel.id, user.id, text, blocks, _opt_str(a, "thread_ts")))
    return {"message_ts": ts}


@api("chat.update")
def _chat_update(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    message = ws._message(channel, _opt_str(a, "ts"))
    if message.user != ws.bot_user_id:
        raise SlackError("cant_update_message")
    if channel.is_archived:
        raise SlackError("is_archived")
    text = a.get("text")
    if text is not None and len(str(text)) > MAX_UPDATE_TEXT:
        raise SlackError("msg_too_long")
    blocks = message_blocks(a)
    if text is None and blocks is None:
        raise SlackError("no_text")
    message.text = str(text) if text is not None else message.text
    message.blocks = blocks if blocks is not None else message.blocks  # Slack keeps old blocks
    message.metadata = message_metadata(a) or message.metadata
    message.edited = {"user": ws.bot_user_id, "ts": ws._next_ts()}
    obj = message_obj(ws, message, True)
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": obj}


@api("chat.delete")
def _chat_delete(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    message = ws._message(channel, _opt_str(a, "ts"))
    if message.user != ws.bot_user_id:
        raise SlackError("cant_delete_message")
    ws.messages[channel.id].remove(message)
    if message.ts in channel.pins:
        channel.pins.remove(message.ts)
    return {"channel": channel.id, "ts": message.ts}


def _pinned_message(ws: Workspace, a: Args) -> tuple[Channel, Message]:
    channel = ws._channel(a)
    if not _opt_str(a, "timestamp"):
        raise SlackError("no_item_specified")
    return channel, ws._message(channel, _opt_str(a, "timestamp"))


@api("pins.add")
def _pins_add(ws: Workspace, a: Args) -> Answer:
    channel, message = _pinned_message(ws, a)
    if ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    if message.ts in channel.pins:
        raise SlackError("already_pinned")
    channel.pins.append(message.ts)
    return {}


@api("pins.list")
def _pins_list(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    items = [
        {
            "type": "message",
            "channel": channel.id,
            "created_by": ws.bot_user_id,
            "message": message_obj(ws, ws._message(channel, ts), False),
        }
        for ts in channel.pins
    ]
    return {"items": items}


@api("reactions.add")
def _reactions_add(ws: Workspace, a: Args) -> Answer:
    _, message = _pinned_message(ws, a)
    name = (_opt_str(a, "name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    users = message.reactions.setdefault(name, [])
    if ws.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(ws.bot_user_id)
    return {}
