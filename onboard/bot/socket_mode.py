"""The Socket Mode face of the bot (`onboard socket`): Slack's requests come as envelopes down a
WebSocket the bot opens, and each ack goes back up it.

Bolt's SocketModeHandler, with what web.py gives each HTTP request: a request ID for the logs,
and `answering()`, so that work after an ack waits until the ack has been written to the socket
(a `views.update` must not overtake the "Saving…" it replaces). And a stop that answers the
envelopes it took before it hangs up.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from onboard.bot.answers import answering
from onboard.bot.logs import request_id

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

STOP_SECONDS = 10  # as `serve` gives the work already acked (Inbox.stop)


class SocketMode(SocketModeHandler):
    """Connects with the app-level token; `stop` rather than `close` on the way out."""

    def __init__(self, bot: Onboard) -> None:
        token = bot.settings.slack_app_token
        assert token is not None  # settings.require("SLACK_APP_TOKEN") was called
        super().__init__(bot.bolt, token.get_secret_value())

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        # As web.py: not uuid4, whose os.urandom a log-correlation ID does not need.
        token = request_id.set(f"{random.getrandbits(64):016x}")
        try:
            with answering() as sent:
                try:
                    super().handle(client, req)  # Bolt's dispatch, then the ack down the socket
                finally:
                    sent()  # the ack is written (or never will be): work after it may go on
        finally:
            request_id.reset(token)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Take no more envelopes, let those taken finish and send their acks while the socket
        is still open (up to `timeout`), then hang up. Bolt's `close` hangs up first: the work
        of the envelopes in hand is done but their acks are lost, so Slack shows the user an
        error and a retry does it twice."""
        client = self.client
        # The processor hands each envelope received to the workers; its loop ends at its next
        # look at the queue (within 1 s). What is still queued was never started: no ack and
        # nothing done, as Slack expects of an app that went away.
        client.closed = True
        client.message_processor.shutdown()
        # The workers finish what they were handed, acks included; shutdown(wait=True) has no
        # bound of its own, so it runs aside and is waited for up to `timeout`.
        draining = threading.Thread(
            target=client.message_workers.shutdown, name="socket-mode-stop", daemon=True
        )
        draining.start()
        draining.join(timeout)
        if draining.is_alive():
            log.warning("requests still being handled after %s s: their answers are lost", timeout)
        # Hangs up; still waits for any worker left, as it always did, before the bot stops.
        client.close()
