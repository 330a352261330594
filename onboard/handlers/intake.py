"""Intake in Slack: the Start intake button, the questionnaire's modal pages, the review buttons,
and `/onboard intake [status]`. Who may do what is decided by the service on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest
from slack_sdk.errors import SlackApiError

from onboard.bot.errors import InvalidInput, OnboardError
from onboard.bot.intake_state import PageRef, Screen
from onboard.handlers import clicks
from onboard.handlers.clicks import Click, on_click
from onboard.handlers.commands import Invocation, Reply, notice, subcommand
from onboard.handlers.failures import explain
from onboard.handlers.requests import cause_of
from onboard.messages.render import render_message, render_view

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)


@subcommand(
    "intake",
    "intake [status] [client]",
    "post the client's intake questionnaire again, or show who filled what",
)
def intake(invocation: Invocation) -> Reply:
    word, _, rest = invocation.args.partition(" ")
    service = invocation.bot.intake
    if word.lower() == "status":
        reference, channel = invocation.client_reference(rest)
        return render_message("intake_status", **service.status(reference, channel))
    reference, channel = invocation.client_reference(invocation.args)
    client = service.repost(reference, channel, invocation.cause)
    return notice(f"The intake questionnaire is posted in {client.name}'s channel.", ":clipboard:")


def answers(view: dict[str, Any]) -> dict[str, Any]:
    """The answers a page holds, by question key (its block ID), as Slack submits each kind."""
    found: dict[str, Any] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for state in actions.values():
            kind = state.get("type")
            if kind in ("static_select", "external_select", "radio_buttons"):
                found[block_id] = (state.get("selected_option") or {}).get("value")
            elif kind in ("checkboxes", "multi_static_select"):
                found[block_id] = [o.get("value") for o in state.get("selected_options") or []]
            elif kind == "datepicker":
                found[block_id] = state.get("selected_date")
            elif kind == "users_select":
                found[block_id] = state.get("selected_user")
            elif kind == "file_input":
                found[block_id] = [
                    {"id": f.get("id"), "name": f.get("name") or f.get("title")}
                    for f in state.get("files") or []
                ]
            else:  # plain, email, url and number inputs
                found[block_id] = state.get("value")
    return found


def _view(screen: Screen) -> dict[str, Any]:
    return render_view(screen.template, **screen.context)


def register(bot: Onboard) -> None:
    def tell(click: Click, text: str) -> None:
        clicks.tell(bot, click.body, click.cause.actor, text)

    def update(click: Click, screen: Screen) -> None:
        view = click.body.get("view") or {}
        try:
            bot.bolt.client.views_update(
                view_id=view["id"], hash=view.get("hash"), view=_view(screen)
            )
        except SlackApiError as exc:
            # hash_conflict: the person already moved on in that modal; nothing to undo.
            log.warning("views.update failed: %s", exc.response.get("error"))

    def open_screen(click: Click, screen_for: Callable[[int, str], Screen]) -> None:
        """The modal for the intake the button names, opened with the click's trigger."""
        try:
            screen = screen_for(int(click.action.get("value") or 0), click.cause.actor)
        except (OnboardError, ValueError) as exc:
            tell(click, clicks.words_for(exc))
            return
        clicks.open_modal(bot, click.client, click.body, click.cause.actor, _view(screen))

    @on_click(bot, "intake_start", opens_form=True)
    def open_first_page(click: Click) -> None:
        open_screen(click, bot.intake.start)

    @bot.bolt.view("intake_page")
    def page(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest) -> None:
        cause = cause_of(request, body)
        try:
            ref = PageRef.load(view.get("private_metadata", ""))
            saved = bot.intake.save(ref, answers(view), cause)
        except Exception as exc:
            ack(response_action="errors", errors={_first_input(view): explain(exc)})
            return
        if saved.errors:
            ack(response_action="errors", errors=saved.errors)
        elif saved.next is None:
            ack(response_action="clear")
        else:  # Next: the page is replaced, never pushed, so the 3-view stack is never reached
            ack(response_action="update", view=_view(saved.next))

    @on_click(bot, "intake_back")
    def go_back(click: Click) -> None:
        view = click.body.get("view") or {}
        try:
            ref = PageRef.load(view.get("private_metadata", ""))
            screen = bot.intake.back(ref, answers(view), click.cause)
        except OnboardError as exc:
            tell(click, explain(exc))
            return
        update(click, screen)

    @on_click(bot, "intake_goto")
    def go_to(click: Click) -> None:
        view = click.body.get("view") or {}
        try:
            ref = PageRef.load(view.get("private_metadata", ""))
            target = PageRef(intake=ref.intake, page=int(click.action.get("value") or 0))
            screen = bot.intake.show_page(target, click.cause.actor)
        except (OnboardError, ValueError) as exc:
            tell(click, clicks.words_for(exc))
            return
        update(click, screen)

    @bot.bolt.view("intake_review")
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest) -> None:
        cause = cause_of(request, body)
        try:
            ref = PageRef.load(view.get("private_metadata", ""))
            try:
                screen = bot.intake.submit(ref.intake, cause)
            except InvalidInput:
                # Someone emptied an answer meanwhile: the review again, with what is missing.
                screen = bot.intake.start(ref.intake, cause.actor)
        except Exception as exc:
            screen = Screen("intake_notice", {"text": explain(exc)})
        ack(response_action="update", view=_view(screen))

    @on_click(bot, "intake_verify")
    def mark_verified(click: Click) -> None:
        try:
            text = bot.intake.verify(int(click.action.get("value") or 0), click.cause)
        except (OnboardError, ValueError) as exc:
            text = explain(exc) if isinstance(exc, OnboardError) else "Unknown intake."
        tell(click, text)

    @on_click(bot, "intake_changes", opens_form=True)
    def ask_what_changes(click: Click) -> None:
        open_screen(click, bot.intake.changes_form)

    @bot.bolt.view("intake_changes")
    def changes_sent(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest
    ) -> None:
        cause = cause_of(request, body)
        form = answers(view)
        try:
            bot.intake.request_changes(
                int(view.get("private_metadata") or 0),
                [k for k in form.get("fields") or [] if isinstance(k, str)],
                str(form.get("note") or ""),
                cause,
            )
        except InvalidInput as exc:
            ack(response_action="errors", errors=exc.fields)
            return
        except Exception as exc:
            ack(response_action="errors", errors={"note": explain(exc)})
            return
        ack(response_action="clear")


def _first_input(view: dict[str, Any]) -> str:
    """Where a page-wide problem is shown: under its first field."""
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            return str(block.get("block_id"))
    return "none"
