"""The workspace's records: the people, conversations, messages, views, files and calls it keeps.

Plain data; the Workspace owns them and the methods change them under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
class ResponseMessage:
    response_id: str
    payload: dict[str, Any]
    time: float
