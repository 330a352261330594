"""Modal submissions: the "New client" form.

Bad input keeps the modal open with a message under each field; nothing is written. A valid
form is saved after the ack; if that fails, the modal comes back filled in, saying why.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest
from slack_sdk.errors import SlackApiError

from onboard.bot.errors import InvalidInput
from onboard.bot.onboarding import NewClient
from onboard.handlers.failures import explain
from onboard.handlers.requests import cause_of
from onboard.messages.render import render_view
from onboard.storage.audit import Cause

if TYPE_CHECKING:
    from onboard.bot.app import Onboard

log = logging.getLogger(__name__)

# With the work in another process (`serve --ack-only`), it waits this long, so that its
# `views.update` lands after the ack's "Saving…" and is not undone by it.
ANSWER_FIRST = 0.5


def register(bot: Onboard) -> None:
    @bot.bolt.view("new_client")
    def new_client(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest
    ) -> None:
        cause = cause_of(request, body)
        typed = form_values(view)
        if bot.inbox.later(request):  # the work, after the ack below
            ack()
            save(typed, view, cause)
            return
        try:
            new = checked(typed, cause)
        except InvalidInput as exc:
            ack(response_action="errors", errors=exc.fields)
            return
        except Exception as exc:  # shown under the first field; the form stays filled in
            ack(response_action="errors", errors={"name": explain(exc)})
            return
        # Checked, not yet saved: the client's transaction runs after the ack, the modal says
        # so meanwhile, then shows how it went.
        ack(response_action="update", view=render_view("new_client_saving", name=new.name))
        bot.inbox.defer(request, hold=ANSWER_FIRST)

    def checked(typed: dict[str, Any], cause: Cause) -> NewClient:
        bot.directory.require_internal(cause.actor)
        return bot.onboarding.check(typed)

    def save(typed: dict[str, Any], view: dict[str, Any], cause: Cause) -> None:
        try:
            # Checked again: what changed since the ack (a playbook, a role) counts. Keyed by
            # the view: a form that was saved already adds nothing the second time.
            new = checked(typed, cause)
            bot.onboarding.create(new, cause, submission=view["id"])
            screen = render_view("new_client_saved", name=new.name)
        except Exception as exc:  # nothing was written: the form again, as typed, and why
            context = bot.onboarding.form_again(typed, explain(exc))
            screen = render_view(
                "new_client_modal", metadata=view.get("private_metadata", ""), **context
            )
        try:
            bot.bolt.client.views_update(view_id=view["id"], view=screen)
        except SlackApiError as exc:  # saved or not, the DM (or its absence) tells the rest
            log.warning("views.update failed: %s", exc.response.get("error"))


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """Flatten `view.state.values` into {block_id: the value the user gave}."""
    values: dict[str, Any] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for state in actions.values():
            kind = state.get("type")
            if kind in ("static_select", "external_select"):
                values[block_id] = (state.get("selected_option") or {}).get("value")
            elif kind == "datepicker":
                values[block_id] = state.get("selected_date")
            elif kind == "users_select":
                values[block_id] = state.get("selected_user")
            elif kind == "multi_users_select":
                values[block_id] = state.get("selected_users") or []
            else:
                values[block_id] = state.get("value")
    return values
