"""Sends the weekly digest: Monday 08:00 in each manager's own timezone, once per week.

A digest the bot was down for goes out when it is back, up to the end of Wednesday; by then
the week is half gone and the next one is nearer.

The text goes out through the outbox; the chart follows as a separate, optional upload. A
queued digest keeps what it was built from, so that an erasure overtaking it can render it again
(`rerender_pending`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import outbound
from onboard.bot.delivery import Outcome
from onboard.bot.digest import Digest, build
from onboard.bot.gateway import SlackGateway
from onboard.bot.identity import Directory
from onboard.bot.visits import Failures
from onboard.messages.render import RenderError, render_message
from onboard.storage import outbox
from onboard.storage.db import Database
from onboard.storage.models import OutboxMessage

CHART = "digest.chart"
KEY_PREFIX = "digest:"
# The payload entry of a queued digest that says what it was built from (not sent to Slack).
BUILT_FROM = "digest"
SEND_AT = dt.time(8, 0)
LAST_CATCH_UP_DAY = 2  # Wednesday (Monday is 0)
# A digest Slack would refuse as too long is rendered again listing fewer lines, step by step:
# (clients at risk, names of each week's movement, stages). Its JSON is what Slack measures,
# where `"` and `\` count twice: names full of them make even the fullest listing too long.
# The last step fits whatever the names (its lines are a fraction of the 12,000 characters).
SHORTER = ((8, 8, 25), (8, 4, 12), (4, 4, 12), (4, 2, 6), (2, 2, 6), (1, 1, 3))


class WeeklyDigest:
    def __init__(
        self,
        db: Database,
        directory: Directory,
        managers: Callable[[], list[str]],
        *,
        nudge_days: int = 2,
    ) -> None:
        self.db = db
        self.directory = directory
        self.managers = managers
        self.nudge_days = nudge_days

    def build(self, as_of: dt.datetime) -> Digest:
        with self.db.transaction() as session:
            return build(session, as_of, nudge_days=self.nudge_days)

    def message(self, digest: Digest, zone: str | None) -> dict[str, Any]:
        return render(digest, zone)

    def sweep(self, at: dt.datetime) -> int:
        """Queue this week's digest for every manager whose Monday 08:00 has come (and whose
        catching up has not run out). A manager Slack does not know is logged and skipped,
        never holding back the managers after them; the sweep then ends failed."""
        # The portfolio is read once, for the first manager due.
        digest: Callable[[], Digest] = functools.cache(lambda: self.build(at))
        queued = 0
        failures = Failures()
        for manager in self.managers():
            with failures.of(f"manager {manager}"):
                queued += self._send(manager, at, digest)
        failures.raise_any()
        return queued

    def _send(self, manager: str, at: dt.datetime, digest: Callable[[], Digest]) -> int:
        zone = self.directory.person(manager).tz
        local = at.astimezone(_zone(zone))
        if local.weekday() > LAST_CATCH_UP_DAY or (local.weekday() == 0 and local.time() < SEND_AT):
            return 0
        year, week, _ = local.isocalendar()
        key = f"{KEY_PREFIX}{manager}:{year}-W{week:02d}"
        message = self.message(digest(), zone)
        with self.db.transaction() as session:
            added = outbound.enqueue_call(
                session,
                key,
                "chat.postMessage",
                {"channel": manager, **message},
                client_id=None,
                audit_action="digest.sent",
                audit_details={"manager": manager, "week": f"{year}-W{week:02d}"},
                surface=False,
            )
            if added:
                # Beside the call (only its `args` go to Slack): what an erasure needs to
                # render this digest again while it waits.
                row = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).one()
                built_from = {"as_of": at.isoformat(), "zone": zone, "nudge_days": self.nudge_days}
                row.payload = {**row.payload, BUILT_FROM: built_from}

                from onboard.bot.charts import digest_chart  # matplotlib: loaded when used

                outbox.enqueue(
                    session,
                    key + ":chart",
                    CHART,
                    {
                        "manager": manager,
                        "png": base64.b64encode(digest_chart(digest())).decode(),
                        "title": f"Onboarding {year}-W{week:02d}",
                    },
                )
        return int(added)


def render(digest: Digest, zone: str | None) -> dict[str, Any]:
    """The digest's message, as many of its lines as Slack takes (`SHORTER`): a manager gets
    one each week however long the clients' names, the rest counted as "…and N more"."""
    local = digest.as_of.astimezone(_zone(zone)).date()
    *longer, shortest = [digest, *(digest.shortened(*step) for step in SHORTER)]
    for shown in longer:
        try:
            return render_message("digest", d=shown, local_date=local, no_timezone=zone is None)
        except RenderError:
            continue  # too long; refused for another reason, it is refused at every length
    return render_message("digest", d=shortest, local_date=local, no_timezone=zone is None)


def rerender_pending(session: Session) -> int:
    """Render every digest not sent yet again, from the data as it is now, in the caller's
    transaction; the number rendered. An erasure calls it, so that a digest it overtakes names
    no erased client. Each keeps its key, so it is still sent once; a worker that has already
    claimed one may still send it as it was, once. A digest queued without what it was built
    from (by an older version) is given up instead: its manager misses that week's."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.operation == outbound.SLACK_CALL,
            OutboxMessage.status == "pending",
            OutboxMessage.key.startswith(KEY_PREFIX),
        )
        .order_by(OutboxMessage.id)
    ).all()
    built: dict[tuple[str, int], Digest] = {}  # managers due together share one build
    rendered = 0
    for row in rows:
        spec = row.payload.get(BUILT_FROM)
        if spec is None:
            row.status, row.last_error = "failed", "erased"
            row.claimed_by = row.claimed_until = None
            continue
        moment = (spec["as_of"], spec["nudge_days"])
        if moment not in built:
            as_of = dt.datetime.fromisoformat(spec["as_of"])
            built[moment] = build(session, as_of, nudge_days=spec["nudge_days"])
        message = render(built[moment], spec["zone"])
        row.payload = {**row.payload, "args": {**row.payload["args"], **message}}
        rendered += 1
    session.flush()
    return rendered


def _chart_shared(gateway: SlackGateway, channel: str, title: str) -> bool:
    history = gateway.call("conversations.history", channel=channel, limit=100)
    return any(
        shared.get("title") == title
        for message in history.get("messages", [])
        for shared in message.get("files") or []
    )


def _zone(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def execute_chart(gateway: SlackGateway, row: OutboxMessage) -> Outcome:
    """Upload the chart into the manager's DM (files upload v2: URL, bytes, complete)."""
    channel = gateway.call("conversations.open", users=row.payload["manager"])["channel"]["id"]
    content = base64.b64decode(row.payload["png"])
    # Sharing a file has no idempotency key: a retry after a lost answer looks in the DM for
    # the chart first (its title names the week), or the manager would get it twice.
    if outbound.may_be_done_already(row) and _chart_shared(gateway, channel, row.payload["title"]):
        return Outcome(result={"channel": channel, "bytes": len(content), "already": True})
    gateway.call(
        "files_upload_v2",
        content=content,
        filename="onboarding-digest.png",
        title=row.payload["title"],
        alt_txt="Clients per stage, and median days to onboard by quarter",
        channel=channel,
    )
    return Outcome(result={"channel": channel, "bytes": len(content)})
