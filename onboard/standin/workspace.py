"""In-memory state of one Slack workspace: users, channels, messages, views and calls.

Owns the workspace's state (its records, ids, triggers and modal stacks), the helpers that seed
and inspect it for tests and the demo, and the request pipeline: each call recorded, faulted or
rate-limited (onboard.standin.faults), then dispatched to its method (onboard.standin.methods).
"""

from __future__ import annotations

import math
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from onboard.standin.answers import Answer, Args, Reply, SlackError, _opt_str
from onboard.standin.faults import Fault, FaultInjection, fault_reply
from onboard.standin.records import (
    Call,
    Channel,
    Ephemeral,
    Message,
    ResponseMessage,
    UploadedFile,
    User,
    View,
)

#: Rate-limit hook: given (method, now) return seconds to wait (answered as HTTP 429) or None.
RateLimiter = Callable[[str, float], float | None]

APP_LEVEL_METHODS = {"apps.connections.open"}  # called with the app-level token (xapp-)
GENERAL_ID = "C0GENERAL"
_ID_CHARS = string.ascii_uppercase + string.digits


class Workspace(FaultInjection):
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
            reply = fault_reply(fault)
        elif wait is not None:
            reply = fault_reply(Fault(method, 429, max(1, math.ceil(wait))))
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
