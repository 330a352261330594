"""Searchable selects: the client timezone and country lists, filtered as the user types.

Slack asks for options as `block_suggestion` requests; answers hold at most 100 options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack

from onboard.bot import places

if TYPE_CHECKING:
    from onboard.bot.app import Onboard


def _options(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"text": {"type": "plain_text", "text": label[:75]}, "value": value}
        for value, label in pairs
    ]


def register(bot: Onboard) -> None:
    @bot.bolt.options("timezone")
    def timezones(ack: Ack, payload: dict[str, Any]) -> None:
        ack(options=_options(places.timezone_options(payload.get("value", ""))))

    @bot.bolt.options("country")
    def countries(ack: Ack, payload: dict[str, Any]) -> None:
        # Regions (England, Bavaria, Texas) are for the client's holidays, on the New client
        # form; an intake's country question (where registered, say) takes countries only.
        form = (payload.get("view") or {}).get("callback_id")
        options = places.country_options(
            payload.get("value", ""), with_regions=form == "new_client"
        )
        ack(options=_options(options))
