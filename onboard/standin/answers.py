"""What one Web API call takes and gives: its arguments, its answer or refusal, and the reply.

A method reads Args and returns an Answer or raises SlackError; Reply is what goes back over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Args = dict[str, Any]
Answer = dict[str, Any]


class SlackError(Exception):
    """A Slack refusal: answered as {"ok": false, "error": error, **extra}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


def _opt_str(a: Args, key: str) -> str | None:
    value = a.get(key)
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class Reply:
    """What the HTTP layer sends: a JSON body, or (body None) an HTML error page, or nothing."""

    status: int
    body: Answer | None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
