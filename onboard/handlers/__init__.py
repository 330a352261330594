"""Bolt listeners, one module per Slack surface.

Each parses the payload, acks within Slack's three seconds, calls one service and renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onboard.bot.app import Onboard


def register(bot: Onboard) -> None:
    from onboard.handlers import (
        actions,
        approvals,
        commands,
        events,
        intake,
        options,
        standups,
        surveys,
        views,
    )

    events.register(bot)
    commands.register(bot)
    views.register(bot)
    options.register(bot)
    actions.register(bot)
    approvals.register(bot)
    intake.register(bot)
    standups.register(bot)
    surveys.register(bot)
