"""Who a Slack user is to the bot: internal team member, guest, or external (a client).

Decided on the server from `auth.test` and `users.info`, never from what a payload claims.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from onboard.bot.errors import NotAllowed, SlackUnavailable
from onboard.bot.gateway import SlackCallError, SlackGateway


@dataclass(frozen=True)
class Person:
    id: str
    team_id: str
    is_guest: bool
    is_bot: bool
    tz: str | None
    email: str | None = None
    deleted: bool = False  # the account is deactivated: they left the workspace


PEOPLE_KEPT = 10_000  # people cached at most: memory stays bounded in a big workspace


class Directory:
    """Looks people up, caching answers briefly (users.info is Tier 4, but not free)."""

    def __init__(
        self,
        gateway: SlackGateway,
        *,
        admins: tuple[str, ...] = (),
        ttl_seconds: float = 300,
    ) -> None:
        self.gateway = gateway
        self.admins = frozenset(admins)
        self._home: tuple[str, str] | None = None
        self._people: TTLCache[str, Person] = TTLCache(PEOPLE_KEPT, ttl_seconds)
        self._lock = threading.Lock()

    def home(self) -> tuple[str, str]:
        """(team ID, bot user ID) of the workspace that installed the bot."""
        if self._home is None:
            try:
                answer = self.gateway.call("auth.test")
            except SlackCallError as exc:
                raise SlackUnavailable("Slack did not answer; try again in a moment.") from exc
            self._home = (answer["team_id"], answer["user_id"])
        return self._home

    def person(self, user_id: str) -> Person:
        with self._lock:
            cached = self._people.get(user_id)
        if cached is not None:
            return cached
        try:
            user = self.gateway.call("users.info", user=user_id)["user"]
        except SlackCallError as exc:
            if exc.error == "user_not_found":
                raise NotAllowed("Slack does not know you in this workspace.") from exc
            raise SlackUnavailable("Slack did not answer; try again in a moment.") from exc
        person = Person(
            id=user["id"],
            team_id=user.get("team_id", ""),
            is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            is_bot=bool(user.get("is_bot")),
            tz=user.get("tz"),
            email=(user.get("profile") or {}).get("email"),
            deleted=bool(user.get("deleted")),
        )
        with self._lock:
            self._people[user_id] = person
        return person

    def has_left(self, user_id: str) -> bool:
        """Whether a message to `user_id` would be read by no one: their account is
        deactivated, or Slack does not know them here at all."""
        try:
            return self.person(user_id).deleted
        except NotAllowed:  # users.info: user_not_found
            return True

    def is_internal(self, user_id: str) -> bool:
        """A full member of the installing workspace: not a guest, not another team's user."""
        return self._internal(self.person(user_id))

    def _internal(self, person: Person) -> bool:
        return person.team_id == self.home()[0] and not person.is_guest and not person.is_bot

    def require_internal(self, user_id: str) -> Person:
        person = self.person(user_id)
        if not self._internal(person):
            raise NotAllowed("This command is for the onboarding team.")
        return person

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins and self.is_internal(user_id)


def on_the_team(is_internal: Callable[[str], bool], user_id: str) -> bool:
    """Whether someone *named* (an approver, a service delivery manager) is on the team.
    `is_internal` raises NotAllowed for a user Slack does not know, words meant for the asker;
    someone named whom Slack does not know is simply not on the team."""
    try:
        return is_internal(user_id)
    except NotAllowed:
        return False
