"""Slack's arguments as the stand-in reads them: form values arrive as strings, JSON values
typed; blocks and views are checked the way Slack checks them (onboard.blockkit, which the
renderer uses too, so a template bug fails both in the same way)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from onboard.blockkit import block_problems as _block_problems
from onboard.blockkit import message_too_long, view_problems
from onboard.standin.answers import Args, SlackError, _invalid, _opt_str
from onboard.standin.limits import MAX_MESSAGE_BLOCKS, MAX_TEXT, MAX_VIEW_BLOCKS, MAX_VIEW_BYTES

T = TypeVar("T")


def flag(a: Args, key: str, default: bool = False) -> bool:
    value = a.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool | int):
        return bool(value)
    return str(value).strip().lower() in ("1", "true", "yes")


def int_arg(a: Args, key: str, default: int, error: str = "invalid_arguments") -> int:
    value = a.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError(error) from None


def id_list(a: Args, key: str) -> list[str]:
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


def json_arg(a: Args, key: str, error: str) -> Any:
    value = a.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


def ts_micros(ts: str) -> int:
    seconds, _, fraction = ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def ts_bound(a: Args, key: str) -> int | None:
    value = _opt_str(a, key)
    if value is None:
        return None
    try:
        return ts_micros(value)
    except ValueError:
        raise SlackError(f"invalid_ts_{key}") from None


def paged(items: list[T], a: Args, default: int, maximum: int) -> tuple[list[T], str]:
    limit = int_arg(a, "limit", default, "invalid_limit")
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


def block_problems(blocks: list[Any], pointer: str) -> list[str]:
    """Slack's response_metadata messages for these blocks: empty when Slack takes them."""
    return [str(problem) for problem in _block_problems(blocks, pointer)]


def message_blocks(a: Args) -> list[dict[str, Any]] | None:
    """chat.* blocks: None when absent; refused like Slack when malformed or invalid."""
    if a.get("blocks") in (None, ""):
        return None
    blocks = json_arg(a, "blocks", "invalid_blocks_format")
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        message = f"[ERROR] no more than {MAX_MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]"
        raise SlackError("invalid_blocks", response_metadata={"messages": [message]})
    problems = block_problems(blocks, "/blocks")
    if problems:
        raise SlackError("invalid_blocks", response_metadata={"messages": problems})
    if message_too_long(blocks):
        raise SlackError("msg_blocks_too_long")
    return blocks


def text_and_blocks(a: Args) -> tuple[str, list[dict[str, Any]]]:
    text = _opt_str(a, "text") or ""
    blocks = message_blocks(a) or []
    if not text.strip() and not blocks and not a.get("attachments"):
        raise SlackError("no_text")
    return text[:MAX_TEXT], blocks


def message_metadata(a: Args) -> dict[str, Any] | None:
    if a.get("metadata") in (None, ""):
        return None
    metadata = json_arg(a, "metadata", "invalid_metadata_format")
    if not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def parse_view(a: Args, kinds: tuple[str, ...]) -> dict[str, Any]:
    raw = a.get("view")
    if raw in (None, ""):
        raise _invalid("[ERROR] missing required field: view")
    if len(raw if isinstance(raw, str) else json.dumps(raw)) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    view = json_arg(a, "view", "invalid_arguments")
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
        problems += [str(problem) for problem in view_problems(view)]
    if problems:
        raise _invalid(*problems)
    return view
