"""Typed errors of the domain; handlers map each to the right Slack surface in one place.

Services raise these; they never know which surface the user is looking at.
"""

from __future__ import annotations


class OnboardError(Exception):
    """Base of every error a user may see; the message is written for them."""


class NotAllowed(OnboardError):
    """The user may not do this; the message says who may."""


class Refused(NotAllowed):
    """A refusal audited as `code`: its message may name the client or a deliverable, and
    the append-only audit chain holds no text that erasure would have to reach."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class NotFound(OnboardError):
    """The thing named does not exist (or is not visible to this user)."""


class InvalidInput(OnboardError):
    """Fields the user typed are wrong; `fields` maps each field to how to fix it."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class SlackUnavailable(OnboardError):
    """Slack did not answer; the user should try again in a moment."""
