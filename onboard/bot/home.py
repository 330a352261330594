"""App Home: each person's view of the clients that concern them.

Team members see their clients, admins see all, a client's user sees only their own client.
"""

from __future__ import annotations

import datetime as dt
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


def home_for(db: Database, directory: Directory, user_id: str, now: dt.datetime) -> HomeView:
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
            query = query.where(or_(Client.account_manager == user_id, Client.id.in_(mine)))
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
