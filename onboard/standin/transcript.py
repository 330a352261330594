"""Shows what a Slack client would show for messages and modals, as terminal text.

Used by `onboard demo`; mrkdwn entities are decoded, mentions shown as @name / #channel.
"""

from __future__ import annotations

import re
from typing import Any

from onboard.standin.workspace import Workspace


def _mrkdwn(text: str, workspace: Workspace | None) -> str:
    def user(match: re.Match[str]) -> str:
        found = workspace.users.get(match.group(1)) if workspace else None
        return "@" + (found.name if found else match.group(1))

    def channel(match: re.Match[str]) -> str:
        found = workspace.channels.get(match.group(1)) if workspace else None
        return "#" + (found.name if found else match.group(1))

    text = re.sub(r"<@([A-Z0-9]+)>", user, text)
    text = re.sub(r"<#([A-Z0-9]+)(?:\|[^>]*)?>", channel, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: dict[str, Any] | None, workspace: Workspace | None) -> str:
    return _mrkdwn((obj or {}).get("text", ""), workspace)


def blocks_as_text(blocks: list[dict[str, Any]], workspace: Workspace | None = None) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines += [_text(block.get("text"), workspace).upper()]
        elif kind == "section":
            if block.get("text"):
                lines += _text(block["text"], workspace).splitlines()
            for field in block.get("fields", []):
                lines += ["  " + part for part in _text(field, workspace).splitlines()]
        elif kind == "context":
            lines += ["  " + " ".join(_text(e, workspace) for e in block.get("elements", []))]
        elif kind == "divider":
            lines.append("  ────")
        elif kind == "input":
            element = block.get("element", {})
            initial = element.get("initial_value") or (element.get("initial_option") or {}).get(
                "value", ""
            )
            shown = f" [{initial}]" if initial else ""
            lines.append(
                f"  {_text(block.get('label'), workspace)}: <{element.get('type')}>{shown}"
            )
        elif kind == "actions":
            for element in block.get("elements", []):
                if element.get("type") == "checkboxes":
                    lines += ["  ☐ " + _text(o.get("text"), workspace) for o in element["options"]]
            labels = [
                _text(e.get("text"), workspace)
                for e in block.get("elements", [])
                if e.get("type") == "button"
            ]
            if labels:
                lines.append("  " + "  ".join(f"[ {label} ]" for label in labels))
    return lines


def channel_transcript(workspace: Workspace, channel_id: str) -> str:
    channel = workspace.channels[channel_id]
    members = ", ".join(
        "@" + workspace.users[m].name for m in channel.members if m in workspace.users
    )
    kind = "private" if channel.is_private else "public"
    out = [
        f"#{channel.name} ({kind})",
        f"  topic:   {_mrkdwn(channel.topic, workspace)}",
        f"  purpose: {_mrkdwn(channel.purpose, workspace)}",
        f"  members: {members}",
    ]
    if channel.pending_shared_invites:
        out.append(f"  Slack Connect invitations pending: {len(channel.pending_shared_invites)}")
    for message in workspace.messages_in(channel_id):
        author = workspace.users.get(message.user)
        out.append(f"  ┌ {author.name if author else message.user}")
        body = blocks_as_text(message.blocks, workspace) or [_mrkdwn(message.text, workspace)]
        out += ["  │ " + line for line in body]
    return "\n".join(out)
