"""Client sign-offs, the one service the handlers call: approvers, deliverables, decisions.

Each part has its module (`approvers`, `deliverables`, `decisions`, `settlement`, and
`deliverable_versions` for the live message); this one puts them together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from onboard.bot import approvers as roster
from onboard.bot.approvers import ApproverChange, approver_ids
from onboard.bot.decisions import Decisions, Verdict
from onboard.bot.deliverables import Deliverables
from onboard.bot.gateway import SlackGateway
from onboard.bot.journey import find_client
from onboard.bot.settlement import resettle
from onboard.storage import audit
from onboard.storage.db import Database
from onboard.storage.models import Client, DeliverableVersion


class Approvals:
    def __init__(
        self,
        db: Database,
        gateway: SlackGateway,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        is_internal: Callable[[str], bool],
    ) -> None:
        """`is_internal` (the directory's): whether someone is on the agency's team, who may
        not sign off for the client."""
        self.db = db
        self.gateway = gateway
        self.clock = clock
        self.is_internal = is_internal
        self.deliverables = Deliverables(db, gateway, clock, wake)
        self.decisions = Decisions(db, clock, wake, is_internal)

    # -- approvers ----------------------------------------------------------------------------

    def approvers(self, reference: str, channel_id: str | None) -> tuple[Client, list[str]]:
        with self.db.transaction() as session:
            client = find_client(session, reference, channel_id)
            roster.adopt_contacts(session, client, self.gateway, self.clock)
            return client, approver_ids(session, client.id)

    def change_approvers(
        self,
        channel_id: str | None,
        add: bool,
        users: list[str],
        cause: audit.Cause,
    ) -> ApproverChange:
        """Add or remove approvers. Approvers sign off for the client: the team's own people
        are refused, or the agency could pass its own
        gates. A removal settles the versions that waited only for those removed."""
        roster.refuse_unless_may_change(self.is_internal, add, users)
        now = self.clock()
        with self.db.transaction() as session:
            client = find_client(session, "", channel_id)
            removed = roster.change(session, client, add, users, cause, now)
            settled, stranded = resettle(session, client, removed, now) if removed else ([], [])
            return ApproverChange(client, approver_ids(session, client.id), settled, stranded)

    # -- deliverables and decisions -----------------------------------------------------------

    def form_choices(self, channel_id: str | None) -> dict[str, Any]:
        return self.deliverables.form_choices(channel_id)

    def post(self, client_id: int, form: dict[str, Any], cause: audit.Cause) -> DeliverableVersion:
        return self.deliverables.post(client_id, form, cause)

    def check_can_decide(self, version_id: int, user: str, channel: str | None = None) -> str:
        return self.decisions.check_can_decide(version_id, user, channel)

    def decide(
        self,
        version_id: int,
        outcome: str,
        reason: str,
        cause: audit.Cause,
        channel: str | None = None,
    ) -> Verdict:
        return self.decisions.decide(version_id, outcome, reason, cause, channel)
