"""Slack's limits that the stand-in enforces, as Slack documents or applies them."""

from __future__ import annotations

import re

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
_NAME_CHARS = re.compile(r"[a-z0-9_-]+")
