"""Modal submissions: the "New client" form.

Bad input keeps the modal open with a message under each field; nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_bolt.request import BoltRequest

from onboard.bot.errors import InvalidInput
from onboard.handlers.failures import explain
from onboard.handlers.requests import cause_of

if TYPE_CHECKING:
    from onboard.bot.app import Onboard


def register(bot: Onboard) -> None:
    @bot.bolt.view("new_client")
    def new_client(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest
    ) -> None:
        cause = cause_of(request, body)
        try:
            bot.directory.require_internal(cause.actor)
            bot.onboarding.submit(form_values(view), cause, submission=view.get("id"))
        except InvalidInput as exc:
            ack(response_action="errors", errors=exc.fields)
            return
        except Exception as exc:  # shown under the first field; the form stays filled in
            ack(response_action="errors", errors={"name": explain(exc)})
            return
        ack(response_action="clear")


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
