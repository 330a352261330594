"""Slow work keeps its rows' leases; a lease lost meanwhile is said once and let go."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from onboard.bot.leases import LeaseKeeper
from onboard.storage.db import Database
from tests.conftest import FixedClock

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


class Rows:
    """Renewals as the storage layer answers them: True while the row is still this one's."""

    def __init__(self) -> None:
        self.taken_by_another: set[int] = set()
        self.renewed: list[tuple[int, dt.datetime]] = []

    def renew(self, _session: Session, row_id: int, now: dt.datetime) -> bool:
        self.renewed.append((row_id, now))
        return row_id not in self.taken_by_another


def keeper(tmp_path: Path, rows: Rows, clock: FixedClock) -> LeaseKeeper:
    db = Database(f"sqlite:///{tmp_path / 'leases.db'}")
    return LeaseKeeper(db, rows.renew, 60, clock, name="test-leases")


def test_a_lease_is_renewed_once_a_third_of_it_has_gone_by_and_again_after(
    tmp_path: Path,
) -> None:
    rows, clock = Rows(), FixedClock(NOW)
    leases = keeper(tmp_path, rows, clock)
    with leases.holding(7, since=NOW):
        clock.now = NOW + dt.timedelta(seconds=19)
        leases.renew_due()
        assert rows.renewed == []  # 41 s left: nothing to do yet
        clock.now = NOW + dt.timedelta(seconds=20)
        leases.renew_due()
        assert rows.renewed == [(7, clock.now)]
        clock.now = NOW + dt.timedelta(seconds=39)
        leases.renew_due()
        assert len(rows.renewed) == 1  # counted from the renewal, not the claim
        clock.now = NOW + dt.timedelta(seconds=40)
        leases.renew_due()
        assert len(rows.renewed) == 2
    clock.now = NOW + dt.timedelta(seconds=90)
    leases.renew_due()
    assert len(rows.renewed) == 2  # the work finished: its row is no longer held


def test_a_lease_another_process_took_is_reported_once_and_not_renewed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows, clock = Rows(), FixedClock(NOW)
    leases = keeper(tmp_path, rows, clock)
    rows.taken_by_another.add(7)
    with leases.holding(7, since=NOW), caplog.at_level(logging.WARNING):
        for seconds in (30, 60, 90):
            clock.now = NOW + dt.timedelta(seconds=seconds)
            leases.renew_due()
    assert [row for row, _ in rows.renewed] == [7]
    assert [r.getMessage() for r in caplog.records] == [
        "test-leases: a lease ran out while its work was running"
    ]
