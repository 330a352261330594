"""`/onboard new`: opens the New client modal (the submission is handled in views.py).

The modal opens after the ack, within the trigger's three seconds.
"""

from __future__ import annotations

import json
import logging

from slack_sdk.errors import SlackApiError

from onboard.handlers.commands import Invocation, Reply, notice, subcommand
from onboard.handlers.modals import open_view
from onboard.messages.render import render_view

log = logging.getLogger(__name__)


@subcommand(
    "new",
    "new [client name]",
    "start onboarding a client: a form, then its own channel",
    ack_first=True,
)
def new(invocation: Invocation) -> Reply:
    bot = invocation.bot
    view = render_view(
        "new_client_modal",
        metadata=json.dumps({"channel": invocation.channel_id}),
        **bot.onboarding.form_choices(invocation.args, invocation.person.tz),
    )
    try:
        open_view(invocation.client, invocation.command["trigger_id"], view)
    except SlackApiError as exc:
        # The trigger lasts 3 seconds; when it is gone the user has to type the command again.
        log.warning("views.open failed: %s", exc.response.get("error"))
        return notice("Slack was slow to open the form: try `/onboard new` again.", ":warning:")
    return None
