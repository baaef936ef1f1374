"""The write transaction, on the database driver's own connection.

Every command is a handful of small statements (read the log head, look up the command id,
insert the events, insert the command-log row). Through SQLAlchemy's ORM session each of them
costs far more Python than the database spends on it, so the write path issues them on the
driver connection (``sqlite3`` or ``psycopg``) checked out of the engine's pool, as plain SQL
built once per table. What stays the same:

- **One transaction per command** (or per ``apply`` batch, one savepoint per line where a line
  writes before it can still be refused); commit or nothing.
- **Serialised writers.** SQLite starts with ``BEGIN IMMEDIATE`` (the database's one write
  lock); PostgreSQL takes ``LOCK TABLE <events> IN EXCLUSIVE MODE`` first (the lock the
  event store takes before every insert, so that log positions commit in order), so the log
  head read next is exact and no other writer can take the same aggregate version. Plain
  readers are not blocked on either store. The unique (aggregate, version) index stays the
  guarantee underneath.
- **Positions given out here.** Writers being serialised, the head read at the start is exact:
  the transaction numbers its events head+1, head+2, … itself (no gaps in the log) and writes
  them together with one ``executemany`` — before anything inside the transaction reads the
  log, before a line's savepoint, and at commit. On PostgreSQL the id sequence is then set to
  the last position, so inserts that take their id from the sequence follow on.
- **Feed notification.** On PostgreSQL a ``NOTIFY`` on the events channel goes with every
  commit that wrote events, as the library's recorder does.

Code that needs SQLAlchemy inside the transaction (personal-data keys, a handler's query) gets
a :class:`sqlalchemy.Connection` wrapping the same driver connection (:attr:`WriteTxn.connection`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, Engine, Table

_SQLITE_RETRYABLE: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,
                                                      sqlite3.OperationalError)


def driver_retryable() -> tuple[type[BaseException], ...]:
    """Driver errors after which a write is retried from a fresh read: a unique index hit by a
    concurrent writer (version or command id), a busy database, a deadlock, a lost connection.

    psycopg's are included once psycopg is loaded: no PostgreSQL connection can raise them
    before, and a SQLite ledger's process never pays for importing it.
    """
    pg = sys.modules.get("psycopg")
    if pg is None:
        return _SQLITE_RETRYABLE
    return (*_SQLITE_RETRYABLE, pg.IntegrityError, pg.OperationalError)

_UNREAD = object()

#: The write transaction open in this context (loads inside a command read through it).
current: ContextVar[WriteTxn | None] = ContextVar("ledger_write_txn", default=None)


@dataclass(frozen=True)
class Statements:
    """The write path's SQL for one events table and one dialect."""

    pg: bool
    head: str
    prior: str
    priors: str
    insert_event: str
    insert_command: str
    insert_signed: str
    aggregate: str
    lock: str
    setval: str
    notify: str

    @classmethod
    def build(cls, engine: Engine, events: Table, command_log: Table, channel: str,
              signed: Table | None = None) -> Statements:
        pg = engine.dialect.name == "postgresql"
        p = "%s" if pg else "?"
        ev, cl = events.name, command_log.name
        cols = ("command_id", "type", "actor", "recorded_at", "first_notification_id",
                "last_notification_id", "result")
        return cls(
            pg=pg,
            head=f"SELECT max(id) FROM {ev}",
            prior=f"SELECT result FROM {cl} WHERE command_id = {p}",
            priors=f"SELECT command_id, result FROM {cl} WHERE command_id IN ({{}})",
            insert_event=(f"INSERT INTO {ev} (id, originator_id, originator_version, topic, "
                          f"state) VALUES ({p}, {p}, {p}, {p}, {p})"),
            insert_command=(f"INSERT INTO {cl} ({', '.join(cols)}) "
                            f"VALUES ({', '.join([p] * len(cols))})"),
            insert_signed=(f"INSERT INTO {signed.name if signed is not None else 'x'} "
                           "(command_id, payload_type, payload, payload_sha256, subjects) "
                           f"VALUES ({p}, {p}, {p}, {p}, {p})"),
            aggregate=(f"SELECT id, originator_version, topic, state FROM {ev} "
                       f"WHERE originator_id = {p} ORDER BY originator_version"),
            lock=f"LOCK TABLE {ev} IN EXCLUSIVE MODE",
            setval=f"SELECT setval(pg_get_serial_sequence('{ev}', 'id'), {p})",
            notify=f"NOTIFY {channel}",
        )

    @property
    def mark(self) -> str:
        return "%s" if self.pg else "?"


