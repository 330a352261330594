"""The pinned card is refreshed once a day for each active client, on the client's own
calendar, in a few queries however many clients there are."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import event, select

from onboard.bot import erasure
from onboard.bot.cards import refresh_daily
from onboard.storage.audit import Cause
from onboard.storage.models import Client, OutboxMessage
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_new_client import onboard_client

UTC = dt.UTC


def daily_keys(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return sorted(
            session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.like("%:card:day:%")))
        )


def test_each_card_is_refreshed_once_a_local_day_in_a_few_queries(
    start_bot: BotFactory, people: People
) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 2, 10, 0, tzinfo=UTC))  # Monday
    onboard = start_bot(clock=clock)
    for name, zone in (
        ("London Ltd", "Europe/London"),
        ("Auckland Ltd", "Pacific/Auckland"),
        ("Los Angeles Inc", "America/Los_Angeles"),
        ("Done Already", "Europe/London"),
    ):
        onboard_client(onboard, people, name=name, timezone=zone)
    # The fourth client's journey is complete: its card no longer changes with the date.
    for _ in range(20):
        answer = onboard.driver.command(people.admin.id, "advance done-already --force done")
        if "completed onboarding" in answer.json()["text"]:
            break
    onboard.deliver()

    statements: list[str] = []
    here = threading.get_ident()  # not the delivery worker's statements

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == here:
            statements.append(" ".join(statement.split()))

    event.listen(onboard.bot.db.engine, "before_cursor_execute", seen)
    # 23:30 UTC on Monday: already Tuesday in Auckland, still Monday in London and LA.
    monday_night = dt.datetime(2026, 11, 2, 23, 30, tzinfo=UTC)
    assert refresh_daily(onboard.bot.db, monday_night, batch=2) == 3
    listings = [s for s in statements if s.startswith("SELECT") and "FROM clients" in s]
    assert len(listings) == 1 + 2  # the list, then one check of each batch of two
    assert daily_keys(onboard) == [
        "client:1:card:day:2026-11-02",
        "client:2:card:day:2026-11-03",
        "client:3:card:day:2026-11-02",
    ]

    # The sweep runs again a quarter of an hour later: nothing is new, nothing is written.
    statements.clear()
    assert refresh_daily(onboard.bot.db, monday_night + dt.timedelta(minutes=15), batch=2) == 0
    assert not [s for s in statements if s.startswith("INSERT")]
    assert len([s for s in statements if "FROM clients" in s]) == 1  # the list alone
    # Past midnight in London: London's Tuesday begins; Auckland had its refresh, LA waits.
    tuesday = dt.datetime(2026, 11, 3, 0, 5, tzinfo=UTC)
    assert refresh_daily(onboard.bot.db, tuesday) == 1
    assert "client:1:card:day:2026-11-03" in daily_keys(onboard)
    event.remove(onboard.bot.db.engine, "before_cursor_execute", seen)

    onboard.deliver()
    with onboard.bot.db.transaction() as session:
        unsent = session.scalars(select(OutboxMessage.key).where(OutboxMessage.status != "sent"))
        assert unsent.all() == []


def test_an_erased_clients_card_is_not_refreshed(start_bot: BotFactory, people: People) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC))
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    onboard.deliver()
    with onboard.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    erasure.erase(onboard.bot.db, slug, Cause.system(), reason="request", now=clock.now)

    assert refresh_daily(onboard.bot.db, dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)) == 0
    assert daily_keys(onboard) == []
