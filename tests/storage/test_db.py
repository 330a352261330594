"""SQLite's one writer at a time: an ack keeping its request goes before queued work."""

from __future__ import annotations

import threading
import time

from onboard.storage.db import _Turns


def test_an_urgent_writer_goes_before_those_already_waiting() -> None:
    turns = _Turns()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn(False):
            holding.set()
            release.wait(5)

    def write(name: str, urgent: bool) -> None:
        with turns.turn(urgent):
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    work = [threading.Thread(target=write, args=(f"work {n}", False)) for n in range(3)]
    for thread in work:
        thread.start()
    time.sleep(0.05)  # the work is queued first
    ack = threading.Thread(target=write, args=("ack", True))
    ack.start()
    time.sleep(0.05)
    release.set()
    for thread in [holder, *work, ack]:
        thread.join(5)

    assert order[0] == "ack"
    assert sorted(order[1:]) == ["work 0", "work 1", "work 2"]


def test_a_writer_may_take_its_turn_again_inside_its_turn() -> None:
    turns = _Turns()
    with turns.turn(False), turns.turn(True):
        pass
    done = threading.Event()

    def other() -> None:
        with turns.turn(False):
            done.set()

    threading.Thread(target=other).start()
    assert done.wait(5)  # the turn was given back whole
