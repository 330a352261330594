"""The engine and the unit of work: one transaction per user action or delivery step.

SQLite runs in WAL mode with foreign keys on and IMMEDIATE transactions, so writers queue.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from onboard.storage.group_commit import GroupCommit

T = TypeVar("T")

# A pooled PostgreSQL connection idle longer than this is pinged before use (a server restart
# may have closed it). One in constant use is not: it answered a moment ago, and pinging it
# would double the round trips of every transaction, the ack's inbox write included. If one
# dies mid-use anyway, SQLAlchemy invalidates every connection older than the failure.
IDLE_PING_SECONDS = 1.0
# A PostgreSQL server that stops answering (a failover, a network partition) rather than
# refusing: without a limit a new connection waits for the kernel's TCP timeout, minutes,
# with the ack's thread in it. An operator's own connect_timeout in the URL wins.
CONNECT_TIMEOUT_SECONDS = 3


class Database:
    """Owns the engine; `transaction()` is the only way services write."""

    def __init__(self, url: str, connections: int = 10) -> None:
        """`connections`: how many this process keeps open (PostgreSQL), one per thread that
        may use one at a time; more are opened when needed and closed after use."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = _make_engine(url, connections)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Queue this process's transactions on a lock rather
        # than letting them sleep and retry in SQLite's busy handler, which stalls for seconds
        # under load. (Several processes on one SQLite file still work, through that handler.)
        self._turns = _Turns() if self.is_sqlite else None
        self._together = GroupCommit(self._urgent_connection) if self.is_sqlite else None

    @contextmanager
    def transaction(self, *, urgent: bool = False) -> Iterator[Session]:
        """A session whose work commits together on exit, or rolls back on an exception.
        `urgent`: on SQLite, before any transaction waiting for its turn that is not."""
        turn = self._turns.turn(urgent) if self._turns else contextlib.nullcontext()
        with turn, self._sessions.begin() as session:
            yield session

    @contextmanager
    def _urgent_connection(self) -> Iterator[Connection]:
        """An urgent turn's transaction on a Core connection (no ORM session: acks' writes)."""
        assert self._turns is not None
        with self._turns.turn(urgent=True), self.engine.begin() as connection:
            yield connection

    def one_write(self, write: Callable[[Connection], T]) -> T:
        """`write(connection)`, committed, for one write on a path someone waits for (an ack). On
        PostgreSQL its statement commits on its own (no BEGIN and COMMIT round trips), as
        concurrent writers do not wait for each other there (batched, their round trips ran
        in a row and acks got slower); on SQLite it shares one transaction with the writes of
        this kind waiting beside it (group_commit.py)."""
        if self._together is not None:
            return self._together.write(write)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return write(conn)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


class _Turns:
    """This process's writers to SQLite, one at a time (re-entrant, like an RLock); urgent
    ones (an ack keeping its request) go before those waiting that are not (work after acks,
    sweeps), so an ack waits for one transaction at most, not for a queue of them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._urgent = 0  # urgent writers waiting

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
            else:
                self._urgent += urgent
                try:
                    self._changed.wait_for(
                        lambda: self._owner is None and (urgent or not self._urgent)
                    )
                finally:
                    self._urgent -= urgent
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._changed:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._changed.notify_all()


def _make_engine(url: str, connections: int) -> Engine:
    # hide_parameters: a database error's text leaves out the statement's values, which hold
    # what people typed (answers, names, emails); such errors are logged.
    if not url.startswith("sqlite"):
        limit = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        engine = create_engine(
            url,
            pool_size=connections,
            max_overflow=20,
            connect_args=limit,
            hide_parameters=True,
        )
        _ping_when_idle(engine)
        return engine
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction never fails half-way on
        # upgrading a read lock; it also keeps the audit chain's read-then-append serial.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """`pool_pre_ping`, for connections that sat in the pool longer than IDLE_PING_SECONDS."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        entry.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, entry: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - entry.info.get("returned", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()  # leave no transaction open: it may be AUTOCOMMIT next
        except Exception as error:
            # The pool drops this connection and checks out another (up to three times).
            raise exc.DisconnectionError() from error
