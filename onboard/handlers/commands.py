"""The `/onboard` slash command: checks who is asking, then hands the rest to a subcommand.

Subcommands live with their surface (`journey.py`, `new_client.py`); this module routes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from onboard.bot.errors import NotAllowed
from onboard.bot.identity import Person
from onboard.handlers.failures import explain
from onboard.handlers.requests import cause_of
from onboard.messages.render import render_message
from onboard.storage.audit import Cause

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class Invocation:
    """One `/onboard …` as typed: who, where, and the words after the subcommand."""

    bot: Onboard
    command: dict[str, Any]
    args: str
    person: Person
    cause: Cause
    client: WebClient

    @property
    def channel_id(self) -> str | None:
        return self.command.get("channel_id")

    def users(self) -> list[str]:
        """User IDs mentioned in the arguments (Slack escapes @mentions as <@U…|name>)."""
        return _USER.findall(self.args)

    def client_reference(self, text: str) -> tuple[str, str | None]:
        """(name or slug, channel ID) for `find_client`, from text that may mention a channel."""
        mentioned = _CHANNEL.search(text)
        if mentioned:
            return "", mentioned.group(1)
        return text.strip(), self.channel_id


Reply = dict[str, Any] | None
Subcommand = Callable[[Invocation], Reply]


@dataclass(frozen=True)
class Entry:
    run: Subcommand
    usage: str
    what: str
    ack_first: bool  # work that opens a modal (views.open) runs after the ack


SUBCOMMANDS: dict[str, Entry] = {}


def subcommand(
    name: str, usage: str, what: str, *, ack_first: bool = False
) -> Callable[[Subcommand], Subcommand]:
    def add(run: Subcommand) -> Subcommand:
        SUBCOMMANDS[name] = Entry(run, usage, what, ack_first)
        return run

    return add


def help_lines() -> list[tuple[str, str]]:
    return [(e.usage, e.what) for e in SUBCOMMANDS.values()] + [("help", "this list")]


@cache
def help_message() -> dict[str, Any]:
    """`/onboard help`: the same for everyone once the subcommands are registered, so rendered
    once (Bolt only serialises what it is given; nothing changes the dict)."""
    return render_message("help", commands=help_lines())


def notice(text: str, icon: str = ":information_source:") -> dict[str, Any]:
    return render_message("notice", text=text, icon=icon)


def register(bot: Onboard) -> None:
    from onboard.handlers import (  # noqa: F401 - add subcommands
        approvals,
        intake,
        journey,
        new_client,
        standups,
        surveys,
    )

    @bot.bolt.command("/onboard")
    def onboard(
        ack: Ack,
        respond: Respond,
        command: dict[str, Any],
        client: WebClient,
        request: BoltRequest,
        body: dict[str, Any],
    ) -> None:
        sub, _, rest = typed(command.get("text", "")).strip().partition(" ")
        sub = sub.lower()
        try:
            person = bot.directory.require_internal(command["user_id"])
        except Exception as exc:
            icon = ":lock:" if isinstance(exc, NotAllowed) else ":warning:"
            ack(**notice(explain(exc), icon))
            return
        if sub in ("", "help"):
            ack(**help_message())
            return
        entry = SUBCOMMANDS.get(sub)
        if entry is None:
            ack(**render_message("help", commands=help_lines(), unknown=sub))
            return
        invocation = Invocation(bot, command, rest.strip(), person, cause_of(request, body), client)
        if entry.ack_first:
            if bot.inbox.modals_backed_up():
                log.warning("forms wait to open: /onboard %s refused at its ack", sub)
                ack(
                    **notice(
                        f"Busy opening other forms: try `/onboard {sub}` again in a few seconds.",
                        ":hourglass_flowing_sand:",
                    )
                )
                return
            ack()
            # Such work opens a modal with the command's trigger: it is not kept (inbox.py).
            if not bot.inbox.defer(request, keep=False):
                run_after_ack(entry, invocation, respond)
            return
        reply = run(entry, invocation)
        ack(**reply) if reply is not None else ack()


_ENTITY = re.compile(r"&(amp|lt|gt);")
_CHARACTER = {"amp": "&", "lt": "<", "gt": ">"}


def typed(text: str) -> str:
    """A command's text as the user typed it: Slack sends `&`, `<`, `>` as HTML entities
    (keeping its own markup, mentions and links, as `<…>`). Messages escape it again."""
    return _ENTITY.sub(lambda entity: _CHARACTER[entity[1]], text)


def run(entry: Entry, invocation: Invocation) -> Reply:
    try:
        return entry.run(invocation)
    except Exception as exc:
        return notice(explain(exc), ":warning:")


def run_after_ack(entry: Entry, invocation: Invocation, respond: Respond) -> None:
    reply = run(entry, invocation)
    if reply is not None and invocation.command.get("response_url"):
        respond(**reply)
