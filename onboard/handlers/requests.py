"""What every listener needs from a Slack request: who caused it, and which request it was.

The cause goes into the audit chain with the request's signature timestamp.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.request import BoltRequest

from onboard.storage.audit import Cause


def cause_of(request: BoltRequest, body: dict[str, Any]) -> Cause:
    user = body.get("user") or {}
    user_id = body.get("user_id") or user.get("id") or "unknown"
    team = user.get("team_id") or body.get("team_id") or (body.get("team") or {}).get("id")
    request_id = body.get("trigger_id") or body.get("event_id")
    timestamps = request.headers.get("x-slack-request-timestamp") or []
    return Cause(
        actor=str(user_id),
        actor_team=team,
        request_id=str(request_id) if request_id else None,
        request_ts=timestamps[0] if timestamps else None,
    )
