"""Approvals in Slack: `/onboard deliverable`, `/onboard approvers`, and the decision buttons.

Who may decide is checked by the service on every click; refusals are private and audited.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest
from slack_sdk.errors import SlackApiError

from onboard.bot.errors import InvalidInput, OnboardError
from onboard.handlers.clicks import Click, channel_of, on_click, open_modal, tell, words_for
from onboard.handlers.commands import Invocation, Reply, notice, subcommand
from onboard.handlers.failures import explain
from onboard.handlers.modals import open_view
from onboard.handlers.requests import cause_of
from onboard.handlers.views import form_values
from onboard.messages.render import render_message, render_view

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


@subcommand(
    "deliverable",
    "deliverable",
    "post a deliverable for the client's approvers to sign off",
    ack_first=True,
)
def deliverable(invocation: Invocation) -> Reply:
    choices = invocation.bot.approvals.form_choices(invocation.channel_id)
    view = render_view("deliverable_modal", **choices)
    try:
        open_view(invocation.client, invocation.command["trigger_id"], view)
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        return notice("Slack was slow to open the form: try again.", ":warning:")
    return None


@subcommand("approvers", "approvers [add|remove @user…]", "who signs off for this client")
def approvers(invocation: Invocation) -> Reply:
    action = invocation.args.split(" ")[0].lower()
    service = invocation.bot.approvals
    if action in ("add", "remove"):
        change = service.change_approvers(
            invocation.channel_id,
            action == "add",
            invocation.users(),
            invocation.cause,
        )
        return render_message(
            "approvers",
            client=change.client,
            approvers=change.approvers,
            settled=change.settled,
            stranded=change.stranded,
        )
    reference, channel = invocation.client_reference(invocation.args)
    client, current = service.approvers(reference, channel)
    return render_message("approvers", client=client, approvers=current)


def register(bot: Onboard) -> None:
    @bot.bolt.view("deliverable_new")
    def deliverable_new(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest
    ) -> None:
        cause = cause_of(request, body)
        try:
            bot.directory.require_internal(cause.actor)
            bot.approvals.post(int(view["private_metadata"]), form_values(view), cause)
        except InvalidInput as exc:
            ack(response_action="errors", errors=exc.fields)
            return
        except Exception as exc:
            ack(response_action="errors", errors={"title": explain(exc)})
            return
        ack(response_action="clear")

    @on_click(bot, "approve")
    def approve(click: Click) -> None:
        try:
            verdict = bot.approvals.decide(
                int(click.action["value"]),
                "approved",
                "",
                click.cause,
                channel=channel_of(click.body) or "",  # "": nowhere known, not the form
            )
            text = verdict.text
        except (OnboardError, ValueError) as exc:
            text = words_for(exc)
        tell(bot, click.body, click.cause.actor, text)

    @on_click(bot, "request_changes", opens_form=True)
    def ask_what_changes(click: Click) -> None:
        try:
            version_id = int(click.action["value"])
            # The title as typed, from the database: the message's text is escaped mrkdwn,
            # which the modal would escape again ("R&amp;D").
            title = bot.approvals.check_can_decide(
                version_id, click.cause.actor, channel_of(click.body) or ""
            )
        except (OnboardError, ValueError) as exc:
            tell(bot, click.body, click.cause.actor, words_for(exc))
            return
        view = render_view("changes_modal", version_id=version_id, title=title)
        open_modal(bot, click.client, click.body, click.cause.actor, view)

    @bot.bolt.view("request_changes")
    def changes_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest
    ) -> None:
        cause = cause_of(request, body)
        reason = str(form_values(view).get("reason") or "")
        try:
            verdict = bot.approvals.decide(
                int(view["private_metadata"]),
                "changes_requested",
                reason,
                cause,
            )
        except InvalidInput as exc:
            ack(response_action="errors", errors={"reason": next(iter(exc.fields.values()))})
            return
        except Exception as exc:
            ack(response_action="errors", errors={"reason": explain(exc)})
            return
        if verdict.outcome != "recorded":
            # Nothing recorded (a decision of theirs stands): say so where they typed.
            ack(response_action="errors", errors={"reason": verdict.text})
            return
        ack(response_action="clear")
        log.info("changes requested: %s", verdict.outcome)
