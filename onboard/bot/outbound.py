"""Slack calls queued in the outbox: how they are written, sent once, and what a refusal does.

A post carries its outbox key in message metadata, so a retry after an unknown outcome can
look in the channel's history and never post twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot.delivery import Delivery, Outcome
from onboard.bot.gateway import SlackGateway, SlackRefused
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.models import Client, OutboxMessage

SLACK_CALL = "slack.call"
METADATA_EVENT = "onboard_outbox"
# Refusals that mean the wanted state already holds.
ALREADY_DONE = {
    "conversations.invite": {"already_in_channel"},
    "pins.add": {"already_pinned"},
    "conversations.archive": {"already_archived"},
}


def enqueue_call(
    session: Session,
    key: str,
    method: str,
    args: dict[str, Any],
    *,
    client_id: int | None,
    audit_action: str | None = None,
    audit_details: dict[str, Any] | None = None,
    on_refused: list[dict[str, Any]] | None = None,
    not_before: dt.datetime | None = None,
    surface: bool = True,
) -> bool:
    """Queue one Web API call; `on_refused` calls are queued instead if Slack says no."""
    if method == "chat.postMessage":
        args = {**args, "metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": key}}}
    payload: dict[str, Any] = {"method": method, "args": args}
    if audit_action:
        payload["audit"] = {"action": audit_action, "details": audit_details or {}}
    if on_refused:
        payload["on_refused"] = on_refused
    if not surface:
        payload["surface"] = False
    return outbox.enqueue(
        session, key, SLACK_CALL, payload, client_id=client_id, not_before=not_before
    )


NOTHING_POSTED = {"ratelimited", "paced"}  # a post's errors after which Slack surely has none


def fallback(key: str, method: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A call to queue when the one it is attached to is refused."""
    return {"key": key, "method": method, "args": args, **extra}


def execute_call(gateway: SlackGateway, row: OutboxMessage) -> Outcome:
    method, args = row.payload["method"], dict(row.payload["args"])
    # A retry after a lost answer searches for the post first; after one try that met a 429
    # there is none (with more tries, an earlier one may have posted).
    surely_none = row.attempts == 2 and row.last_error in NOTHING_POSTED
    if method == "chat.postMessage" and row.attempts > 1 and not surely_none:
        earlier = find_earlier_post(gateway, args["channel"], row.key)
        if earlier is not None:
            return _outcome(row, earlier)
    try:
        result = gateway.call(method, **args)
    except SlackRefused as exc:
        if exc.error not in ALREADY_DONE.get(method, set()):
            raise
        result = {"ok": True, "already": exc.error}
    return _outcome(row, result)


def _outcome(row: OutboxMessage, result: dict[str, Any]) -> Outcome:
    kept = {k: result[k] for k in ("ts", "channel", "invite_id", "already") if k in result}
    if isinstance(result.get("channel"), dict):
        kept["channel"] = result["channel"].get("id")
    # conversations.invite with force: Slack answers ok and lists the people it skipped (one
    # deactivated, not found); already in the channel is what was asked.
    skipped = {
        str(e.get("user")): str(e.get("error"))
        for e in result.get("errors") or []
        if isinstance(e, dict) and e.get("error") != "already_in_channel"
    }
    if skipped:
        kept["not_invited"] = skipped
    then = []
    spec = row.payload.get("audit")
    if spec:
        details = {**spec["details"], **kept}
        if skipped and isinstance(details.get("users"), list):
            details["users"] = [u for u in details["users"] if u not in skipped]

        def record(session: Session) -> None:
            audit.record(
                session,
                audit.Cause.system(),
                spec["action"],
                client_id=row.client_id,
                subject=row.key,
                details=details,
            )

        then.append(record)
    if skipped and row.payload.get("surface", True) and row.client_id is not None:
        error = ", ".join(f"{user}: {why}" for user, why in skipped.items())
        then.append(lambda session: _tell_account_manager(session, row, error))
    return Outcome(result=kept, then=then)


def find_earlier_post(gateway: SlackGateway, channel: str, key: str) -> dict[str, Any] | None:
    """A message this row already posted (an earlier attempt whose answer was lost)."""
    if channel[:1] in "UW":
        channel = gateway.call("conversations.open", users=channel)["channel"]["id"]
    history = gateway.call(
        "conversations.history", channel=channel, limit=100, include_all_metadata=True
    )
    for message in history.get("messages", []):
        metadata = message.get("metadata") or {}
        if (
            metadata.get("event_type") == METADATA_EVENT
            and (metadata.get("event_payload") or {}).get("key") == key
        ):
            return {"ts": message["ts"], "channel": channel}
    return None


def on_call_refused(session: Session, row: OutboxMessage, error: str) -> None:
    """Record the refusal, then queue the row's fallbacks (for example "invite them by hand"),
    or, when it has none, tell the client's account manager what did not happen and why."""
    spec = row.payload.get("audit")
    if spec:
        audit.record(
            session,
            audit.Cause.system(),
            spec["action"] + ".refused",
            client_id=row.client_id,
            subject=row.key,
            details={**spec["details"], "error": error},
        )
    fallbacks = row.payload.get("on_refused", [])
    for call in fallbacks:
        call = dict(call)
        enqueue_call(
            session,
            call.pop("key"),
            call.pop("method"),
            call.pop("args"),
            client_id=row.client_id,
            **call,
        )
    if not fallbacks and row.payload.get("surface", True) and row.client_id is not None:
        _tell_account_manager(session, row, error)


def _tell_account_manager(session: Session, row: OutboxMessage, error: str) -> None:
    client = session.get(Client, row.client_id)
    if client is None:
        return
    step = row.payload.get("method") or row.operation
    message = render_message("delivery_failed", client=client, step=step, error=error)
    enqueue_call(
        session,
        f"{row.key}:failed",
        "chat.postMessage",
        {"channel": client.account_manager, **message},
        client_id=client.id,
        surface=False,  # if even this fails, the audit event is the record; no loop
    )


def install(delivery: Delivery) -> None:
    delivery.register(SLACK_CALL, execute_call, on_call_refused)
