"""In-memory state of one Slack workspace, and the Web API methods that act on it.

Owns users, channels, messages, views, files, injected faults and the log of calls.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import re
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View as SdkView

Args = dict[str, Any]
Answer = dict[str, Any]
#: Rate-limit hook: given (method, now) return seconds to wait (answered as HTTP 429) or None.
RateLimiter = Callable[[str, float], float | None]
T = TypeVar("T")

TRIGGER_TTL = 3.0
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_STACK = 3
MAX_VIEW_BYTES = 250_000
MAX_INVITE_USERS = 100
MAX_TOPIC = 250
MAX_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
MAX_INVITE_MESSAGE = 560
MAX_CHANNEL_NAME = 80
GENERAL_ID = "C0GENERAL"
_NAME_CHARS = re.compile(r"[a-z0-9_-]+")
_ID_CHARS = string.ascii_uppercase + string.digits


class SlackError(Exception):
    """A Slack refusal: answered as {"ok": false, "error": error, **extra}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


@dataclass
class User:
    id: str
    team_id: str
    name: str
    real_name: str = ""
    email: str | None = None
    tz: str = "Europe/London"
    is_bot: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    deleted: bool = False


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    creator: str = ""
    created: int = 0
    topic: str = ""
    purpose: str = ""
    members: list[str] = field(default_factory=list)
    is_archived: bool = False
    is_shared: bool = False
    pending_shared_invites: list[dict[str, Any]] = field(default_factory=list)
    is_im: bool = False
    is_general: bool = False
    pins: list[str] = field(default_factory=list)


@dataclass
class Message:
    ts: str
    channel: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edited: dict[str, str] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    reply_broadcast: bool = False


@dataclass
class Ephemeral:
    ts: str
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass
class View:
    id: str
    type: str
    callback_id: str = ""
    private_metadata: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    title: dict[str, Any] | None = None
    submit: dict[str, Any] | None = None
    close: dict[str, Any] | None = None
    external_id: str = ""
    root_view_id: str | None = None
    previous_view_id: str | None = None
    hash: str = ""
    user_id: str = ""
    clear_on_close: bool = False
    notify_on_close: bool = False


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    alt_txt: str = ""
    title: str = ""
    content: bytes | None = None
    channels: list[str] = field(default_factory=list)
    created: int = 0


@dataclass
class Call:
    """One request to /api/<method>; faulted means an injected fault answered instead."""

    method: str
    args: dict[str, Any]
    time: float
    faulted: bool = False
    error: str | None = None


@dataclass
class Fault:
    method: str
    status: int = 429
    retry_after: int = 1
    remaining: int | None = 1
    error: str | None = None
    delay: float = 0.0
    drop: bool = False

    @property
    def replaces_answer(self) -> bool:
        return self.drop or self.error is not None or self.status != 200


@dataclass(frozen=True)
class Reply:
    """What the HTTP layer sends: a JSON body, or (body None) an HTML error page, or nothing."""

    status: int
    body: Answer | None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


@dataclass
class ResponseMessage:
    response_id: str
    payload: dict[str, Any]
    time: float


