"""The stand-in's methods for the app itself: Socket Mode's connection URL."""

from __future__ import annotations

from onboard.standin.answers import Answer, Args, SlackError
from onboard.standin.methods.api import api
from onboard.standin.workspace import Workspace


@api("apps.connections.open")
def _apps_connections_open(ws: Workspace, a: Args) -> Answer:
    # Slack refuses this to an app whose Socket Mode is off: here, a stand-in with no link.
    if ws.socket_url is None:
        raise SlackError("access_denied")
    return {"url": ws.socket_url}
