"""Events API deliveries: each `event_id` is handled once, however often Slack retries it.

App Home is published, for the person looking, each time they open it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from onboard.bot import deliveries_seen
from onboard.bot.home import home_for
from onboard.messages.render import render_view

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


def register(bot: Onboard) -> None:
    @bot.bolt.middleware
    def once_per_event(
        body: dict[str, Any], request: BoltRequest, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if (
            event_id
            and not bot.inbox.later(request)  # the event's own work, after its ack
            and not deliveries_seen.first_time(bot.db, f"event:{event_id}", bot.clock())
        ):
            return BoltResponse(status=200, body="")
        return next()

    @bot.bolt.event("app_home_opened")
    def home_opened(
        ack: Ack, event: dict[str, Any], client: WebClient, request: BoltRequest
    ) -> None:
        ack()
        # Not kept: the next visit publishes the Home again.
        if event.get("tab") in (None, "home") and not bot.inbox.defer(request, keep=False):
            publish_home(event["user"], client)

    def publish_home(user: str, client: WebClient) -> None:
        shown = home_for(bot.db, bot.directory, user, bot.clock(), team=bot.settings.team)
        view = render_view("home", **shown.context())
        try:
            client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:  # the next visit publishes again; nothing is lost
            log.warning("views.publish failed: %s", exc.response.get("error"))
