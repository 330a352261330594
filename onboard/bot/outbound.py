"""Slack calls queued in the outbox: how they are written, sent once, and what a refusal does.

A post carries its outbox key in message metadata, so a retry after an unknown outcome can
look in the channel's history and never post twice; a Slack Connect invite's retry looks in
the workspace's pending invitations and never invites the client twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot.delivery import Delivery, Outcome
from onboard.bot.gateway import SlackGateway, SlackRefused
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.models import Client, OutboxMessage

log = logging.getLogger(__name__)

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


NOTHING_POSTED = {"ratelimited", "paced"}  # a call's errors after which Slack surely did nothing
# conversations.listConnectInvites lists the whole workspace's pending invites and is Tier 1:
# read this many pages at most, then send rather than keep paging.
MAX_INVITE_PAGES = 10


def fallback(key: str, method: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A call to queue when the one it is attached to is refused."""
    return {"key": key, "method": method, "args": args, **extra}


def may_be_done_already(row: OutboxMessage) -> bool:
    """An earlier try of this row may have done its call, its answer lost. A try that met a
    429 (or our pacing) gives its attempt back (Delivery._retry), so `attempts` counts the
    claim now and the earlier tries that may have reached Slack: any such try is a maybe,
    whatever came after it (a search refused with a 429 found nothing out)."""
    return row.attempts > 1


def execute_call(gateway: SlackGateway, row: OutboxMessage) -> Outcome:
    method, args = row.payload["method"], dict(row.payload["args"])
    # A retry after a lost answer searches for the post or invite first.
    if may_be_done_already(row):
        earlier: dict[str, Any] | None = None
        if method == "chat.postMessage":
            earlier = find_earlier_post(gateway, args["channel"], row.key, args.get("thread_ts"))
        elif method == "conversations.inviteShared":
            earlier = find_earlier_invite(gateway, args, row.key)
        if earlier is not None:
            return _outcome(row, earlier)
    try:
        result = gateway.call(method, **args)
    except SlackRefused as exc:
        if exc.error in ALREADY_DONE.get(method, set()):
            result = {"ok": True, "already": exc.error}
        elif method == "conversations.invite" and _invited_but_the_skipped(args, exc.errors):
            result = {"ok": True, "already": "already_in_channel", "errors": exc.errors}
        else:
            raise
    return _outcome(row, result)


def _invited_but_the_skipped(args: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
    """An invite (with force) refused as a whole although everyone it could invite is in the
    channel: a retry after an answer lost, once the others were added. Slack refuses it with
    the error of the ones it cannot invite (deactivated), which the first answer skipped."""
    users = {u.strip() for u in str(args.get("users", "")).split(",") if u.strip()}
    why = {str(e.get("user")): e.get("error") for e in errors if isinstance(e, dict)}
    return bool(users) and users <= why.keys() and "already_in_channel" in why.values()


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


def find_earlier_post(
    gateway: SlackGateway, channel: str, key: str, thread_ts: str | None = None
) -> dict[str, Any] | None:
    """A message this row already posted (an earlier attempt whose answer was lost). A reply
    is looked for in its thread: the channel's history lists only top-level messages."""
    if channel[:1] in "UW":
        channel = gateway.call("conversations.open", users=channel)["channel"]["id"]
    if thread_ts:
        history = gateway.call(
            "conversations.replies",
            channel=channel,
            ts=thread_ts,
            limit=1000,  # the thread's first page: a stand-up's thread, a few dozen replies
            include_all_metadata=True,
        )
    else:
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


def find_earlier_invite(
    gateway: SlackGateway, args: dict[str, Any], key: str
) -> dict[str, Any] | None:
    """A pending Slack Connect invite this row already sent (an earlier attempt's answer was
    lost): same channel, same recipient. Slack keeps no idempotency key on invites."""
    emails = {e.lower() for e in _listed(args.get("emails"))}
    user_ids = set(_listed(args.get("user_ids")))
    cursor = ""
    for _ in range(MAX_INVITE_PAGES):
        try:
            page = gateway.call(
                "conversations.listConnectInvites",
                count=100,
                **({"cursor": cursor} if cursor else {}),
            )
        except SlackRefused as exc:
            # restricted_action (a team preference), or missing_scope on an app installed
            # before it asked for conversations.connect:manage. Never inviting the client
            # would be worse than a possible second invite: send it, and say so.
            log.warning(
                "cannot check for an earlier Slack Connect invite (%s); inviting again may "
                "send the client a second invitation",
                exc.error,
                extra={"key": key},
            )
            return None
        for item in page.get("invites") or []:
            if _same_invite(item, args["channel"], emails, user_ids):
                return {"invite_id": item["invite"]["id"]}
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            return None
    log.warning(
        "no earlier Slack Connect invite in the first %d pages of pending invites; inviting",
        MAX_INVITE_PAGES,
        extra={"key": key},
    )
    return None


def _listed(value: Any) -> list[str]:
    """`emails` / `user_ids` as queued: a list, or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value or []
    return [str(v).strip() for v in items if str(v).strip()]


def _same_invite(item: dict[str, Any], channel: str, emails: set[str], users: set[str]) -> bool:
    invite = item.get("invite") or {}
    if item.get("direction") != "outgoing" or not invite.get("id"):
        return False
    if (item.get("channel") or {}).get("id") != channel:
        return False
    email = str(invite.get("recipient_email") or "").lower()
    return bool(email and email in emails) or invite.get("recipient_user_id") in users


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
