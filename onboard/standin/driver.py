"""Plays Slack's side towards the bot: requests signed and shaped exactly as Slack sends them.

Slash commands are form-encoded, interactivity is `payload=` JSON, events are JSON with event_id.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from onboard.standin.workspace import Workspace

APP_ID = "A0ONBOARD"


@dataclass
class Answer:
    """The bot's HTTP answer to one request."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# Slack's own markup in typed text: mentions the composer made, and links.
_MARKUP = re.compile(r"<(?:[@#!][^<>]*|(?:https?|mailto):[^<>]*)>")


def as_slack_sends(typed: str) -> str:
    """Typed text as Slack puts it in a payload: its markup as is, and `&`, `<`, `>` in the
    rest as HTML entities (formatting reference, "Escaping text")."""
    parts, last = [], 0
    for markup in _MARKUP.finditer(typed):
        parts += [_entities(typed[last : markup.start()]), markup.group()]
        last = markup.end()
    return "".join([*parts, _entities(typed[last:])])


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """Slack's v0 request signature of `body` sent at `timestamp`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_headers(secret: str, body: bytes, content_type: str, timestamp: int) -> dict[str, str]:
    """The headers Slack sends with a request to an app, signed."""
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(secret, body, timestamp),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


class SlackDriver:
    """Sends signed requests to the bot at `app_url` as users of `workspace`."""

    def __init__(self, app_url: str, signing_secret: str, workspace: Workspace) -> None:
        parsed = urllib.parse.urlsplit(app_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.signing_secret = signing_secret
        self.workspace = workspace

    # -- transport -----------------------------------------------------------------------------

    def signature(self, body: bytes, timestamp: int) -> str:
        return signature(self.signing_secret, body, timestamp)

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/slack/events",
    ) -> Answer:
        timestamp = int(time.time()) if timestamp is None else timestamp
        sent = slack_headers(self.signing_secret, body, content_type, timestamp)
        if signature is not None:
            sent["X-Slack-Signature"] = signature
        sent |= headers or {}
        sent = {name: value for name, value in sent.items() if value}  # "" means: leave it out
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=sent)
            response = connection.getresponse()
            return Answer(response.status, response.read(), dict(response.getheaders()))
        finally:
            connection.close()

    def get(self, path: str) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return Answer(response.status, response.read(), dict(response.getheaders()))
        finally:
            connection.close()

    def _interactive(self, payload: dict[str, Any], **options: Any) -> Answer:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **options)

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.workspace.users[user_id]
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}

    # -- what users do -------------------------------------------------------------------------

    def command(
        self, user_id: str, text: str = "", *, channel_id: str = "C0GENERAL", **options: Any
    ) -> Answer:
        """A user types `/onboard <text>` in a channel. `text` is what they typed, with any
        mention the composer made (`<@U…>`, `<#C…>`, `<!here>`) or link as Slack writes them;
        Slack sends the rest with `&`, `<` and `>` as HTML entities."""
        user = self.workspace.users[user_id]
        fields = {
            "token": "legacy-verification-token",
            "team_id": user.team_id,
            "team_domain": "home",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user.id,
            "user_name": user.name,
            "command": "/onboard",
            "text": as_slack_sends(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.workspace.new_response_url(),
            "trigger_id": self.workspace.issue_trigger(user.id),
        }
        body = urllib.parse.urlencode(fields).encode()
        return self.post(body, "application/x-www-form-urlencoded", **options)

    def submit_view(
        self, user_id: str, view_id: str, values: dict[str, Any], **options: Any
    ) -> Answer:
        """A user fills the modal `view_id` with `values` (by block ID) and presses submit."""
        view = self.workspace.views[view_id]
        state = {
            block["block_id"]: {
                block["element"]["action_id"]: _element_state(
                    block["element"], values.get(block["block_id"])
                )
            }
            for block in view.blocks
            if block.get("type") == "input"
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.workspace.team_id, "domain": "home"},
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "trigger_id": self.workspace.issue_trigger(user_id),
            "view": {
                "id": view.id,
                "team_id": self.workspace.team_id,
                "type": view.type,
                "blocks": view.blocks,
                "private_metadata": view.private_metadata or "",
                "callback_id": view.callback_id,
                "state": {"values": state},
                "hash": view.hash,
                "title": view.title,
                "submit": view.submit,
                "close": view.close,
                "previous_view_id": view.previous_view_id,
                "root_view_id": view.root_view_id or view.id,
                "app_id": APP_ID,
                "external_id": view.external_id or "",
                "app_installed_team_id": self.workspace.team_id,
                "bot_id": self.workspace.bot_id,
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        shown = view.hash  # the stand-in changes `view` in place when it is updated
        answer = self._interactive(payload, **options)
        body = answer.json() if answer.status == 200 and answer.body else {}
        # Slack closes the modal on an empty 200 or "clear", replaces it on "update" (checking
        # the new view as views.update would), and keeps it open on "errors".
        if answer.status == 200 and body.get("response_action") == "update":
            with self.workspace.lock:  # no views.update of the bot's between look and change
                if view.hash != shown:
                    # The bot's views.update, sent after this answer, overtook it here; at
                    # Slack the answer arrives first, so that update is the later one and stands.
                    return answer
                result = self.workspace.dispatch(
                    "views.update",
                    {"view_id": view_id, "view": json.dumps(body["view"])},
                    self.workspace.bot_token,
                )
            if not result.get("ok"):
                raise AssertionError(f"Slack would refuse the updated view: {result}")
        elif answer.status == 200 and (not body or body.get("response_action") == "clear"):
            self.workspace.close_views(user_id)
        return answer

    def act(
        self, user_id: str, channel_id: str, message_ts: str, action: dict[str, Any], **options: Any
    ) -> Answer:
        """A user clicks an interactive element of a message (block_actions)."""
        message = next(
            (m for m in self.workspace.messages_in(channel_id) if m.ts == message_ts), None
        )
        payload = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self.workspace.issue_trigger(user_id),
            "team": {"id": self.workspace.team_id, "domain": "home"},
            "channel": {"id": channel_id, "name": self.workspace.channels[channel_id].name},
            "message": {
                "ts": message_ts,
                "text": message.text if message else "",
                "blocks": message.blocks if message else [],
            },
            "response_url": self.workspace.new_response_url(),
            "actions": [{"action_ts": f"{time.time():.6f}", **action}],
        }
        return self._interactive(payload, **options)

    def _element(self, channel_id: str, action_id: str) -> tuple[str, str, dict[str, Any]]:
        """(message ts, block ID, element) of the newest message holding `action_id`."""
        for message in reversed(self.workspace.messages_in(channel_id)):
            for block in message.blocks:
                for element in block.get("elements", []) + (
                    [block["accessory"]] if "accessory" in block else []
                ):
                    if element.get("action_id") == action_id:
                        return message.ts, block.get("block_id", ""), element
        raise LookupError(f"no element {action_id!r} in {channel_id}")

    def click_button(self, user_id: str, channel_id: str, action_id: str, **options: Any) -> Answer:
        ts, block_id, element = self._element(channel_id, action_id)
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": element.get("text"),
            "value": element.get("value", ""),
        }
        return self.act(user_id, channel_id, ts, action, **options)

    def click_checkbox(
        self, user_id: str, channel_id: str, action_id: str, values: list[str]
    ) -> Answer:
        ts, block_id, element = self._element(channel_id, action_id)
        chosen = [o for o in element.get("options", []) if o["value"] in values]
        action = {
            "type": "checkboxes",
            "action_id": action_id,
            "block_id": block_id,
            "selected_options": chosen,
        }
        return self.act(user_id, channel_id, ts, action)

    def press_in_view(
        self, user_id: str, view_id: str, action_id: str, typed: dict[str, Any] | None = None
    ) -> Answer:
        """A user presses a button inside a modal (Back, Edit), with what they had typed."""
        view = self.workspace.views[view_id]
        element, block_id = next(
            (e, b.get("block_id", ""))
            for b in view.blocks
            for e in b.get("elements", []) + ([b["accessory"]] if "accessory" in b else [])
            if e.get("action_id") == action_id
        )
        typed = typed or {}
        state = {
            b["block_id"]: {
                b["element"]["action_id"]: _element_state(b["element"], typed.get(b["block_id"]))
            }
            for b in view.blocks
            if b.get("type") == "input"
        }
        payload = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.workspace.issue_trigger(user_id),
            "team": {"id": self.workspace.team_id, "domain": "home"},
            "view": {
                "id": view.id,
                "team_id": self.workspace.team_id,
                "type": view.type,
                "blocks": view.blocks,
                "private_metadata": view.private_metadata or "",
                "callback_id": view.callback_id,
                "state": {"values": state},
                "hash": view.hash,
                "title": view.title,
                "root_view_id": view.root_view_id or view.id,
                "app_id": APP_ID,
                "app_installed_team_id": self.workspace.team_id,
                "bot_id": self.workspace.bot_id,
            },
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": element.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self._interactive(payload)

    def suggest(self, user_id: str, view_id: str, action_id: str, typed: str) -> Answer:
        """A user types into a searchable select; Slack asks the bot for options."""
        view = self.workspace.views[view_id]
        block_id = next(
            b["block_id"]
            for b in view.blocks
            if b.get("type") == "input" and b["element"].get("action_id") == action_id
        )
        payload = {
            "type": "block_suggestion",
            "user": self._user(user_id),
            "team": {"id": self.workspace.team_id, "domain": "home"},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view_id},
            "action_id": action_id,
            "block_id": block_id,
            "value": typed,
            "view": {"id": view_id, "type": "modal", "callback_id": view.callback_id},
        }
        return self._interactive(payload)

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int = 0
    ) -> Answer:
        """Slack delivers an Events API event (again, with `retry` > 0)."""
        envelope = {
            "token": "legacy-verification-token",
            "team_id": self.workspace.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.workspace.team_id,
                    "user_id": self.workspace.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        headers = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            if retry
            else {}
        )
        return self.post(json.dumps(envelope).encode(), "application/json", headers=headers)


def _initial(element: dict[str, Any]) -> Any:
    """What Slack submits for a field the user left as the bot filled it."""
    for key in ("initial_value", "initial_date", "initial_user", "initial_users"):
        if key in element:
            return element[key]
    if "initial_option" in element:
        return element["initial_option"]["value"]
    return None


def _element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The state Slack submits for one input element holding `value`."""
    kind = element["type"]

    def option(v: Any) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": str(v)}, "value": str(v)}

    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": None if value in (None, "") else option(value)}
    if kind in ("checkboxes", "multi_static_select"):
        return {"type": kind, "selected_options": [option(v) for v in value or []]}
    if kind == "datepicker":
        return {"type": kind, "selected_date": None if value is None else str(value)}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": list(value or [])}
    if kind == "file_input":
        return {"type": kind, "files": list(value or [])}
    return {"type": kind, "value": value}
