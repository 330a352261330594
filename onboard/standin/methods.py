"""The Web API methods of the stand-in, one function each, registered by name in METHODS.

Each checks its arguments the way Slack does and answers a Slack-shaped dict or SlackError.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View as SdkView

from onboard.standin.workspace import (
    _NAME_CHARS,
    MAX_CHANNEL_NAME,
    MAX_INVITE_MESSAGE,
    MAX_INVITE_USERS,
    MAX_MESSAGE_BLOCKS,
    MAX_TEXT,
    MAX_TOPIC,
    MAX_UPDATE_TEXT,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_BYTES,
    MAX_VIEW_STACK,
    TRIGGER_TTL,
    Answer,
    Args,
    Channel,
    Ephemeral,
    Message,
    SlackError,
    UploadedFile,
    View,
    Workspace,
    _invalid,
    _opt_str,
)

T = TypeVar("T")

# ----- argument parsing: form values arrive as strings, JSON values typed -----


def _flag(a: Args, key: str, default: bool = False) -> bool:
    value = a.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool | int):
        return bool(value)
    return str(value).strip().lower() in ("1", "true", "yes")


def _int_arg(a: Args, key: str, default: int, error: str = "invalid_arguments") -> int:
    value = a.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError(error) from None


def _id_list(a: Args, key: str) -> list[str]:
    """A list argument sent as a JSON array, a JSON string or a comma-separated string."""
    value = a.get(key)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise SlackError("invalid_arguments") from None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if str(v).strip()]


def _json_arg(a: Args, key: str, error: str) -> Any:
    value = a.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


def _ts_micros(ts: str) -> int:
    seconds, _, fraction = ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def _ts_bound(a: Args, key: str) -> int | None:
    value = _opt_str(a, key)
    if value is None:
        return None
    try:
        return _ts_micros(value)
    except ValueError:
        raise SlackError(f"invalid_ts_{key}") from None


def _page(items: list[T], a: Args, default: int, maximum: int) -> tuple[list[T], str]:
    limit = _int_arg(a, "limit", default, "invalid_limit")
    limit = min(limit if limit > 0 else default, maximum)
    start = 0
    cursor = _opt_str(a, "cursor")
    if cursor:
        try:
            kind, _, number = base64.b64decode(cursor).decode().partition(":")
            start = int(number) if kind == "offset" else -1
        except (binascii.Error, UnicodeDecodeError, ValueError):
            start = -1
        if start < 0:
            raise SlackError("invalid_cursor")
    end = start + limit
    following = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], following


def _block_problems(blocks: list[Any], pointer: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(blocks):
        where = f"[json-pointer:{pointer}/{index}]"
        try:
            parsed = Block.parse(raw) if isinstance(raw, dict) else None
            if parsed is None:
                kind = raw.get("type") if isinstance(raw, dict) else raw
                problems.append(f"[ERROR] unsupported block type: {kind} {where}")
                continue
            parsed.validate_json()
        except Exception as exc:  # slack_sdk raises SlackObjectFormationError, TypeError, ...
            problems.append(f"[ERROR] {exc} {where}")
            continue
        block_id = raw.get("block_id")
        if block_id is not None and block_id in seen:
            problems.append(f"[ERROR] duplicate block_id: {block_id} {where}")
        seen.add(block_id)
    return problems


def _message_blocks(a: Args) -> list[dict[str, Any]] | None:
    """chat.* blocks: None when absent; refused like Slack when malformed or invalid."""
    if a.get("blocks") in (None, ""):
        return None
    blocks = _json_arg(a, "blocks", "invalid_blocks_format")
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        message = f"[ERROR] no more than {MAX_MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]"
        raise SlackError("invalid_blocks", response_metadata={"messages": [message]})
    problems = _block_problems(blocks, "/blocks")
    if problems:
        raise SlackError("invalid_blocks", response_metadata={"messages": problems})
    return blocks


def _content(a: Args) -> tuple[str, list[dict[str, Any]]]:
    text = _opt_str(a, "text") or ""
    blocks = _message_blocks(a) or []
    if not text.strip() and not blocks and not a.get("attachments"):
        raise SlackError("no_text")
    return text[:MAX_TEXT], blocks


def _metadata(a: Args) -> dict[str, Any] | None:
    if a.get("metadata") in (None, ""):
        return None
    metadata = _json_arg(a, "metadata", "invalid_metadata_format")
    if not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def _parse_view(a: Args, kinds: tuple[str, ...]) -> dict[str, Any]:
    raw = a.get("view")
    if raw in (None, ""):
        raise _invalid("[ERROR] missing required field: view")
    if len(raw if isinstance(raw, str) else json.dumps(raw)) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    view = _json_arg(a, "view", "invalid_arguments")
    if not isinstance(view, dict):
        raise _invalid("[ERROR] view must be an object [json-pointer:/view]")
    problems: list[str] = []
    if view.get("type") not in kinds:
        problems.append(f"[ERROR] type must be one of {', '.join(kinds)} [json-pointer:/view/type]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.append("[ERROR] missing required field: blocks [json-pointer:/view/blocks]")
    elif len(blocks) > MAX_VIEW_BLOCKS:
        problems.append("[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]")
    else:
        problems += _block_problems(blocks, "/view/blocks")
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if view.get("type") == "modal" and has_input and not view.get("submit"):
            problems.append("[ERROR] must provide a submit property when using input blocks")
    if view.get("type") == "modal" and not view.get("title"):
        problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
    if not problems:
        try:
            SdkView(**view).validate_json()
        except Exception as exc:  # SlackObjectFormationError, or TypeError on odd keys
            problems.append(f"[ERROR] {exc} [json-pointer:/view]")
    if problems:
        raise _invalid(*problems)
    return view


# ----- the methods: one function each, registered by name -----

Handler = Callable[[Workspace, Args], Answer]
METHODS: dict[str, Handler] = {}


def _api(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


@_api("auth.test")
def _auth_test(ws: Workspace, a: Args) -> Answer:
    team = ws.teams[ws.team_id]
    return {
        "url": f"https://{team['domain']}.slack.com/",
        "team": team["name"],
        "user": ws.users[ws.bot_user_id].name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


@_api("team.info")
def _team_info(ws: Workspace, a: Args) -> Answer:
    team = ws.teams.get(_opt_str(a, "team") or ws.team_id)
    if team is None:
        raise SlackError("team_not_found")
    return {"team": {**team, "email_domain": "", "icon": {"image_default": True}}}


@_api("users.info")
def _users_info(ws: Workspace, a: Args) -> Answer:
    return {"user": ws.user_obj(ws._user(_opt_str(a, "user")))}


@_api("users.lookupByEmail")
def _users_lookup_by_email(ws: Workspace, a: Args) -> Answer:
    email = (_opt_str(a, "email") or "").lower()
    for user in ws.users.values():
        if email and not user.deleted and (user.email or "").lower() == email:
            return {"user": ws.user_obj(user)}
    raise SlackError("users_not_found")


@_api("usergroups.users.list")
def _usergroups_users_list(ws: Workspace, a: Args) -> Answer:
    members = ws.usergroups.get(_opt_str(a, "usergroup") or "")
    if members is None:
        raise SlackError("no_such_subteam")
    return {"users": list(members)}


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


@_api("conversations.create")
def _conversations_create(ws: Workspace, a: Args) -> Answer:
    name = _check_channel_name(_opt_str(a, "name"))
    if ws.channel_by_name(name) is not None:
        raise SlackError("name_taken")
    channel = ws.add_channel(name, is_private=_flag(a, "is_private"))
    return {"channel": ws.channel_obj(channel)}


@_api("conversations.info")
def _conversations_info(ws: Workspace, a: Args) -> Answer:
    return {"channel": ws.channel_obj(ws._channel(a))}


@_api("conversations.list")
def _conversations_list(ws: Workspace, a: Args) -> Answer:
    types = set(_id_list(a, "types") or ["public_channel"])
    skip_archived = _flag(a, "exclude_archived")

    def listed(c: Channel) -> bool:
        kind = "im" if c.is_im else "private_channel" if c.is_private else "public_channel"
        visible = not c.is_private or c.is_im or ws.bot_user_id in c.members
        return kind in types and visible and not (skip_archived and c.is_archived)

    found = [c for c in ws.channels.values() if listed(c)]
    page, cursor = _page(found, a, 100, 1000)
    return {
        "channels": [ws.channel_obj(c) for c in page],
        "response_metadata": {"next_cursor": cursor},
    }


@_api("conversations.members")
def _conversations_members(ws: Workspace, a: Args) -> Answer:
    page, cursor = _page(list(ws._channel(a).members), a, 100, 1000)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def _in_window(message: Message, a: Args) -> bool:
    oldest, latest = _ts_bound(a, "oldest"), _ts_bound(a, "latest")
    inclusive, at = _flag(a, "inclusive"), _ts_micros(message.ts)
    after = oldest is None or at > oldest or (inclusive and at == oldest)
    before = latest is None or at < latest or (inclusive and at == latest)
    return after and before


def _readable(ws: Workspace, a: Args) -> Channel:
    channel = ws._channel(a)
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    return channel


@_api("conversations.history")
def _conversations_history(ws: Workspace, a: Args) -> Answer:
    channel = _readable(ws, a)
    with_metadata = _flag(a, "include_all_metadata")
    top = [
        m
        for m in reversed(ws.messages[channel.id])
        if (m.thread_ts in (None, m.ts) or m.reply_broadcast) and _in_window(m, a)
    ]
    page, cursor = _page(top, a, 100, 999)
    return {
        "messages": [ws.message_obj(m, with_metadata) for m in page],
        "has_more": bool(cursor),
        "pin_count": len(channel.pins),
        "response_metadata": {"next_cursor": cursor},
    }


@_api("conversations.replies")
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
    page, cursor = _page(thread, a, 1000, 1000)
    with_metadata = _flag(a, "include_all_metadata")
    return {
        "messages": [ws.message_obj(m, with_metadata) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _set_text_field(ws: Workspace, a: Args, attribute: str) -> Answer:
    channel = ws._writable(ws._channel(a))
    value = _opt_str(a, attribute) or ""
    if len(value) > MAX_TOPIC:
        raise SlackError("too_long")
    setattr(channel, attribute, value)
    return {"channel": ws.channel_obj(channel)}


@_api("conversations.setTopic")
def _conversations_set_topic(ws: Workspace, a: Args) -> Answer:
    return _set_text_field(ws, a, "topic")


@_api("conversations.setPurpose")
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


@_api("conversations.invite")
def _conversations_invite(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    users = _id_list(a, "users")
    if not users:
        raise SlackError("no_user")
    if len(users) > MAX_INVITE_USERS:
        raise SlackError("too_many_users")
    ws._writable(channel)
    problems = {u: p for u in users if (p := _invite_problem(ws, channel, u))}
    errors = [{"user": u, "ok": False, "error": p} for u, p in problems.items()]
    hard = [p for p in problems.values() if p != "already_in_channel"]
    invitable = [u for u in users if u not in problems]
    if hard and (not invitable or not _flag(a, "force")):
        raise SlackError(hard[0], errors=errors)
    if not invitable:  # everyone named is already a member
        raise SlackError("already_in_channel", errors=errors)
    channel.members += invitable
    answer: Answer = {"channel": ws.channel_obj(channel)}
    if hard:
        answer["errors"] = errors
    return answer


@_api("conversations.inviteShared")
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
    emails, user_ids = _id_list(a, "emails"), _id_list(a, "user_ids")
    if not emails and not user_ids:
        raise SlackError("recipients_not_specified")
    if len(emails) + len(user_ids) > 1:
        raise _invalid("[ERROR] only one email or one user ID may be invited at a time")
    if len(_opt_str(a, "message") or "") > MAX_INVITE_MESSAGE:
        raise SlackError("message_too_long")
    invite: dict[str, Any] = {"invite_id": ws._new_id("I"), "date_created": int(ws.clock())}
    invite["external_limited"] = _flag(a, "external_limited", default=True)
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


@_api("conversations.archive")
def _conversations_archive(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_general:
        raise SlackError("cant_archive_general")
    ws._writable(channel, archived="already_archived").is_archived = True
    return {}


@_api("conversations.join")
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
    return {"channel": ws.channel_obj(channel), **answer}


@_api("conversations.open")
def _conversations_open(ws: Workspace, a: Args) -> Answer:
    if _opt_str(a, "channel"):
        channel = ws._channel(a)
        return {"channel": ws.channel_obj(channel) if _flag(a, "return_im") else {"id": channel.id}}
    users = [u for u in _id_list(a, "users") if u != ws.bot_user_id]
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > 1:
        raise _invalid("[ERROR] the stand-in opens one-to-one DMs only (no MPIMs)")
    existed = ws._user(users[0]).id in ws._dms
    channel = ws._dm_with(users[0])
    answer: Answer = {
        "channel": ws.channel_obj(channel) if _flag(a, "return_im") else {"id": channel.id}
    }
    if existed:
        answer.update(no_op=True, already_open=True)
    return answer


@_api("chat.postMessage")
def _chat_post_message(ws: Workspace, a: Args) -> Answer:
    channel = ws._target(a)
    if channel.is_archived:
        raise SlackError("is_archived")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    text, blocks = _content(a)
    message = ws._post(
        channel,
        text,
        blocks,
        thread_ts=_opt_str(a, "thread_ts"),
        metadata=_metadata(a),
        reply_broadcast=_flag(a, "reply_broadcast"),
    )
    return {"channel": channel.id, "ts": message.ts, "message": ws.message_obj(message, True)}


@_api("chat.postEphemeral")
def _chat_post_ephemeral(ws: Workspace, a: Args) -> Answer:
    channel = ws._target(a)
    user = ws._user(_opt_str(a, "user"))
    if channel.is_archived:
        raise SlackError("is_archived")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = _content(a)
    ts = ws._next_ts()
    ws.ephemerals.append(Ephemeral(ts, channel.id, user.id, text, blocks, _opt_str(a, "thread_ts")))
    return {"message_ts": ts}


@_api("chat.update")
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
    blocks = _message_blocks(a)
    if text is None and blocks is None:
        raise SlackError("no_text")
    message.text = str(text) if text is not None else message.text
    message.blocks = blocks if blocks is not None else message.blocks  # Slack keeps old blocks
    message.metadata = _metadata(a) or message.metadata
    message.edited = {"user": ws.bot_user_id, "ts": ws._next_ts()}
    obj = ws.message_obj(message, True)
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": obj}


@_api("chat.delete")
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


@_api("pins.add")
def _pins_add(ws: Workspace, a: Args) -> Answer:
    channel, message = _pinned_message(ws, a)
    if ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    if message.ts in channel.pins:
        raise SlackError("already_pinned")
    channel.pins.append(message.ts)
    return {}


@_api("pins.list")
def _pins_list(ws: Workspace, a: Args) -> Answer:
    channel = ws._channel(a)
    items = [
        {
            "type": "message",
            "channel": channel.id,
            "created_by": ws.bot_user_id,
            "message": ws.message_obj(ws._message(channel, ts), False),
        }
        for ts in channel.pins
    ]
    return {"items": items}


@_api("reactions.add")
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


def _trigger_user(ws: Workspace, a: Args) -> tuple[str, str]:
    trigger_id = _opt_str(a, "trigger_id")
    if trigger_id is None:
        raise _invalid("[ERROR] missing required field: trigger_id")
    trigger = ws._triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger["used"]:
        raise SlackError("exchanged_trigger_id")
    if ws.clock() - trigger["issued"] > TRIGGER_TTL:
        raise SlackError("expired_trigger_id")
    return trigger_id, trigger["user"]


def _check_external_id(ws: Workspace, external_id: str, own: str | None = None) -> None:
    if external_id and any(v.external_id == external_id and v.id != own for v in ws.views.values()):
        raise SlackError("duplicate_external_id")


def _store_view(ws: Workspace, spec: dict[str, Any], view: View) -> View:
    _check_external_id(ws, spec.get("external_id") or "", view.id)
    view.type, view.blocks = spec["type"], spec.get("blocks") or []
    view.callback_id = spec.get("callback_id") or ""
    view.private_metadata = spec.get("private_metadata") or ""
    view.title, view.submit, view.close = spec.get("title"), spec.get("submit"), spec.get("close")
    view.external_id = spec.get("external_id") or ""
    view.clear_on_close = bool(spec.get("clear_on_close"))
    view.notify_on_close = bool(spec.get("notify_on_close"))
    view.hash = ws._new_hash()
    ws.views[view.id] = view
    return view


def _open_modal(ws: Workspace, a: Args, push: bool) -> Answer:
    trigger_id, user_id = _trigger_user(ws, a)
    spec = _parse_view(a, ("modal",))
    stack = ws._stacks.get(user_id, []) if push else []
    if len(stack) >= MAX_VIEW_STACK:
        raise SlackError("push_limit_reached")
    view_id = ws._new_id("V")
    view = View(view_id, "modal", user_id=user_id, root_view_id=stack[0] if stack else view_id)
    view.previous_view_id = stack[-1] if stack else None
    _store_view(ws, spec, view)
    ws._triggers[trigger_id]["used"] = True
    ws._stacks[user_id] = [*stack, view.id]
    return {"view": ws.view_obj(view)}


@_api("views.open")
def _views_open(ws: Workspace, a: Args) -> Answer:
    return _open_modal(ws, a, push=False)


@_api("views.push")
def _views_push(ws: Workspace, a: Args) -> Answer:
    return _open_modal(ws, a, push=True)


@_api("views.update")
def _views_update(ws: Workspace, a: Args) -> Answer:
    view_id, external_id = _opt_str(a, "view_id"), _opt_str(a, "external_id")
    if not view_id and not external_id:
        raise _invalid("[ERROR] either view_id or external_id is required")
    found = [
        v
        for v in ws.views.values()
        if v.id == view_id or (external_id and v.external_id == external_id)
    ]
    if not found:
        raise SlackError("not_found")
    view = found[0]
    spec = _parse_view(a, (view.type,))
    if _opt_str(a, "hash") not in (None, view.hash):
        raise SlackError("hash_conflict")
    return {"view": ws.view_obj(_store_view(ws, spec, view))}


@_api("views.publish")
def _views_publish(ws: Workspace, a: Args) -> Answer:
    user = ws._user(_opt_str(a, "user_id"))
    spec = _parse_view(a, ("home",))
    current = ws.home_of(user.id)
    if current and _opt_str(a, "hash") not in (None, current.hash):
        raise SlackError("hash_conflict")
    view = current or View(ws._new_id("V"), "home", user_id=user.id)
    ws._homes[user.id] = view.id
    return {"view": ws.view_obj(_store_view(ws, spec, view))}


@_api("files.getUploadURLExternal")
def _files_get_upload_url(ws: Workspace, a: Args) -> Answer:
    filename = _opt_str(a, "filename")
    length = _int_arg(a, "length", -1)
    if not filename or length < 0:
        raise _invalid("[ERROR] filename and length are required")
    if len(_opt_str(a, "alt_txt") or "") > 1000:
        raise _invalid("[ERROR] alt_txt must be 1000 characters or fewer")
    upload = UploadedFile(ws._new_id("F"), filename, length, _opt_str(a, "alt_txt") or "")
    upload.created = int(ws.clock())
    ws.files[upload.id] = upload
    return {"upload_url": f"{ws.base_url}upload/{upload.id}", "file_id": upload.id}


@_api("files.completeUploadExternal")
def _files_complete_upload(ws: Workspace, a: Args) -> Answer:
    entries = _json_arg(a, "files", "invalid_arguments")
    if not isinstance(entries, list) or not entries:
        raise _invalid("[ERROR] missing required field: files")
    uploads = []
    for entry in entries:
        upload = ws.files.get(str(entry.get("id")) if isinstance(entry, dict) else "")
        if upload is None or upload.content is None:
            raise SlackError("file_not_found")
        upload.title = str(entry.get("title") or upload.filename)
        uploads.append(upload)
    targets = _id_list(a, "channels") or _id_list(a, "channel_id")
    channels = [ws._writable(ws._channel({"channel": c})) for c in targets]
    for channel in channels:
        ws._post(
            channel,
            _opt_str(a, "initial_comment") or "",
            [],
            thread_ts=_opt_str(a, "thread_ts"),
            files=[u.id for u in uploads],
        )
        for upload in uploads:
            upload.channels.append(channel.id)
    return {"files": [ws.file_obj(u) for u in uploads]}
