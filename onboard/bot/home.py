"""App Home: each person's view of the clients that concern them.

Team members see their clients (ONBOARD_TEAM's, every client being onboarded), admins see all,
a client's user sees only their own client, and only whether it is done: its health is the team's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select

from onboard.bot.identity import Directory
from onboard.bot.progress import Progress, progress
from onboard.storage.db import Database
from onboard.storage.models import Client, Contact, Task

MAX_CLIENTS = 30  # each client is two blocks; a Home view holds 100


@dataclass(frozen=True)
class HomeView:
    audience: str  # admin | team | client | nobody
    clients: list[Progress]
    more: int

    def context(self) -> dict[str, Any]:
        return {"audience": self.audience, "clients": self.clients, "more": self.more}


def home_for(
    db: Database,
    directory: Directory,
    user_id: str,
    now: dt.datetime,
    *,
    team: Collection[str] = (),
) -> HomeView:
    """What `user_id` sees; `team`: ONBOARD_TEAM, the people invited to every client's channel."""
    person = directory.person(user_id)
    internal = directory.is_internal(user_id)
    with db.transaction() as session:
        # Clients being onboarded first (set up or under way), then the newest: a completed
        # one must not push one still being set up off the view.
        finished = case((Client.status == "completed", 1), else_=0)
        query = select(Client).order_by(finished, Client.created_at.desc())
        if directory.is_admin(user_id):
            audience = "admin"
        elif internal:
            audience = "team"
            mine = select(Task.client_id).where(Task.assignee == user_id)
            theirs = [Client.account_manager == user_id, Client.id.in_(mine)]
            if user_id in team:
                # Invited to every client's channel: each client being onboarded is theirs.
                theirs.append(Client.status != "completed")
            query = query.where(or_(*theirs))
        else:
            audience = "client"
            email = (person.email or "").lower()
            contacts = select(Contact.client_id).where(
                or_(Contact.slack_user_id == user_id, func.lower(Contact.email) == email)
                if email
                else Contact.slack_user_id == user_id
            )
            query = query.where(Client.id.in_(contacts), Client.channel_id.is_not(None))
        clients = list(session.scalars(query.limit(MAX_CLIENTS + 1)))
        shown = [progress(session, c, now) for c in clients[:MAX_CLIENTS]]
        more = 0
        if len(clients) > MAX_CLIENTS:
            everyone = select(func.count()).select_from(query.order_by(None).subquery())
            more = session.scalar(everyone) - MAX_CLIENTS
    if audience == "client" and not shown:
        audience = "nobody"
    return HomeView(audience, shown, more)
