"""Buttons and checkboxes in messages: ticking a task on the journey card.

The value says which task was clicked; who may tick it is decided here, on the server.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from onboard.handlers.clicks import Click, channel_of, on_click, tell
from onboard.handlers.failures import explain

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


def register(bot: Onboard) -> None:
    @on_click(bot, "task_done")
    def tick(click: Click) -> None:
        cause = click.cause
        try:
            bot.directory.require_internal(cause.actor)
            for option in click.action.get("selected_options") or []:
                _, _, number = str(option.get("value", "")).partition(":")
                if number.isdigit():
                    bot.tasks.done("", channel_of(click.body), int(number), cause)
        except Exception as exc:
            tell(bot, click.body, cause.actor, explain(exc))

    register_archive(bot)


def register_archive(bot: Onboard) -> None:
    @on_click(bot, "archive_channel")
    def archive(click: Click) -> None:
        cause = click.cause
        try:
            bot.directory.require_internal(cause.actor)
            bot.nudges.archive((click.body.get("channel") or {}).get("id"), cause)
            bot.delivery.wake()
        except Exception as exc:
            tell(bot, click.body, cause.actor, explain(exc))
