"""Events API deliveries: each `event_id` is handled once, however often Slack retries it.

App Home is published when a user opens it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse
from slack_bolt.request import BoltRequest

from onboard.bot import deliveries_seen

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


def register(bot: Onboard) -> None:
    @bot.bolt.middleware
    def once_per_event(
        body: dict[str, Any], request: BoltRequest, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not deliveries_seen.first_time(bot.db, f"event:{event_id}", bot.clock()):
            return BoltResponse(status=200, body="")
        return next()

    @bot.bolt.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        # Issue #3 builds App Home; until then opening it is acknowledged and nothing more.
        log.debug("app_home_opened")
