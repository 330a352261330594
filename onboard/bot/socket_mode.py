"""The Socket Mode face of the bot (`onboard socket`): Slack's requests come as envelopes down a
WebSocket the bot opens, and each ack goes back up it.

Bolt's SocketModeHandler, with what web.py gives each HTTP request: a request ID for the logs,
and `answering()`, so that work after an ack waits until the ack has been written to the socket
(a `views.update` must not overtake the "Saving…" it replaces). And a stop that answers the
envelopes it took before it hangs up.

The WebSocket is slack_sdk's built-in client, with one change: when Slack renews the connection
(every few hours), the requests it sends down the new one are acked in time (`Client`).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
from contextlib import suppress
from typing import TYPE_CHECKING

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.builtin.connection import Connection
from slack_sdk.socket_mode.request import SocketModeRequest

from onboard.bot.answers import answering
from onboard.bot.logs import request_id

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

STOP_SECONDS = 10  # as `serve` gives the work already acked (Inbox.stop)


class Client(SocketModeClient):
    """slack_sdk's built-in client, whose connections, when closed, do not wait for a read.

    On Slack's `disconnect` (`refresh_requested`, every few hours) the client opens a new
    connection, then closes the old one (slack_sdk socket_mode/builtin/client.py:178-185). That
    close waits for the old socket's receive lock (builtin/connection.py:189-191), held by a
    `recv` blocked up to the socket's 3 s timeout (internals.py:205-207; the 3 s of
    connection.py:58 and internals.py:101). The one reader thread (client.py:126, 265-271) is
    that `recv`: nothing reads the new connection, where Slack already sends requests, until it
    times out, so a request sent at once is acked after Slack's 3 s. Here a close first shuts the
    socket's read side, which ends that `recv` at once (`_hang_up`).
    """

    def connect(self) -> None:
        super().connect()
        session = self.current_session
        if session is not None:
            # slack_sdk builds the connection inside connect (client.py:163): its close is
            # replaced here, for the next renewal and for the final close alike.
            session.close = lambda: _hang_up(session)  # type: ignore[method-assign]


def _hang_up(connection: Connection) -> None:
    """Connection.close, with the read in progress woken first (it returns b"") rather than
    waited for. Its reader stops there: the client marked the connection done before closing it
    (client.py:181, 227). Only the read side is shut, so an ack being sent on it still goes."""
    sock = connection.sock
    if sock is not None:
        # socket.socket's shutdown, not SSLSocket's: that one also drops the TLS state, and an
        # ack sent meanwhile would go out unencrypted.
        with suppress(OSError):  # closed already
            socket.socket.shutdown(sock, socket.SHUT_RD)
    Connection.close(connection)


class SocketMode(SocketModeHandler):
    """Connects with the app-level token; `stop` rather than `close` on the way out."""

    client: Client

    def __init__(self, bot: Onboard) -> None:
        token = bot.settings.slack_app_token
        assert token is not None  # settings.require("SLACK_APP_TOKEN") was called
        # SocketModeHandler.__init__ with its defaults, but with `Client`: the handler's own
        # client starts its threads when built, so it is not built only to be replaced.
        self.app = bot.bolt
        self.app_token = token.get_secret_value()
        self.client = Client(
            app_token=self.app_token,
            logger=bot.bolt.logger,
            web_client=bot.bolt.client,
            proxy=bot.bolt.client.proxy,
            ping_interval=10,  # Bolt's
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

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