class WriteTxn:
    """One open write transaction on a driver connection (see the module docstring)."""

    def __init__(self, engine: Engine, sql: Statements, fairy: Any,
                 sealer: Sealer | None = None) -> None:
        self.engine = engine
        self.sealer = sealer
        self.sql = sql
        self._fairy = fairy
        self.raw: Any = fairy.driver_connection
        self.cursor: Any = self.raw.cursor()
        self._sa: Connection | None = None
        self.wrote_events = False
        self.savepoint = False
        self.batch_line = False
        #: Position the next event takes (known once :meth:`head` has been read: writers are
        #: serialised, so positions are given out here, with no gaps).
        self.next_id: int | None = None
        self._events: list[tuple[Any, ...]] = []
        self._written: list[tuple[Any, ...]] = []
        self._commands: list[Sequence[Any]] = []
        self._signed: list[Sequence[Any]] = []
        self._last_id = 0
        self._head: Any = _UNREAD

    # ------------------------------------------------------------------ statements
    def uuid_param(self, value: UUID) -> Any:
        """An aggregate id as the events table's column stores it."""
        return value if self.sql.pg else value.bytes

    def scalar(self, statement: str, params: Sequence[Any] = ()) -> Any:
        self.cursor.execute(statement, params)
        row = self.cursor.fetchone()
        return None if row is None else row[0]

    def head(self) -> int | None:
        """The last position in the log (read once, at the start of the transaction)."""
        if self._head is _UNREAD:
            self._set_head(self.scalar(self.sql.head))
        return self._head  # type: ignore[no-any-return]

    def _set_head(self, value: Any) -> None:
        self._head = None if value is None else int(value)
        self.next_id = (self._head or 0) + 1

    def prior(self, command_id: str) -> str | None:
        """The stored result of *command_id*, if it is in the command log."""
        value = self.scalar(self.sql.prior, (command_id,))
        return None if value is None else str(value)

    def _begin(self) -> None:
        """Begin: take the writers' lock and read the head."""
        self.cursor.execute(self.sql.lock if self.sql.pg else "BEGIN IMMEDIATE")
        head = self.head()
        if self.sealer is not None:
            self.sealer.begin(self.cursor, head)

    def priors(self, command_ids: Sequence[str]) -> dict[str, str]:
        """Stored results of the command ids already in the log (one query)."""
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(command_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            self.cursor.execute(self.sql.priors.format(", ".join([self.sql.mark] * len(chunk))),
                                chunk)
            out.update({str(r[0]): str(r[1]) for r in self.cursor.fetchall()})
        return out

    def insert_events(self, stored: Sequence[StoredEvent]) -> list[int]:
        """Add stored events, in order, to the transaction; their log positions.

        The rows are written together (:meth:`flush`): before anything reads the log inside
        this transaction, before a savepoint, and at commit.
        """
        if self.next_id is None:
            self.head()
        first = self.next_id
        assert first is not None
        ids = list(range(first, first + len(stored)))
        self.next_id = first + len(stored)
        uuid_param = self.uuid_param
        self._events += [(i, uuid_param(e.originator_id),  # type: ignore[arg-type]
                          e.originator_version, e.topic, e.state)
                         for i, e in zip(ids, stored, strict=True)]
        return ids

    def insert_commands(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add command-log rows (written at commit)."""
        self._commands += rows

    def insert_signed(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add the signed bytes of commands (``ledger_signed_commands``; written at commit)."""
        self._signed += rows

    def flush(self) -> None:
        """Write the events added so far."""
        if self._events:
            rows, self._events = self._events, []
            self.cursor.executemany(self.sql.insert_event, rows)
            self._written += rows
            self.wrote_events = True
            self._last_id = rows[-1][0]

    def _commit(self) -> None:
        """Write what is pending (on PostgreSQL: then set the id sequence and notify) and
        commit."""
        self.flush()
        if self.sealer is not None:
            self.sealer.commit(self.cursor, self._written, self._commands)
        if self._commands:
            self.cursor.executemany(self.sql.insert_command, self._commands)
            self._commands = []
        if self._signed:
            self.cursor.executemany(self.sql.insert_signed, self._signed)
            self._signed = []
        if self.sql.pg:
            if self.wrote_events:
                self.cursor.execute(self.sql.setval, (self._last_id,))
                self.cursor.execute(self.sql.notify)
            self.raw.commit()
        else:
            self.cursor.execute("COMMIT")

    def aggregate_rows(self, agg_id: UUID) -> list[tuple[int, int, str, bytes]]:
        """(position, version, topic, state) of every stored event of one aggregate, oldest
        first."""
        self.flush()
        self.cursor.execute(self.sql.aggregate, (self.uuid_param(agg_id),))
        return [(int(p), int(v), str(t), bytes(s)) for p, v, t, s in self.cursor.fetchall()]

    # ------------------------------------------------------------------ savepoints
    def begin_line(self) -> None:
        """Start a savepoint for one ``apply`` line (only when the line writes early)."""
        if not self.savepoint:
            self.flush()  # earlier lines' events stay whatever this line does
            self.cursor.execute("SAVEPOINT ledger_line")
            self.savepoint = True

    def end_line(self, *, ok: bool) -> None:
        """Keep (``ok``) or undo what the line wrote since :meth:`begin_line`."""
        if self.savepoint:
            if not ok:
                self.cursor.execute("ROLLBACK TO SAVEPOINT ledger_line")
            self.cursor.execute("RELEASE SAVEPOINT ledger_line")
            self.savepoint = False

    # ------------------------------------------------------------------ SQLAlchemy
    @property
    def connection(self) -> Connection:
        """A SQLAlchemy connection on this transaction's driver connection.

        Inside an ``apply`` batch, using it opens the line's savepoint first, so whatever it
        writes is undone if the line is refused.
        """
        if self._sa is None:
            self._sa = Connection(self.engine, connection=self._fairy)
        self.flush()
        if self.batch_line:
            self.begin_line()
        return self._sa


class Sealer(Protocol):
    """What the write transaction asks of the integrity layer (``ledger.integrity.intxn``):
    a check when it begins, and the leaves of what it wrote just before it commits."""

    def begin(self, cursor: Any, head: int | None) -> None: ...

    def commit(self, cursor: Any, events: Sequence[tuple[Any, ...]],
               commands: Sequence[Sequence[Any]]) -> None: ...

    def rollback(self) -> None: ...


class Writer:
    """Opens write transactions on one driver connection it keeps between them.

    Keeping the connection saves a pool checkout and check-in per command. It is given back
    (and a new one taken) when it breaks; :meth:`close` returns it to the pool.
    """

    def __init__(self, engine: Engine, sql: Statements, sealer: Sealer | None = None) -> None:
        self.engine = engine
        self.sql = sql
        self.sealer = sealer
        self._fairy: Any = None

    @contextmanager
    def transaction(self) -> Iterator[WriteTxn]:
        """A write transaction: begun, serialised against other writers, committed on success.

        A connection found broken (the server restarted, the session was terminated) is
        dropped, so the caller's retry starts on a fresh one.
        """
        sql = self.sql
        if self._fairy is None:
            self._fairy = self.engine.raw_connection()
        fairy = self._fairy
        try:
            txn = WriteTxn(self.engine, sql, fairy, self.sealer)
        except BaseException:
            self._drop_if_broken(fairy)
            raise
        token = current.set(txn)
        try:
            txn._begin()
            yield txn
            txn._commit()
        except BaseException:
            _rollback(txn)
            if self.sealer is not None:
                self.sealer.rollback()
            self._drop_if_broken(fairy)
            raise
        finally:
            current.reset(token)
            with contextlib.suppress(*driver_retryable()):
                txn.cursor.close()

    def _drop_if_broken(self, fairy: Any) -> None:
        raw = fairy.driver_connection
        broken = (raw.closed or getattr(raw, "broken", False)) if self.sql.pg else False
        if broken and self._fairy is fairy:
            self._fairy = None
            fairy.invalidate()

    def close(self) -> None:
        """Give the connection back to the pool."""
        if self._fairy is not None:
            fairy, self._fairy = self._fairy, None
            fairy.close()


def _rollback(txn: WriteTxn) -> None:
    try:
        if txn.sql.pg:
            txn.raw.rollback()
        elif txn.raw.in_transaction:
            txn.cursor.execute("ROLLBACK")
    except driver_retryable():  # the connection is gone; the pool drops it below
        pass
