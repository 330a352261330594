"""Opening a modal with a request's trigger, once.

The Bolt client resends a call once when its connection drops (app.py), which is right for a
keep-alive connection the server had closed, but a connection can also drop after Slack did
the call and before its answer arrived: the resend then finds the trigger used. Our triggers
are used once each, so a used trigger means the first send opened the modal.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


def open_view(client: WebClient, trigger_id: str, view: dict[str, Any]) -> None:
    """`views.open`; raises SlackApiError when Slack did not open it (an expired trigger)."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        if exc.response.get("error") != "exchanged_trigger_id":
            raise
        log.info("views.open resent after a lost answer: the first send opened the modal")