class Workspace:
    """One Slack workspace; every public method is safe to call from any thread."""

    def __init__(
        self,
        team_id: str = "T0HOME",
        bot_token: str = "xoxb-standin",
        *,
        team_name: str = "Home Agency",
        team_domain: str = "home-agency",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0STANDIN",
        bot_name: str = "onboard",
        paid_plan: bool = True,
        connect_policy_refuses: bool = False,
        connect_policy_error: str = "restricted_action",
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.lock = threading.RLock()
        self.team_id, self.bot_token = team_id, bot_token
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.paid_plan = paid_plan
        self.connect_policy_refuses = connect_policy_refuses
        self.connect_policy_error = connect_policy_error
        self.clock = clock
        self.rate_limiter: RateLimiter | None = None
        self.base_url = "http://127.0.0.1/"  # the server sets its own; ends with "/"
        self.teams: dict[str, dict[str, str]] = {}
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, View] = {}
        self.files: dict[str, UploadedFile] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.calls: list[Call] = []
        self.responses: list[ResponseMessage] = []
        self.faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._ids: set[str] = {bot_user_id, GENERAL_ID}
        self._last_ts = 0
        self._triggers: dict[str, dict[str, Any]] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._dms: dict[str, str] = {}
        self.add_team(team_id, team_name, team_domain)
        self.users[bot_user_id] = User(bot_user_id, team_id, bot_name, "Onboard", is_bot=True)
        general = Channel(GENERAL_ID, "general", creator=bot_user_id, created=int(clock()))
        general.is_general = True
        self.channels[general.id], self.messages[general.id] = general, []

    # ----- helpers for tests and the demo -----

    def add_team(self, team_id: str, name: str | None = None, domain: str | None = None) -> None:
        with self.lock:
            domain = domain or team_id.lower()
            self.teams[team_id] = {"id": team_id, "name": name or team_id, "domain": domain}

    def add_user(
        self,
        name: str,
        *,
        team_id: str | None = None,
        email: str | None = None,
        tz: str = "Europe/London",
        guest: bool = False,
        single_channel_guest: bool = False,
        real_name: str | None = None,
    ) -> User:
        """Add a person; team_id None means the home team; email defaults to name@domain."""
        with self.lock:
            team = team_id or self.team_id
            if team not in self.teams:
                self.add_team(team)
            user = User(
                id=self._new_id("U"),
                team_id=team,
                name=name,
                real_name=real_name or name.replace(".", " ").title(),
                email=email or f"{name}@{self.teams[team]['domain']}.example",
                tz=tz,
                is_restricted=guest or single_channel_guest,
                is_ultra_restricted=single_channel_guest,
            )
            self.users[user.id] = user
            general = self.channel_by_name("general")
            if team == self.team_id and not user.is_restricted and general:
                general.members.append(user.id)
            return user

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        creator: str | None = None,
        members: tuple[str, ...] | list[str] | None = None,
    ) -> Channel:
        """Seed a channel without the API's checks; creator defaults to the bot, members to it."""
        with self.lock:
            creator = creator or self.bot_user_id
            channel = Channel(
                id=self._new_id("C"),
                name=name,
                is_private=is_private,
                creator=creator,
                created=int(self.clock()),
                members=list(members) if members is not None else [creator],
            )
            self.channels[channel.id] = channel
            self.messages[channel.id] = []
            return channel

    def add_usergroup(self, handle: str, users: list[str]) -> str:
        with self.lock:
            group_id = self._new_id("S")
            self.usergroups[group_id] = list(users)
            return group_id

    def issue_trigger(self, user_id: str) -> str:
        """A trigger_id for user_id: valid TRIGGER_TTL seconds, usable once."""
        with self.lock:
            trigger = f"{int(self.clock())}.{self._rng.randrange(10**12)}.{self._hex(32)}"
            self._triggers[trigger] = {"user": user_id, "issued": self.clock(), "used": False}
            return trigger

    def new_response_url(self) -> str:
        """A response_url as Slack puts in slash-command payloads, served by the stand-in."""
        with self.lock:
            return f"{self.base_url}response_url/{self._hex(16)}"

    def record_response(self, response_id: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.responses.append(ResponseMessage(response_id, payload, self.clock()))

    def receive_upload(self, file_id: str, content: bytes) -> bool:
        with self.lock:
            upload = self.files.get(file_id)
            if upload is None:
                return False
            upload.content = content
            return True

    def accept_shared_invite(self, invite_id: str, user_id: str) -> Channel:
        """Simulate the external side accepting a Slack Connect invite."""
        with self.lock:
            for channel in self.channels.values():
                for invite in channel.pending_shared_invites:
                    if invite["invite_id"] == invite_id:
                        channel.pending_shared_invites.remove(invite)
                        channel.is_shared = True
                        if user_id not in channel.members:
                            channel.members.append(user_id)
                        return channel
            raise KeyError(invite_id)

    def close_views(self, user_id: str) -> None:
        """Simulate the user closing every modal they have open."""
        with self.lock:
            self._stacks.pop(user_id, None)

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def channel_by_name(self, name: str) -> Channel | None:
        with self.lock:
            name = name.lstrip("#")
            found = [c for c in self.channels.values() if not c.is_im and c.name == name]
            return found[0] if found else None

    def messages_in(self, channel_id: str) -> list[Message]:
        """Every message in the channel, thread replies included, oldest first."""
        with self.lock:
            return list(self.messages.get(channel_id, []))

    def view(self, view_id: str) -> View | None:
        with self.lock:
            return self.views.get(view_id)

    def open_views_for(self, user_id: str) -> list[View]:
        """The user's modal stack, bottom (root) first."""
        with self.lock:
            return [self.views[v] for v in self._stacks.get(user_id, [])]

    def home_of(self, user_id: str) -> View | None:
        with self.lock:
            view_id = self._homes.get(user_id)
            return self.views[view_id] if view_id else None

    # ----- fault injection -----

    def inject(
        self,
        method: str,
        status: int | None = None,
        retry_after: int = 1,
        times: int | None = 1,
        error: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> Fault:
        """Fault the next `times` calls of method ("*" = any; times None = until cleared).

        drop closes the connection; error answers 200 {"ok": false, "error": error}; otherwise
        HTTP status (default 429, with Retry-After). delay sleeps first; delay alone (no status,
        error or drop) only slows the call down and the method still runs.
        """
        if status is None:
            status = 200 if delay > 0 and error is None and not drop else 429
        fault = Fault(method, status, retry_after, times, error, delay, drop)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*"):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    # ----- the request pipeline -----

    def handle(self, method: str, args: Args, token: str | None) -> Reply:
        """Record the call, apply faults and rate limits, then run the method."""
        with self.lock:
            record = Call(method, dict(args), self.clock())
            self.calls.append(record)
            fault = self._take_fault(method)
            wait = self.rate_limiter(method, self.clock()) if self.rate_limiter else None
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)
        reply: Reply | None = None
        if fault is not None and fault.replaces_answer:
            reply = _fault_reply(fault)
        elif wait is not None:
            reply = _fault_reply(Fault(method, 429, max(1, math.ceil(wait))))
        faulted = reply is not None
        if reply is None:
            reply = Reply(200, self.dispatch(method, args, token))
        with self.lock:
            record.faulted = faulted
            record.error = reply.body.get("error") if reply.body else None
        return reply

    def dispatch(self, method: str, args: Args, token: str | None) -> Answer:
        """Run one API method as Slack would, without faults or recording."""
        handler = METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        with self.lock:
            try:
                return {"ok": True, **handler(self, args)}
            except SlackError as refusal:
                return {"ok": False, "error": refusal.error, **refusal.extra}

    # ----- internals (lock held) -----

    def _new_id(self, prefix: str) -> str:
        while True:
            candidate = prefix + "".join(self._rng.choice(_ID_CHARS) for _ in range(10))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _hex(self, length: int) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(length))

    def _next_ts(self) -> str:
        self._last_ts = max(int(self.clock() * 1_000_000), self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _channel(self, a: Args, key: str = "channel") -> Channel:
        channel_id = _opt_str(a, key)
        channel = self.channels.get(channel_id) if channel_id else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _target(self, a: Args) -> Channel:
        """chat.* channel argument: a conversation ID, a user ID (the app DM) or a name."""
        target = _opt_str(a, "channel") or ""
        if target in self.users:
            return self._dm_with(target)
        channel = self.channels.get(target) or self.channel_by_name(target)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _user(self, user_id: str | None) -> User:
        user = self.users.get(user_id or "")
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _writable(self, channel: Channel, archived: str = "is_archived") -> Channel:
        if channel.is_archived:
            raise SlackError(archived)
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _message(self, channel: Channel, ts: str | None) -> Message:
        for message in self.messages.get(channel.id, []):
            if message.ts == ts:
                return message
        raise SlackError("message_not_found")

    def _dm_with(self, user_id: str) -> Channel:
        if user_id not in self._dms:
            dm = Channel(self._new_id("D"), "", creator=user_id, created=int(self.clock()))
            dm.members, dm.is_im, dm.is_private = [self.bot_user_id, user_id], True, True
            self.channels[dm.id], self.messages[dm.id] = dm, []
            self._dms[user_id] = dm.id
        return self.channels[self._dms[user_id]]

    def _post(
        self, channel: Channel, text: str, blocks: list[dict[str, Any]], **extra: Any
    ) -> Message:
        message = Message(self._next_ts(), channel.id, self.bot_user_id, text, blocks, **extra)
        self.messages[channel.id].append(message)
        return message

    def _new_hash(self) -> str:
        return f"{int(self.clock())}.{self._hex(8)}"

    # ----- Slack-shaped objects -----

    def user_obj(self, user: User) -> Answer:
        offset, label = _tz_info(user.tz, self.clock())
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
            profile.update(bot_id=self.bot_id, api_app_id=self.app_id)
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
            "updated": int(self.clock()),
        }

    def channel_obj(self, channel: Channel) -> Answer:
        if channel.is_im:
            user = next(m for m in channel.members if m != self.bot_user_id)
            return {"id": channel.id, "created": channel.created, "is_im": True, "user": user}
        pending = [
            self.users[i["user_id"]].team_id
            for i in channel.pending_shared_invites
            if i.get("user_id") in self.users
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
            "context_team_id": self.team_id,
            "is_member": self.bot_user_id in channel.members,
            "num_members": len(channel.members),
            "topic": {"value": channel.topic, "creator": channel.creator, "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": channel.creator, "last_set": 0},
            "previous_names": [],
        }

    def message_obj(self, message: Message, with_metadata: bool) -> Answer:
        author = self.users.get(message.user)
        out: Answer = {"type": "message", "ts": message.ts, "user": message.user}
        out.update(text=message.text, team=author.team_id if author else self.team_id)
        if message.user == self.bot_user_id:
            out.update(bot_id=self.bot_id, app_id=self.app_id)
        if message.blocks:
            out["blocks"] = message.blocks
        replies = [
            m
            for m in self.messages.get(message.channel, [])
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
        if message.ts in self.channels[message.channel].pins:
            out["pinned_to"] = [message.channel]
        if message.files:
            out["files"] = [self.file_obj(self.files[f]) for f in message.files]
        if with_metadata and message.metadata:
            out["metadata"] = message.metadata
        return out

    def view_obj(self, view: View) -> Answer:
        return {
            "id": view.id,
            "team_id": self.team_id,
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
            "app_id": self.app_id,
            "external_id": view.external_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def file_obj(self, upload: UploadedFile) -> Answer:
        return {
            "id": upload.id,
            "name": upload.filename,
            "title": upload.title or upload.filename,
            "size": len(upload.content or b""),
            "user": self.bot_user_id,
            "created": upload.created,
            "alt_txt": upload.alt_txt,
            "channels": list(upload.channels),
            "url_private": f"{self.base_url}files/{upload.id}/{upload.filename}",
        }


def _fault_reply(fault: Fault) -> Reply:
    if fault.drop:
        return Reply(0, None, drop=True)
    if fault.error is not None:
        return Reply(200, {"ok": False, "error": fault.error})
    if fault.status == 429:
        headers = {"Retry-After": str(fault.retry_after)}
        return Reply(429, {"ok": False, "error": "ratelimited"}, headers)
    return Reply(fault.status, None)


def _tz_info(tz: str, now: float) -> tuple[int, str]:
    try:
        moment = datetime.fromtimestamp(now, ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return 0, "UTC"
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset else 0, moment.tzname() or tz


# ----- argument parsing: form values arrive as strings, JSON values typed -----


def _opt_str(a: Args, key: str) -> str | None:
    value = a.get(key)
    return None if value is None or value == "" else str(value)


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
