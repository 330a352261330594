"""Renders Jinja2 templates into Block Kit JSON and checks them against Slack's limits.

Every `{{ value }}` is escaped for mrkdwn (`&`, `<`, `>`) and for JSON unless marked `Raw`/`Markup`.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Any

import jinja2

from onboard.blockkit import (
    MAX_MESSAGE_BLOCKS_LENGTH,
    Problem,
    block_problems,
    message_too_long,
    view_problems,
)

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_FALLBACK_TEXT = 3000


class RenderError(Exception):
    """A template produced something Slack would refuse; a bug in the template, not the user."""


class Mrkdwn(str):
    """Text the bot composed itself (mentions, links): escaped for JSON only, never for mrkdwn."""


class Raw(str):
    """User text placed where Slack shows it verbatim (an input's initial value, metadata)."""


class _JsonValue(str):
    """A whole JSON value the bot built (a list, an object), inserted as it is."""


def escape_mrkdwn(text: str) -> str:
    """Neutralise Slack's control characters so typed text can never ping or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_string_body(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _finalize(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, _JsonValue):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mrkdwn | Raw):
        return _json_string_body(str(value))
    return _json_string_body(escape_mrkdwn(str(value)))


def _tojson(value: Any) -> _JsonValue:
    return _JsonValue(json.dumps(value, ensure_ascii=False))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _truncate(value: Any, limit: int) -> str:
    """At most `limit` characters as Slack counts them, i.e. after escaping."""
    if isinstance(value, Raw):
        return Raw(_cut(value, limit))
    if isinstance(value, Mrkdwn):
        return Mrkdwn(_cut(value, limit))
    escaped = escape_mrkdwn(str(value))
    if len(escaped) <= limit:
        return Mrkdwn(escaped)
    cut = escaped[: limit - 1]
    entity = cut.rfind("&")
    if entity != -1 and ";" not in cut[entity:]:
        cut = cut[:entity]  # never leave half an entity such as "&am"
    return Mrkdwn(cut + "…")


def _mention(user_id: str) -> Mrkdwn:
    if not (user_id[:1] in "UWB" and user_id.isalnum()):
        raise RenderError(f"not a user ID: {user_id!r}")
    return Mrkdwn(f"<@{user_id}>")


def _channel_link(channel_id: str) -> Mrkdwn:
    if not (channel_id[:1] in "CGD" and channel_id.isalnum()):
        raise RenderError(f"not a channel ID: {channel_id!r}")
    return Mrkdwn(f"<#{channel_id}>")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("onboard.messages", "templates"),
        autoescape=False,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no stat() of each at every render
    )
    env.filters["raw"] = lambda v: Raw("" if v is None else str(v))
    env.filters["json"] = _tojson
    env.filters["truncate_to"] = _truncate
    env.filters["mention"] = _mention
    env.filters["channel"] = _channel_link
    return env


def load_all() -> None:
    """Compile every template (a long-running process, at start: see `onboard serve`)."""
    env = environment()
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)


def _render_text(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def _parse(template: str, text: str) -> dict[str, Any]:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RenderError(f"{template} did not render to JSON: {exc}") from exc


def _render_json(template: str, context: dict[str, Any]) -> dict[str, Any]:
    return _parse(template, _render_text(template, context))


def render_message(template: str, **context: Any) -> dict[str, Any]:
    """A message (`text` fallback plus `blocks`) ready for chat.postMessage or an ack."""
    text = _render_text(f"{template}.json.j2", context)
    _check_message(template, text)
    message = _parse(template, text)
    message["text"] = _cut(message.get("text", ""), MAX_FALLBACK_TEXT)
    return message


@lru_cache(maxsize=256)
def _check_message(template: str, text: str) -> None:
    """Raises RenderError unless Slack would take the blocks. Remembered by rendered text:
    the same notice or help sent again is not parsed into slack_sdk's models again."""
    blocks = _parse(template, text).get("blocks", [])
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise RenderError(f"{template}: {len(blocks)} blocks, Slack allows {MAX_MESSAGE_BLOCKS}")
    _refuse(template, block_problems(blocks, "/blocks"))
    if message_too_long(blocks):
        raise RenderError(
            f"{template}: blocks over {MAX_MESSAGE_BLOCKS_LENGTH} characters (msg_blocks_too_long)"
        )


def render_view(template: str, **context: Any) -> dict[str, Any]:
    """A modal or Home tab view, checked the way Slack checks it (onboard.blockkit)."""
    text = _render_text(f"{template}.json.j2", context)
    _check_view(template, text)
    return _parse(template, text)


@lru_cache(maxsize=256)
def _check_view(template: str, text: str) -> None:
    """Raises RenderError unless Slack would take the view; remembered like `_check_message`."""
    view = _parse(template, text)
    if len(view.get("blocks", [])) > MAX_VIEW_BLOCKS:
        raise RenderError(f"{template}: more than {MAX_VIEW_BLOCKS} blocks")
    _refuse(template, view_problems(view))


def _refuse(template: str, problems: list[Problem]) -> None:
    """Every reason at once, each with its JSON pointer, as Slack would list them."""
    if problems:
        raise RenderError(f"{template}: " + "; ".join(str(p) for p in problems))


def render_texts(template: str, **context: Any) -> dict[str, str]:
    """Plain strings (a channel topic and purpose), rendered and escaped like the rest."""
    rendered = _render_json(f"{template}.json.j2", context)
    if not all(isinstance(v, str) for v in rendered.values()):
        raise RenderError(f"{template}: every value must be a string")
    return rendered
