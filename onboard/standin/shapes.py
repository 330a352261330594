"""How the records look in Slack's JSON: user, conversation, message, view and file objects.

Each takes the workspace too, for what Slack adds from it (the team, the app, the bot, the clock).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from onboard.standin.answers import Answer
from onboard.standin.records import Channel, Message, UploadedFile, User, View

if TYPE_CHECKING:
    from onboard.standin.workspace import Workspace


def user_obj(ws: Workspace, user: User) -> Answer:
    offset, label = _tz_info(user.tz, ws.clock())
    profile: dict[str, Any] = {
        "real_name": user.real_name,
        "real_name_normalized": user.real_name,
        "display_name": user.name,
        "display_name_normalized": user.name,
        "team": user.team_id,
    }
    if user.email and not user.is_bot:
        profile["email"] = user.email
    if user.is_bot:
        profile.update(bot_id=ws.bot_id, api_app_id=ws.app_id)
    return {
        "id": user.id,
        "team_id": user.team_id,
        "name": user.name,
        "deleted": user.deleted,
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": label,
        "tz_offset": offset,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": user.is_restricted,
        "is_ultra_restricted": user.is_ultra_restricted,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": int(ws.clock()),
    }


def channel_obj(ws: Workspace, channel: Channel) -> Answer:
    if channel.is_im:
        user = next(m for m in channel.members if m != ws.bot_user_id)
        return {"id": channel.id, "created": channel.created, "is_im": True, "user": user}
    pending = [
        ws.users[i["user_id"]].team_id
        for i in channel.pending_shared_invites
        if i.get("user_id") in ws.users
    ]
    return {
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "created": channel.created,
        "creator": channel.creator,
        "is_archived": channel.is_archived,
        "is_general": channel.is_general,
        "is_shared": channel.is_shared,
        "is_ext_shared": channel.is_shared,
        "is_org_shared": False,
        "is_pending_ext_shared": bool(channel.pending_shared_invites),
        "pending_shared": pending,
        "context_team_id": ws.team_id,
        "is_member": ws.bot_user_id in channel.members,
        "num_members": len(channel.members),
        "topic": {"value": channel.topic, "creator": channel.creator, "last_set": 0},
        "purpose": {"value": channel.purpose, "creator": channel.creator, "last_set": 0},
        "previous_names": [],
    }


def message_obj(ws: Workspace, message: Message, with_metadata: bool) -> Answer:
    author = ws.users.get(message.user)
    out: Answer = {"type": "message", "ts": message.ts, "user": message.user}
    out.update(text=message.text, team=author.team_id if author else ws.team_id)
    if message.user == ws.bot_user_id:
        out.update(bot_id=ws.bot_id, app_id=ws.app_id)
    if message.blocks:
        out["blocks"] = message.blocks
    replies = [
        m
        for m in ws.messages.get(message.channel, [])
        if m.thread_ts == message.ts and m.ts != message.ts
    ]
    if message.thread_ts or replies:
        out["thread_ts"] = message.thread_ts or message.ts
    if replies:
        out.update(reply_count=len(replies), latest_reply=replies[-1].ts)
        out["reply_users"] = sorted({m.user for m in replies})
    if message.edited:
        out["edited"] = dict(message.edited)
    if message.reactions:
        out["reactions"] = [
            {"name": n, "users": u, "count": len(u)} for n, u in message.reactions.items()
        ]
    if message.ts in ws.channels[message.channel].pins:
        out["pinned_to"] = [message.channel]
    if message.files:
        out["files"] = [file_obj(ws, ws.files[f]) for f in message.files]
    if with_metadata and message.metadata:
        out["metadata"] = message.metadata
    return out


def view_obj(ws: Workspace, view: View) -> Answer:
    return {
        "id": view.id,
        "team_id": ws.team_id,
        "type": view.type,
        "blocks": view.blocks,
        "private_metadata": view.private_metadata,
        "callback_id": view.callback_id,
        "state": {"values": {}},
        "hash": view.hash,
        "title": view.title,
        "clear_on_close": view.clear_on_close,
        "notify_on_close": view.notify_on_close,
        "close": view.close,
        "submit": view.submit,
        "previous_view_id": view.previous_view_id,
        "root_view_id": view.root_view_id,
        "app_id": ws.app_id,
        "external_id": view.external_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }


def file_obj(ws: Workspace, upload: UploadedFile) -> Answer:
    return {
        "id": upload.id,
        "name": upload.filename,
        "title": upload.title or upload.filename,
        "size": len(upload.content or b""),
        "user": ws.bot_user_id,
        "created": upload.created,
        "alt_txt": upload.alt_txt,
        "channels": list(upload.channels),
        "url_private": f"{ws.base_url}files/{upload.id}/{upload.filename}",
    }


def _tz_info(tz: str, now: float) -> tuple[int, str]:
    try:
        moment = datetime.fromtimestamp(now, ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return 0, "UTC"
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset else 0, moment.tzname() or tz
