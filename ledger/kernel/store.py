"""The event store: eventsourcing-sqlalchemy on SQLite (default) or PostgreSQL, tuned and wrapped.

What this module adds to the library:

- SQLite connections get a busy timeout, WAL, the configured ``synchronous`` level, and write
  transactions that start with ``BEGIN IMMEDIATE`` (so a reader never has to upgrade to a
  writer mid-transaction and fail with "database is locked").
- One write transaction (:meth:`Store.write`) that the command path shares with the library's
  recorder, so events, the command log row and nothing else commit together.
- Our own tables (command log, projection tracking, read models) in one SQLAlchemy ``MetaData``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    insert,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

from ledger.kernel.errors import ConfigurationError
from ledger.kernel.i18n import _
from ledger.kernel.sqlitefile import read_only_uris

#: Our own tables (not the library's event tables).
metadata = MetaData()

#: Column type of log positions (notification ids): 64-bit, plain INTEGER on SQLite.
ID = BigInteger().with_variant(Integer(), "sqlite")

#: One row per accepted command: what a repeated ``command_id`` is answered with.
command_log = Table(
    "ledger_command_log",
    metadata,
    Column("command_id", String(128), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("first_notification_id", ID),
    Column("last_notification_id", ID),
    Column("result", Text(), nullable=False),
)

#: The exact bytes of each signed command (its DSSE payload), bound by digest into its events'
#: envelopes (``signature.payload_sha256``). ``verify`` re-checks each signature against them.
#: Erasing a subject blanks the payloads that carried their data (``subjects``): the digest and
#: the signature stay, so the event still shows who signed, but that signature can no longer be
#: re-checked (``verify`` reports it as erased, not as forged).
signed_commands = Table(
    "ledger_signed_commands",
    metadata,
    Column("command_id", String(128), primary_key=True),
    Column("payload_type", String(128), nullable=False),
    Column("payload", LargeBinary(), nullable=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("subjects", Text(), nullable=True),
    Column("erased_at", String(40), nullable=True),
)

#: Every refused write (signature, authority, validation, rule): when, who, which command and
#: why, without the command's content. Append-only, like the log.
refusals = Table(
    "ledger_refusals",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("recorded_at", String(40), nullable=False),
    Column("command_id", String(128)),
    Column("type", String(64)),
    Column("actor", String(64)),
    Column("key_id", String(64)),
    Column("code", String(64), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("channel", String(16), nullable=False),
)

#: Position of each projection in the notification log.
projection_tracking = Table(
    "ledger_projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", ID, nullable=False),
    Column("schema_version", Integer(), nullable=False),
)

def placeholder(conn: Connection) -> str:
    """The DB-API positional parameter marker of the connection's driver."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def id_param(conn: Connection, agg_id: UUID) -> Any:
    """An aggregate id as the events table's column holds it, for a driver-level query:
    16 bytes on SQLite, a UUID on PostgreSQL."""
    return agg_id.bytes if conn.dialect.name == "sqlite" else agg_id


_write_intent: ContextVar[bool] = ContextVar("ledger_write_intent", default=False)


class LedgerDatastore(SQLAlchemyDatastore):
    """The library's datastore, with connection settings applied before the first connect."""

    def __init__(self, *, url: str, sqlite_sync: str = "NORMAL") -> None:
        is_sqlite_file = url.startswith("sqlite") and ":memory:" not in url
        kwargs: dict[str, Any] = {}
        if is_sqlite_file:
            kwargs["connect_args"] = {"timeout": 60}
        super().__init__(url=url, **kwargs)
        engine = self.engine
        if not isinstance(engine, Engine):  # pragma: no cover - a URL always makes an Engine
            raise TypeError("expected an Engine")
        if engine.dialect.name == "sqlite":
            _tune_sqlite(engine, sqlite_sync, wal=is_sqlite_file)


def _tune_sqlite(engine: Engine, sync: str, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if wal:
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute(f"PRAGMA synchronous = {sync}")
        # Freed space is overwritten with zeros, so an erased personal-data key (or the
        # signed bytes blanked with it) leaves no copy in the file (ledger.kernel.privacy.erase).
        cur.execute("PRAGMA secure_delete = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A connection wrapping the write path's driver connection is already inside its
        # transaction (see ledger.kernel.writer): nothing to begin then.
        if not conn.connection.driver_connection.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


class LedgerApplicationRecorder(SQLAlchemyApplicationRecorder):
    """The library's recorder, inserting with one Core ``INSERT … RETURNING`` per save.

    The library adds ORM objects one at a time and flushes; a Core multi-row insert does the
    same work (same table lock on PostgreSQL, same NOTIFY) with far less Python per event.
    """

    def _insert_statement(self) -> Any:
        """The ``INSERT … RETURNING id`` statement, built once (its cache key too)."""
        stmt = self.__dict__.get("_ledger_insert")
        if stmt is None:
            table = self.events_record_cls.__table__
            stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            self.__dict__["_ledger_insert"] = stmt
        return stmt

    def _insert_stored_events(self, session: Session, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        self._lock_table(session)
        rows = [{"originator_id": e.originator_id, "originator_version": e.originator_version,
                 "topic": e.topic, "state": e.state} for e in stored_events]
        result = session.connection().execute(self._insert_statement(), rows)
        ids = [int(r[0]) for r in result]
        self._notify_channel(session)
        return ids


class LedgerFactory(SQLAlchemyFactory):
    """Infrastructure factory that builds a :class:`LedgerDatastore`."""

    application_recorder_class = LedgerApplicationRecorder

    def __init__(self, env: Any) -> None:
        InfrastructureFactory.__init__(self, env)
        self._schema_name = self.env.get(self.SQLALCHEMY_SCHEMA)
        url = self.env.get(self.SQLALCHEMY_URL)
        if not url:
            raise ValueError(_("SQLALCHEMY_URL is required"))
        self.datastore = LedgerDatastore(
            url=url, sqlite_sync=self.env.get("LEDGER_SQLITE_SYNC") or "NORMAL"
        )


@contextmanager
def write_intent() -> Iterator[None]:
    """Mark transactions begun inside as writes (``BEGIN IMMEDIATE`` on SQLite)."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextmanager
def write_transaction(datastore: SQLAlchemyDatastore) -> Iterator[Session]:
    """One write transaction shared with the library's recorder; commits on success."""
    with write_intent(), datastore.transaction(commit=True) as session:
        yield session


# ----------------------------------------------------------------------------- read-only files
def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///FILE`` URL; None for an in-memory or a PostgreSQL database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database \
            or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def read_only_copy(path: Path, into: Path) -> None:
    """Copy the SQLite ledger *path* into the new file *into*, opening *path* read-only in
    the best way it allows (:func:`ledger.kernel.sqlitefile.read_only_uris`)."""
    error: sqlite3.Error | None = None
    for uri in read_only_uris(path):
        try:
            src = sqlite3.connect(uri, uri=True)
            try:
                dst = sqlite3.connect(into)
                try:
                    src.backup(dst)
                finally:
                    dst.close()
            finally:
                src.close()
            return
        except sqlite3.Error as e:
            error = e
            into.unlink(missing_ok=True)
    raise ConfigurationError(_("cannot read the ledger at {path}: {error}").format(
        path=path, error=error))
