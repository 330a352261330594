"""A client's hypercare as its playbook says: the stage, its rules and exit criteria; who answers.

Snapshots never change, so each client's is read once per process (`Cares`), and read again
only if it was forgotten to keep memory bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from sqlalchemy import select

from onboard.bot.playbooks import Hypercare as HypercareRules
from onboard.storage.db import Database
from onboard.storage.models import Client, Hypercare


@dataclass(frozen=True)
class Care:
    """The hypercare stage of a client's playbook snapshot: its rules and exit criteria."""

    stage_key: str
    stage_name: str
    stage_index: int
    rules: HypercareRules
    criteria: tuple[tuple[str, str], ...]  # (gate key, gate name) of each exit criterion
    next_stage: str | None  # the name of the stage after it
    # Every stage (this one, or a later one) whose hypercare has a satisfaction gate: where the
    # hypercare survey opens (surveys.hypercare_sweep).
    surveyed: frozenset[str]


def care_of(snapshot: dict[str, Any]) -> Care | None:
    """The first stage with hypercare automation, read from the raw snapshot.

    The sweep asks this of every active client; validating a whole playbook costs milliseconds,
    reading one stage's dictionary costs nothing.
    """
    stages = snapshot.get("stages") or []
    for index, stage in enumerate(stages):
        rules = (stage.get("automation") or {}).get("hypercare")
        if rules:
            names = {g["key"]: g["name"] for g in stage.get("gates") or []}
            parsed = HypercareRules.model_validate(rules)
            following = stages[index + 1]["name"] if index + 1 < len(stages) else None
            return Care(
                stage["key"],
                stage["name"],
                index,
                parsed,
                tuple((key, names.get(key, key)) for key in parsed.exit_criteria),
                following,
                frozenset(later["key"] for later in stages[index:] if _surveyed(later)),
            )
    return None


def _surveyed(stage: dict[str, Any]) -> bool:
    """The stage's hypercare has a satisfaction gate, so its survey opens there."""
    return bool(((stage.get("automation") or {}).get("hypercare") or {}).get("satisfaction_gate"))


CLIENTS_KEPT = 10_000  # clients whose Care is kept at most; the least recently used go


class Cares:
    """Each client's `Care`, read from its snapshot on first use and kept."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Keyed with the client's creation too, as a database may hand a deleted client's ID
        # to a new one. Bounded: finished clients would otherwise stay here for good.
        self._known: LRUCache[tuple[int, dt.datetime], Care | None] = LRUCache(CLIENTS_KEPT)
        self._lock = threading.Lock()  # the cache reorders itself on every read
        # Clients on the same playbook share one Care, so that each client costs this cache a
        # key rather than its own copy of the rules (it grows with every client ever seen).
        self._alike: dict[str, Care] = {}

    def stage_key(self, client_id: int, created: dt.datetime) -> str | None:
        """The key of the client's hypercare stage, for the sweep's cheap first look."""
        care = self._read(client_id, created)
        return care.stage_key if care else None

    def surveyed_stages(self, client: Client) -> frozenset[str]:
        """The stages in which the client's hypercare survey opens; `client` may be detached
        (as listed by `active_clients.each_active_client`): its snapshot is read here, once."""
        care = self._read(client.id, client.created_at)
        return care.surveyed if care else frozenset()

    def _read(self, client_id: int, created: dt.datetime) -> Care | None:
        with self._lock:
            if (client_id, created) in self._known:
                return self._known[client_id, created]
        with self.db.transaction() as session:
            snapshot = session.scalar(select(Client.playbook).where(Client.id == client_id))
        return self._keep((client_id, created), care_of(snapshot or {}))

    def of(self, client: Client) -> Care | None:
        with self._lock:
            if (client.id, client.created_at) in self._known:
                return self._known[client.id, client.created_at]
        return self._keep((client.id, client.created_at), care_of(client.playbook))

    def _keep(self, key: tuple[int, dt.datetime], care: Care | None) -> Care | None:
        with self._lock:
            care = self._known[key] = self._shared(care)
        return care

    def _shared(self, care: Care | None) -> Care | None:
        if care is None:
            return None
        same = [
            care.stage_key,
            care.stage_name,
            care.stage_index,
            care.criteria,
            care.next_stage,
            sorted(care.surveyed),
        ]
        key = json.dumps([*same, care.rules.model_dump(mode="json")], sort_keys=True)
        return self._alike.setdefault(key, care)


def review_cadence(client: Client) -> str | None:
    """How often the playbook has the client's tier reviewed in BAU (monthly | quarterly), if at
    all; a playbook may set it without a hypercare stage (BAU then starts at completion)."""
    return (client.playbook.get("review_cadence") or {}).get(client.tier)


def responders(row: Hypercare, client: Client, team: Sequence[str]) -> list[str]:
    """Who is asked to answer: those chosen, else the account manager and the internal team."""
    if row.responders is not None:
        return list(row.responders)
    return list(dict.fromkeys([client.account_manager, *team]))
