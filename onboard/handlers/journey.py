"""Journey subcommands: status, advance, back, task, gate, mute.

Each parses its words, calls one service, and answers privately to the person who typed.
"""

from __future__ import annotations

import re

from onboard.bot.errors import InvalidInput
from onboard.bot.journey import status_of
from onboard.handlers.commands import Invocation, Reply, notice, subcommand
from onboard.messages.render import render_message

_DUE = re.compile(r"\bin (\d{1,3}) (?:business )?days?\b", re.IGNORECASE)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


@subcommand("status", "status [client]", "where a client stands: stage, tasks, gates, overdue")
def status(invocation: Invocation) -> Reply:
    reference, channel = invocation.client_reference(invocation.args)
    p = status_of(invocation.bot.db, reference, channel, invocation.bot.clock())
    return render_message("status", p=p)


@subcommand(
    "advance",
    "advance [client] [--force <reason>]",
    "close the current stage when its gates hold (admins may force, with a reason)",
)
def advance(invocation: Invocation) -> Reply:
    target, forced, reason = invocation.args.partition("--force")
    reference, channel = invocation.client_reference(target)
    client = invocation.bot.journey.advance(
        reference, channel, invocation.cause, force=reason if forced else None
    )
    if client.status == "completed":
        return notice(f"{client.name} has completed onboarding. :tada:", ":white_check_mark:")
    return notice(f"{client.name} moved on to the next stage.", ":white_check_mark:")


@subcommand("back", "back <stage> <reason>", "send the journey back to an earlier stage")
def back(invocation: Invocation) -> Reply:
    stage, _, reason = invocation.args.partition(" ")
    if not stage:
        raise InvalidInput({"stage": "Name the stage: `/onboard back <stage> <reason>`."})
    client = invocation.bot.journey.back("", invocation.channel_id, stage, reason, invocation.cause)
    return notice(f"{client.name} went back a stage.", ":leftwards_arrow_with_hook:")


_TASK_USAGE = "Use `task add <title>`, `task done <n>`, `task undo <n>` or `task assign <n> @user`."


@subcommand(
    "task",
    "task add <title> [@owner] [in N days] | done <n> | undo <n> | assign <n> @user",
    "manage the current stage's checklist (`undo` reopens a task ticked by mistake)",
)
def task(invocation: Invocation) -> Reply:
    action, _, rest = invocation.args.partition(" ")
    action = action.lower()
    tasks, channel, cause = invocation.bot.tasks, invocation.channel_id, invocation.cause
    if action == "add":
        due = _DUE.search(rest)
        users = invocation.users()
        title = _MENTION.sub("", _DUE.sub("", rest))
        added = tasks.add(
            "",
            channel,
            title,
            users[0] if users else None,
            int(due.group(1)) if due else None,
            cause,
        )
        return notice(f"Task {added.number} added: {added.title}", ":heavy_plus_sign:")
    if action not in ("done", "undo", "assign"):
        raise InvalidInput({"task": _TASK_USAGE})  # before the number: the verb is what's wrong
    number = _number(rest)
    if action == "done":
        _, done = tasks.done("", channel, number, cause)
        return notice(f"Task {done.number} done: {done.title}", ":white_check_mark:")
    if action == "undo":
        _, reopened = tasks.undo("", channel, number, cause)
        return notice(
            f"Task {reopened.number} reopened: {reopened.title}", ":arrows_counterclockwise:"
        )
    users = invocation.users()
    if not users:
        raise InvalidInput({"user": "Mention who: `/onboard task assign <n> @user`."})
    _, assigned = tasks.assign("", channel, number, users[0], cause)
    return notice(f"Task {assigned.number} assigned.", ":bust_in_silhouette:")


@subcommand("gate", "gate <key> pass|fail [reason]", "confirm or fail a condition of this stage")
def gate(invocation: Invocation) -> Reply:
    words = invocation.args.split(None, 2)
    if len(words) < 2 or words[1].lower() not in ("pass", "fail"):
        raise InvalidInput(
            {"gate": "Use `/onboard gate <key> pass` or `gate <key> fail <reason>`."}
        )
    note = words[2] if len(words) > 2 else ""
    key, passed = words[0].lower(), words[1].lower() == "pass"
    _, outcome = invocation.bot.journey.decide_gate(
        "", invocation.channel_id, key, passed, note, invocation.cause
    )
    return notice(f"Recorded: {outcome}", ":white_check_mark:")


def _number(text: str) -> int:
    word = (text.strip().lstrip("#").split() or [""])[0]
    # ASCII digits only ("²" is a digit to isdigit, not to int), and a number a task can have.
    if not (word.isascii() and word.isdigit() and len(word) <= 9):
        raise InvalidInput({"task": "Give the task's number, as `/onboard status` lists it."})
    return int(word)


@subcommand("mute", "mute reminders <days>", "pause this client's reminders (0 to resume)")
def mute(invocation: Invocation) -> Reply:
    words = invocation.args.split()
    if len(words) != 2 or words[0].lower() != "reminders" or not words[1].isdigit():
        raise InvalidInput({"days": "Use `/onboard mute reminders <days>` (0 to resume)."})
    client = invocation.bot.nudges.mute(invocation.channel_id, int(words[1]), invocation.cause)
    if client.reminders_muted_until is None:
        return notice(f"Reminders for {client.name} are back on.", ":bell:")
    until = client.reminders_muted_until.strftime("%A %-d %B")
    return notice(f"Reminders for {client.name} are paused until {until}.", ":no_bell:")
