"""In-memory state of one Slack workspace: users, channels, messages, views and calls.

Owns users, channels, messages, views, files, injected faults and the log of calls.
"""

from __future__ import annotations

import math
import random
import re
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
APP_LEVEL_METHODS = {"apps.connections.open"}  # called with the app-level token (xapp-)
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
    share: float = 1.0  # the fraction of matching calls it hits (chaos), drawn from the seed
    lose_answer: bool = False  # the method runs, then the connection drops before the answer
    hits: int = 0

    @property
    def replaces_answer(self) -> bool:
        if self.lose_answer:
            return False
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
        app_token: str = "xapp-standin",
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
        self.team_id, self.bot_token, self.app_token = team_id, bot_token, app_token
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.paid_plan = paid_plan
        self.connect_policy_refuses = connect_policy_refuses
        self.connect_policy_error = connect_policy_error
        self.clock = clock
        self.rate_limiter: RateLimiter | None = None
        self.base_url = "http://127.0.0.1/"  # the server sets its own; ends with "/"
        self.socket_url: str | None = None  # set when the server opens a Socket Mode link
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

    def copy_view(self, view_id: str, new_id: str) -> View:
        """A second modal just like `view_id` (load tests: many people, each with their form)."""
        with self.lock:
            copy = replace(self.views[view_id], id=new_id)
            self.views[new_id] = copy
            return copy

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
        share: float = 1.0,
        lose_answer: bool = False,
    ) -> Fault:
        """Fault the next `times` calls of method ("*" = any; times None = until cleared).

        drop closes the connection; error answers 200 {"ok": false, "error": error}; otherwise
        HTTP status (default 429, with Retry-After). delay sleeps first; delay alone (no status,
        error or drop) only slows the call down and the method still runs.
        """
        if status is None:
            status = 200 if delay > 0 and error is None and not drop else 429
        fault = Fault(method, status, retry_after, times, error, delay, drop, share, lose_answer)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*"):
                if fault.share < 1.0 and self._rng.random() >= fault.share:
                    continue
                fault.hits += 1
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
            if fault is not None and fault.lose_answer:
                reply = Reply(200, reply.body, drop=True)
                faulted = True
        with self.lock:
            record.faulted = faulted
            record.error = reply.body.get("error") if reply.body else None
        return reply

    def dispatch(self, method: str, args: Args, token: str | None) -> Answer:
        """Run one API method as Slack would, without faults or recording."""
        from onboard.standin.methods import METHODS  # here: the methods import this module

        handler = METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if not token:
            return {"ok": False, "error": "not_authed"}
        app_level = method in APP_LEVEL_METHODS
        if token != (self.app_token if app_level else self.bot_token):
            known = token in (self.app_token, self.bot_token)
            return {"ok": False, "error": "not_allowed_token_type" if known else "invalid_auth"}
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


def _opt_str(a: Args, key: str) -> str | None:
    value = a.get(key)
    return None if value is None or value == "" else str(value)


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
