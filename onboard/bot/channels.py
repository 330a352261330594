"""Client channels: names Slack accepts, and creating one exactly once.

A taken name gets a numbered suffix; a channel an earlier, interrupted attempt created is adopted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slugify import slugify

from onboard.bot.delivery import FollowUp, Outcome
from onboard.bot.gateway import SlackGateway, SlackRefused
from onboard.storage.models import OutboxMessage

PREFIX = "client-"
# 80 is Slack's limit; keep room for the prefix and a "-NN" suffix.
CHANNEL_NAME_MAX = 80  # Slack's limit (invalid_name_maxlength)
MAX_SLUG = CHANNEL_NAME_MAX - len(PREFIX) - 3
MAX_SUFFIX = 99
CREATE_CHANNEL = "client.create_channel"


def slug_for(name: str) -> str:
    """A channel-safe slug: lowercase ASCII letters, digits and hyphens (may be empty)."""
    return slugify(name, max_length=MAX_SLUG, word_boundary=True, separator="-")


def candidate_names(slug: str) -> list[str]:
    """The channel names to try in turn, each within Slack's 80 characters: the slug may
    carry a suffix of its own already (a second client of one name: "acme-rockets-2")."""
    base = PREFIX + slug
    names = [base[:CHANNEL_NAME_MAX]]
    for n in range(2, MAX_SUFFIX + 1):
        suffix = f"-{n}"
        names.append(base[: CHANNEL_NAME_MAX - len(suffix)].rstrip("-") + suffix)
    return list(dict.fromkeys(names))


def make_executor(
    bot_user: Callable[[], str],
    is_recorded: Callable[[str], bool],
    on_created: Callable[[OutboxMessage, dict[str, Any]], FollowUp],
) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    """The outbox executor that creates a client's channel.

    `is_recorded(channel_id)` says whether a client already owns a channel, so an orphan of an
    interrupted attempt (created by the bot, owned by nobody) is adopted, not duplicated.
    """

    def create(gateway: SlackGateway, row: OutboxMessage) -> Outcome:
        is_private = bool(row.payload["is_private"])
        for name in candidate_names(row.payload["slug"]):
            try:
                channel = gateway.call("conversations.create", name=name, is_private=is_private)[
                    "channel"
                ]
            except SlackRefused as exc:
                if exc.error != "name_taken":
                    raise
                orphan = (
                    _orphan(gateway, name, bot_user(), is_recorded) if row.attempts > 1 else None
                )
                if orphan is None:
                    continue
                channel = orphan
            found = {"channel": channel["id"], "name": channel["name"], "private": is_private}
            return Outcome(result=found, then=[on_created(row, found)])
        raise SlackRefused("conversations.create", "no_free_channel_name")

    return create


def _orphan(
    gateway: SlackGateway, name: str, bot_user: str, is_recorded: Callable[[str], bool]
) -> dict[str, Any] | None:
    cursor = None
    while True:
        page = gateway.call(
            "conversations.list",
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=1000,
            **({"cursor": cursor} if cursor else {}),
        )
        for channel in page.get("channels", []):
            if channel.get("name") == name:
                mine = channel.get("creator") == bot_user and not is_recorded(channel["id"])
                return channel if mine else None
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
