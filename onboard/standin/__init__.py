"""Slack Web API stand-in: a real HTTP server keeping one workspace in memory.

Owns the package's public names, for integration tests and `onboard demo`.
"""

from onboard.standin.faults import Fault
from onboard.standin.records import (
    Call,
    Channel,
    Ephemeral,
    Message,
    ResponseMessage,
    UploadedFile,
    User,
    View,
)
from onboard.standin.server import SlackStandIn
from onboard.standin.workspace import RateLimiter, Workspace

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
