"""Buttons and checkboxes in messages: ticking a task on the journey card.

The value says which task was clicked; who may tick it is decided here, on the server.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest

from onboard.handlers.clicks import tell
from onboard.handlers.failures import explain
from onboard.handlers.requests import cause_of
from onboard.storage.audit import Cause

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


def register(bot: Onboard) -> None:
    @bot.bolt.action("task_done")
    def task_done(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], request: BoltRequest
    ) -> None:
        ack()
        bot.after_ack(tick, body, action, cause_of(request, body))

    def tick(body: dict[str, Any], action: dict[str, Any], cause: Cause) -> None:
        channel = (body.get("channel") or body.get("container") or {}).get("id") or (
            body.get("container") or {}
        ).get("channel_id")
        try:
            bot.directory.require_internal(cause.actor)
            for option in action.get("selected_options") or []:
                _, _, number = str(option.get("value", "")).partition(":")
                if number.isdigit():
                    bot.tasks.done("", channel, int(number), cause)
        except Exception as exc:
            tell(bot, body, cause.actor, explain(exc))

    register_archive(bot)


def register_archive(bot: Onboard) -> None:
    @bot.bolt.action("archive_channel")
    def archive(ack: Ack, body: dict[str, Any], request: BoltRequest) -> None:
        ack()
        bot.after_ack(archive_now, body, cause_of(request, body))

    def archive_now(body: dict[str, Any], cause: Cause) -> None:
        channel = (body.get("channel") or {}).get("id")
        try:
            bot.directory.require_internal(cause.actor)
            bot.nudges.archive(channel, cause)
            bot.delivery.wake()
        except Exception as exc:
            tell(bot, body, cause.actor, explain(exc))
