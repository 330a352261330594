"""Writes from many threads committed together: one transaction, one commit, for all waiting.

On SQLite every transaction waits its turn for the one write lock, and each turn costs a
commit and a hand-over between threads. Acks that each wrote their inbox row in a transaction
of their own queued behind one another, woken in no chosen order: under the benchmark's load
an ack held the lock for 2 ms but waited 23 ms for it at the median, 163 ms at p99. Here the
first writer to arrive leads: it takes one turn and writes every write waiting by then,
each in a savepoint of its own (a write alone needs none: its failure rolls its transaction back),
and the next waiting writer leads the next batch. Each caller still returns only once its
write is committed, and gets its own write's result or exception.

The writes run on a Core connection, not an ORM session: for the ack's one insert, a
session's set-up and the ORM's statement handling cost twice the statement itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")


@dataclass
class _Waiting(Generic[T]):
    write: Callable[[Connection], T]
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    """`write(fn)` runs `fn(connection)` in a transaction shared with the writes waiting by it."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction
        self._lock = threading.Lock()
        self._waiting: list[_Waiting[Any]] = []
        self._busy = False  # a leader is writing a batch

    def write(self, fn: Callable[[Connection], T]) -> T:
        me: _Waiting[T] = _Waiting(fn)
        with self._lock:
            self._waiting.append(me)
            if not self._busy:
                self._busy = me.leads = True
        if not me.leads:
            me.woken.wait()  # until written, or asked to lead the next batch
        if me.leads:
            self._lead()
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        batch: list[_Waiting[Any]] = []
        try:
            with self._transaction() as connection:
                # Taken once the turn is ours: every write that came while it was awaited.
                batch = self._take()
                if len(batch) == 1:
                    batch[0].result = batch[0].write(connection)
                else:
                    for waiting in batch:
                        _write_one(connection, waiting)
        except BaseException as error:  # nothing of the batch was kept
            batch = batch or self._take()
            for waiting in batch:
                waiting.error = waiting.error or error
        for waiting in batch:
            waiting.woken.set()
        with self._lock:
            if self._waiting:
                follower = self._waiting[0]
                follower.leads = True
                follower.woken.set()
            else:
                self._busy = False

    def _take(self) -> list[_Waiting[Any]]:
        with self._lock:
            batch, self._waiting = self._waiting, []
        return batch


def _write_one(connection: Connection, waiting: _Waiting[Any]) -> None:
    """One caller's write, undone alone if it raises: the others' still commit."""
    try:
        with connection.begin_nested():
            waiting.result = waiting.write(connection)
    except Exception as error:
        waiting.error = error
