"""Slack Web API stand-in: a real HTTP server keeping one workspace in memory.

Owns the package's public names, for integration tests and `onboard demo`.
"""

from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import (
    Call,
    Channel,
    Ephemeral,
    Fault,
    Message,
    RateLimiter,
    ResponseMessage,
    UploadedFile,
    User,
    View,
    Workspace,
)

__all__ = [
    "Call",
    "Channel",
    "Ephemeral",
    "Fault",
    "Message",
    "RateLimiter",
    "ResponseMessage",
    "SlackStandIn",
    "UploadedFile",
    "User",
    "View",
    "Workspace",
]
