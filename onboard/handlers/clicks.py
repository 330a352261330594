"""Clicks: acked at once, handled after the ack, answered privately (a message only the
clicker sees, or a modal from its trigger).

Used by every button and checkbox handler, so a refused click reads the same everywhere.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from onboard.bot.errors import OnboardError
from onboard.handlers.failures import explain
from onboard.handlers.modals import open_view
from onboard.handlers.requests import cause_of
from onboard.messages.render import render_message
from onboard.storage.audit import Cause

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

SLOW_FORM = "Slack was slow to open the form: click again."


@dataclass(frozen=True)
class Click:
    """A button or checkbox pressed: the payload, the element, and who pressed it."""

    body: dict[str, Any]
    action: dict[str, Any]
    client: WebClient
    cause: Cause


def on_click(
    bot: Onboard, action_id: str | re.Pattern[str], *, opens_form: bool = False
) -> Callable[[Callable[[Click], None]], Callable[[Click], None]]:
    """Registers `work` for clicks on `action_id`: Slack gets its ack at once, and `work`
    runs after it, from the inbox. `opens_form`: all the work does is open a modal with the
    click's trigger, so it is not kept in the database (`Inbox.defer`)."""

    def register(work: Callable[[Click], None]) -> Callable[[Click], None]:
        @bot.bolt.action(action_id)
        def acked(
            ack: Ack,
            body: dict[str, Any],
            action: dict[str, Any],
            client: WebClient,
            request: BoltRequest,
        ) -> None:
            ack()
            if not bot.inbox.defer(request, keep=not opens_form):
                work(Click(body, action, client, cause_of(request, body)))

        return work

    return register


def channel_of(body: dict[str, Any]) -> str | None:
    """The channel the click happened in (None for a button inside a modal)."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def words_for(exc: Exception) -> str:
    """What to tell the clicker when the service refused, or the button's value was garbage."""
    if isinstance(exc, OnboardError):
        return explain(exc)
    return "That button no longer does anything: the message may be out of date."


def tell(bot: Onboard, body: dict[str, Any], user: str, text: str) -> None:
    """Reply so only `user` sees it: in the channel of the click, else in the bot's DM."""
    channel = channel_of(body)
    icon = ":information_source:"
    try:
        if channel:
            bot.bolt.client.chat_postEphemeral(
                channel=channel, user=user, **render_message("notice", text=text, icon=icon)
            )
        else:
            bot.bolt.client.chat_postMessage(
                channel=user, **render_message("notice", text=text, icon=icon)
            )
    except SlackApiError as exc:
        log.warning("could not answer a click: %s", exc.response.get("error"))


def open_modal(
    bot: Onboard, client: WebClient, body: dict[str, Any], user: str, view: dict[str, Any]
) -> None:
    """Open `view` with the click's trigger (valid 3 s); say so when Slack was too slow."""
    try:
        open_view(client, body["trigger_id"], view)
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        tell(bot, body, user, SLOW_FORM)
