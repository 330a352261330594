"""Messages that show live state (the journey card, a deliverable): posted once, then updated.

They are rendered when sent, from the state current then, so a burst of changes ends in one view.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from onboard.bot.deliveries_seen import first_time, forget
from onboard.bot.delivery import Outcome
from onboard.bot.gateway import SlackGateway, SlackRefused, SlackRetryLater
from onboard.bot.outbound import METADATA_EVENT, NOTHING_POSTED, find_earlier_post
from onboard.storage.db import Database
from onboard.storage.models import OutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shown:
    """What a live message should show now, where, and the ts it already has (if posted)."""

    channel: str
    ts: str | None
    message: dict[str, Any]
    key: str  # stable per message: finds an earlier post whose answer was lost
    pin: bool = False


Load = Callable[[Session, dict[str, Any]], Shown]
Remember = Callable[[Session, dict[str, Any], str], None]


def make_executor(
    db: Database, load: Load, remember: Remember
) -> Callable[[SlackGateway, OutboxMessage], Outcome]:
    def send(gateway: SlackGateway, row: OutboxMessage) -> Outcome:
        # Registered with `coalesce`, so no other worker refreshes this message meanwhile
        # (outbox.claim, `one_at_a_time`): a newer row is claimed, and loads, only after this
        # update is sent, and the last update Slack gets shows the newest state.
        with db.transaction() as session:
            shown = load(session, row.payload)
        if shown.ts is not None:
            gateway.call("chat.update", channel=shown.channel, ts=shown.ts, **shown.message)
            return Outcome(result={"ts": shown.ts, "updated": True})
        # Any row of this message may meet a post an earlier one made (its answer lost): a
        # refresh queued meanwhile is its own row's first try. A try that may have posted
        # leaves a key, and a later try (of any row) searches the channel for that post.
        marker = f"post:{shown.key}"
        first = first_time(db, marker, dt.datetime.now(dt.UTC))
        earlier = None if first else find_earlier_post(gateway, shown.channel, shown.key)
        if earlier is None:
            metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": shown.key}}
            try:
                answer = gateway.call(
                    "chat.postMessage", channel=shown.channel, metadata=metadata, **shown.message
                )
            except SlackRetryLater as exc:
                if exc.error in NOTHING_POSTED:
                    # Surely not posted: the retry posts without a search (a Tier 3 call,
                    # which a burst of stand-ups under 429s would otherwise queue behind).
                    forget(db, marker)
                raise
            ts = answer["ts"]
        else:
            ts = earlier["ts"]
        if shown.pin:
            try:
                gateway.call("pins.add", channel=shown.channel, timestamp=ts)
            except SlackRefused as exc:
                # Posted either way; failing here would lose the ts and post a second copy.
                log.warning("live message not pinned: %s", exc.error)

        def follow_up(session: Session) -> None:
            remember(session, row.payload, ts)

        return Outcome(result={"ts": ts, "posted": True}, then=[follow_up])

    return send
