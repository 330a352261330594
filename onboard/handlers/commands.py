"""The `/onboard` slash command: help, `new`, and a helpful answer to anything unknown.

Only internal users get past the first line; everyone else is told who the command is for.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from onboard.bot.errors import NotAllowed
from onboard.handlers.failures import explain
from onboard.messages.render import render_message, render_view

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

COMMANDS: tuple[tuple[str, str], ...] = (
    ("new [client name]", "start onboarding a client: a form, then its own channel"),
    ("help", "this list"),
)


def register(bot: Onboard) -> None:
    @bot.bolt.command("/onboard")
    def onboard(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        sub, _, rest = command.get("text", "").strip().partition(" ")
        sub = sub.lower()
        try:
            person = bot.directory.require_internal(command["user_id"])
        except Exception as exc:
            icon = ":lock:" if isinstance(exc, NotAllowed) else ":warning:"
            ack(**render_message("notice", text=explain(exc), icon=icon))
            return
        if sub in ("", "help"):
            ack(**render_message("help", commands=COMMANDS))
        elif sub == "new":
            ack()
            view = render_view(
                "new_client_modal",
                metadata=json.dumps({"channel": command.get("channel_id")}),
                **bot.onboarding.form_choices(rest, person.tz),
            )
            try:
                client.views_open(trigger_id=command["trigger_id"], view=view)
            except SlackApiError as exc:
                # The trigger lasts 3 seconds; when it is gone, tell the user how to retry.
                log.warning("views.open failed: %s", exc.response.get("error"))
                _say_later(
                    bot, command, "Slack was slow to open the form: try `/onboard new` again."
                )
        else:
            ack(**render_message("help", commands=COMMANDS, unknown=sub))


def _say_later(bot: Onboard, command: dict[str, Any], text: str) -> None:
    try:
        bot.bolt.client.chat_postEphemeral(
            channel=command["channel_id"],
            user=command["user_id"],
            **render_message("notice", text=text),
        )
    except SlackApiError:
        log.warning("could not tell the user the form failed to open")
