"""The Slack app manifest: every scope, command and event the bot uses, in one place.

`onboard manifest` prints it; the README's set-up creates the Slack app from it.
"""

from __future__ import annotations

from typing import Any

import yaml

BOT_SCOPES = [
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:manage",
    "channels:read",
    "channels:history",
    "groups:write",
    "groups:read",
    "groups:history",
    "im:write",
    "im:history",
    "pins:write",
    "reactions:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "files:write",
    "conversations.connect:write",
    # Reads pending Slack Connect invites, so a retry after a lost answer invites no one twice.
    "conversations.connect:manage",
]
BOT_EVENTS = ["app_home_opened"]


def manifest(url: str, *, socket_mode: bool = False) -> dict[str, Any]:
    events_url = url.rstrip("/") + "/slack/events"
    command: dict[str, Any] = {
        "command": "/onboard",
        "description": "Client onboarding: new clients, status, approvals",
        "usage_hint": "new | status | advance | deliverable | standup | help",
        "should_escape": True,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    if not socket_mode:
        command["url"] = events_url
        interactivity["request_url"] = events_url
        interactivity["message_menu_options_url"] = events_url
        events["request_url"] = events_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "Onboard",
            "description": "Runs client onboarding in Slack: channels, playbooks, approvals.",
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": "onboard", "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(url: str, *, socket_mode: bool = False) -> str:
    return yaml.safe_dump(manifest(url, socket_mode=socket_mode), sort_keys=False)
