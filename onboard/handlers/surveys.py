"""Satisfaction surveys in Slack: score buttons, the optional comment, `/onboard survey`.

Only the client's approvers may answer; the service checks it on every click.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest
from slack_sdk.errors import SlackApiError

from onboard.bot.errors import InvalidInput, OnboardError
from onboard.handlers.clicks import Click, on_click, tell, words_for
from onboard.handlers.commands import Invocation, Reply, notice, subcommand
from onboard.handlers.failures import explain
from onboard.handlers.modals import open_view
from onboard.handlers.requests import cause_of
from onboard.handlers.views import form_values
from onboard.messages.render import render_view

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


@subcommand("survey", "survey", "ask the client's approvers how hypercare is going (0–10)")
def survey(invocation: Invocation) -> Reply:
    posted = invocation.bot.surveys.post(invocation.channel_id, "hypercare", invocation.cause)
    if posted:
        return notice("The satisfaction survey is posted in the channel.", ":speech_balloon:")
    return notice("This client already has its hypercare survey.", ":information_source:")


def register(bot: Onboard) -> None:
    @on_click(bot, re.compile(r"^survey_score_\d{1,2}$"))
    def record_score(click: Click) -> None:
        body, cause = click.body, click.cause
        try:
            survey_id, _, value = str(click.action.get("value", "")).partition(":")
            points = int(value)
            answered = bot.surveys.answer(int(survey_id), points, None, cause)
        except (OnboardError, ValueError) as exc:
            tell(bot, body, cause.actor, words_for(exc))
            return
        # Their comment so far is in the box: sending it back unchanged keeps it.
        view = render_view(
            "survey_comment_modal", survey_id=survey_id, score=points, comment=answered.comment
        )
        try:
            open_view(click.client, body["trigger_id"], view)
        except SlackApiError as exc:  # the score is saved; only the comment box failed
            log.warning("views.open failed: %s", exc.response.get("error"))
            tell(bot, body, cause.actor, answered.text)

    @bot.bolt.view("survey_comment")
    def comment(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest) -> None:
        cause = cause_of(request, body)
        survey_id, _, points = str(view.get("private_metadata", "")).partition(":")
        text = str(form_values(view).get("comment") or "")
        try:
            bot.surveys.answer(int(survey_id), int(points), text, cause)
        except InvalidInput as exc:
            ack(response_action="errors", errors={"comment": next(iter(exc.fields.values()))})
            return
        except Exception as exc:
            ack(response_action="errors", errors={"comment": explain(exc)})
            return
        ack(response_action="clear")
