"""The stand-in's Web API methods, one function each, registered by name in METHODS.

Each checks its arguments the way Slack does and answers a Slack-shaped dict or SlackError.
"""

from __future__ import annotations

from collections.abc import Callable

from onboard.standin.answers import Answer, Args
from onboard.standin.workspace import Workspace

Handler = Callable[[Workspace, Args], Answer]
METHODS: dict[str, Handler] = {}


def api(name: str) -> Callable[[Handler], Handler]:
    """Registers a method under its Web API name."""

    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register
