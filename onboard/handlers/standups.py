"""Hypercare in Slack: `/onboard standup …`, `/onboard sdm`, the Post my update button and modal.

Each listener parses what was typed or clicked, calls the stand-up service, and answers privately.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest

from onboard.bot.errors import InvalidInput, OnboardError
from onboard.bot.identity import on_the_team
from onboard.handlers.clicks import Click, channel_of, on_click, open_modal, tell
from onboard.handlers.commands import Invocation, Reply, notice, subcommand
from onboard.handlers.failures import explain
from onboard.handlers.requests import cause_of
from onboard.handlers.views import form_values
from onboard.messages.render import Mrkdwn, escape_mrkdwn, render_message, render_view

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_RANGE = re.compile(r"--(from|to)\s+(\S+)")
# Hours with optional minutes ("2h", "1h30", "1h 30m"), or minutes alone ("90m"): the `m` may
# be left out only after hours, where the number cannot be mistaken for anything else.
_DURATION = re.compile(
    r"(?:(\d{1,2})\s*h(?:\s*(\d{1,3})(?:\s*m(?:in)?)?)?|(\d{1,3})\s*m(?:in)?)", re.IGNORECASE
)
USAGE = (
    "standup [time HH:MM | cutoff HH:MM | reminder 2h | who @a @b | away @user <from> [<to>] "
    "| skip <date> [reason] | pause | resume | report [client] [--from <date>] [--to <date>]]"
)


@subcommand("standup", USAGE, "hypercare stand-ups: their set-up, days off, who answers, a report")
def standup(invocation: Invocation) -> Reply:
    action, _, rest = invocation.args.partition(" ")
    action, rest = action.lower(), rest.strip()
    service, channel, cause = invocation.bot.standups, invocation.channel_id, invocation.cause
    if action in ("", "status"):
        reference, where = invocation.client_reference(rest)
        return render_message("standup_status", status=service.status(reference, where))
    if action == "time":
        client = service.set_time(channel, rest, cause)
        return notice(f"Stand-ups for {client.name} are now at {rest} their time.", ":alarm_clock:")
    if action == "cutoff":
        client = service.set_cutoff(channel, rest, cause)
        return notice(
            f"{client.name}'s stand-ups now close at {rest} their time, with the day's summary.",
            ":alarm_clock:",
        )
    if action == "reminder":
        minutes = _minutes(rest)
        client = service.set_reminder(channel, minutes, cause)
        return notice(
            f"People who have not answered are reminded once, {minutes} minutes after "
            f"{client.name}'s stand-up.",
            ":bell:",
        )
    if action == "who":
        return _who(invocation, rest)
    if action == "away":
        users = invocation.users()
        dates = [_date(d) for d in _DATE.findall(rest)]
        if not users or not dates:
            raise InvalidInput({"away": "Use `/onboard standup away @user <from> [<to>]`."})
        first, last = dates[0], dates[-1]
        client = service.set_away(channel, users[0], first, last, cause)
        return render_message(
            "notice",
            text=Mrkdwn(
                f"<@{users[0]}> is away from {escape_mrkdwn(client.name)}'s stand-ups "
                f"{first:%a %-d %b} to {last:%a %-d %b}: no reminders for those days."
            ),
            icon=":palm_tree:",
        )
    if action == "skip":
        word, _, reason = rest.partition(" ")
        day = _date(word)
        client = service.skip(channel, day, reason, cause)
        return notice(f"No stand-up for {client.name} on {day:%A %-d %B}.", ":palm_tree:")
    if action in ("pause", "resume"):
        client = service.pause(channel, action == "pause", cause)
        if action == "pause":
            return notice(
                f"Stand-ups for {client.name} are paused: `/onboard standup resume` to restart.",
                ":double_vertical_bar:",
            )
        return notice(f"Stand-ups for {client.name} are back on.", ":arrow_forward:")
    if action == "report":
        bounds = dict(_RANGE.findall(rest))
        reference, where = invocation.client_reference(_RANGE.sub("", rest))
        first = _date(bounds["from"]) if "from" in bounds else None
        last = _date(bounds["to"]) if "to" in bounds else None
        report = service.report(reference, where, first, last)
        return render_message("standup_report", report=report)
    raise InvalidInput({"standup": f"Use `/onboard {USAGE}`."})


@subcommand("sdm", "sdm [@user]", "who gets the BAU service review reminders after hypercare")
def sdm(invocation: Invocation) -> Reply:
    users = invocation.users()
    if not users:
        reference, where = invocation.client_reference(invocation.args)
        status = invocation.bot.standups.status(reference, where)
        return render_message("standup_status", status=status)
    if not on_the_team(invocation.bot.directory.is_internal, users[0]):
        # The BAU review reminders are the agency's own: never a client's (or guest's) to get.
        return render_message(
            "notice",
            text=Mrkdwn(
                f"<@{users[0]}> is not on the onboarding team: name one of the team as the "
                "service delivery manager, as the BAU review reminders are internal."
            ),
            icon=":lock:",
        )
    client = invocation.bot.standups.set_sdm(invocation.channel_id, users[0], invocation.cause)
    return render_message(
        "notice",
        text=Mrkdwn(
            f"<@{users[0]}> is {escape_mrkdwn(client.name)}'s service delivery manager: "
            "the BAU service review reminders go to them."
        ),
        icon=":bust_in_silhouette:",
    )


def _who(invocation: Invocation, rest: str) -> Reply:
    service = invocation.bot.standups
    users = invocation.users()
    if not users and rest.lower() != "team":
        reference, where = invocation.client_reference(rest)
        return render_message("standup_status", status=service.status(reference, where))
    client, chosen = service.set_responders(invocation.channel_id, users or None, invocation.cause)
    mentions = " ".join(f"<@{u}>" for u in chosen[:30])
    return render_message(
        "notice",
        text=Mrkdwn(f"{escape_mrkdwn(client.name)}'s stand-ups now ask {mentions}."),
        icon=":busts_in_silhouette:",
    )


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput({"date": "Write dates as 2026-03-30."}) from None


def _minutes(text: str) -> int:
    """ "2h", "90m", "1h30", "45" (minutes) as minutes."""
    cleaned = text.strip()
    if cleaned.isdigit():
        return int(cleaned)
    found = _DURATION.fullmatch(cleaned)
    if not found:
        raise InvalidInput({"reminder": "Say when, after the prompt: `2h`, `90m` or `1h30`."})
    hours, minutes_after, minutes_alone = found.groups()
    return int(hours or 0) * 60 + int(minutes_after or minutes_alone or 0)


def register(bot: Onboard) -> None:
    @on_click(bot, "standup_answer", opens_form=True)
    def open_form(click: Click) -> None:
        body, cause = click.body, click.cause
        container = body.get("container") or {}
        try:
            form = bot.standups.answer_form(
                int(click.action.get("value") or 0),
                channel_of(body),
                cause.actor,
                container.get("message_ts"),
            )
        except (OnboardError, ValueError) as exc:
            text = explain(exc) if isinstance(exc, OnboardError) else "Unknown stand-up."
            tell(bot, body, cause.actor, text)
            return
        open_modal(bot, click.client, body, cause.actor, render_view("standup_modal", **form))

    @bot.bolt.view("standup_answer")
    def update_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest
    ) -> None:
        cause = cause_of(request, body)
        try:
            bot.standups.answer(int(view["private_metadata"]), form_values(view), cause)
        except InvalidInput as exc:
            ack(response_action="errors", errors=exc.fields)
            return
        except Exception as exc:
            ack(response_action="errors", errors={"today": explain(exc)})
            return
        ack(response_action="clear")
