"""Running projections continuously, one runner per view, and rebuilding into new tables.

**One runner per view.** :func:`follow` takes a lock per projection before it applies
anything: ``pg_try_advisory_lock`` on PostgreSQL (held by a dedicated session, released when
the process dies), an exclusive ``flock`` on ``<database file>.projection-<name>.lock`` on
SQLite (released by the kernel when the process dies). A second runner finds the lock taken
and leaves that projection alone. Queries still call ``catch_up`` before reading; that is safe
beside a runner because each batch locks the projection's tracking row.

**Rebuild and swap** (:func:`rebuild_swapped`). The projection's tables are built from
position 0 in a shadow space: a schema of their own on PostgreSQL, a file beside the database
on SQLite. Projections write through their ordinary ``Table`` objects, which carry no schema,
so pointing a connection at the shadow space (``search_path`` / a separate file) is all the
indirection needed, and ``apply`` needs no change. Meanwhile queries keep reading (and catching
up) the live tables. Then one transaction swaps the new tables in and sets the tracking row to
the shadow's position; the next catch-up applies whatever was written since:

- PostgreSQL: ``DROP TABLE`` the live tables, ``ALTER TABLE shadow.t SET SCHEMA live`` (indexes
  and constraints move with them); readers wait on the table lock for the instant of the swap.
- SQLite: the shadow file is attached; the live tables are dropped, created afresh from their
  definitions and filled with ``INSERT … SELECT`` (a copy at C speed: SQLite cannot move a
  table between files). Readers (WAL) see the old tables until the commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, CreateTable

from ledger.kernel.errors import LedgerError
from ledger.kernel.eventlog import read_log_page
from ledger.kernel.i18n import _
from ledger.kernel.logs import get_logger
from ledger.kernel.store import projection_tracking, write_intent
from ledger.projections import Projection, Router, catch_up, position

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

log = get_logger("ledger.projections")


class ProjectionRunningError(LedgerError):
    """Raised when every projection asked for already has a runner in another process."""

    code = "projection_running"
    http_status = 409


# ---------------------------------------------------------------------------- locks
class ProjectionLock:
    """The "one runner per view" lock for one projection."""

    def acquire(self) -> bool:
        """Take the lock without waiting; whether it was taken."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the lock back."""
        raise NotImplementedError

    def is_held_elsewhere(self) -> bool:
        """Whether another session holds the lock now (probes and gives it back)."""
        if self.acquire():
            self.release()
            return False
        return True


def _lock_key(schema: str, name: str) -> int:
    digest = hashlib.sha256(f"ledger-projection:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgAdvisoryLock(ProjectionLock):
    """``pg_try_advisory_lock`` held on a dedicated connection."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": _lock_key(str(schema), self.name)}).scalar_one())
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            self._conn.close()
            self._conn = None


class FileLock(ProjectionLock):
    """An exclusive ``flock`` on a file beside the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def acquire(self) -> bool:
        fh = self.path.open("ab")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.truncate(0)
        fh.write(f"{os.getpid()}\n".encode())
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class ThreadLock(ProjectionLock):
    """In-memory SQLite: only this process can see the database, so a process-wide lock."""

    _held: ClassVar[set[str]] = set()
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name = name
        self._mine = False

    def acquire(self) -> bool:
        with self._guard:
            if self.name in self._held:
                return False
            self._held.add(self.name)
            self._mine = True
            return True

    def release(self) -> None:
        with self._guard:
            if self._mine:
                self._held.discard(self.name)
                self._mine = False


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def lock_for(ledger: GovernanceLedger, name: str) -> ProjectionLock:
    """The runner lock of projection *name* in this ledger."""
    engine = ledger.engine
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLock(engine, name)
    path = _sqlite_file(engine)
    if path is None:
        return ThreadLock(name)
    return FileLock(path.with_name(f"{path.name}.projection-{name}.lock"))


# ---------------------------------------------------------------------------- follow
class _Wait:
    """Waits for new events: LISTEN/NOTIFY on PostgreSQL, polling with backoff on SQLite."""

    def __init__(self, ledger: GovernanceLedger, poll_max: float) -> None:
        self.poll_max = poll_max
        self.idle = 0
        self._raw: Any = None
        if ledger.engine.dialect.name == "postgresql":
            raw = ledger.engine.raw_connection()
            driver = raw.driver_connection
            if driver is None:  # pragma: no cover - psycopg always has one
                raise LedgerError(_("internal: no driver connection"))
            driver.autocommit = True
            driver.execute(f'LISTEN "{ledger.recorder.channel_name}"')
            self._raw = raw

    def wait(self, stop: threading.Event) -> None:
        if self._raw is not None:
            for _n in self._raw.driver_connection.notifies(timeout=min(self.poll_max, 5.0)):
                break
            return
        self.idle += 1
        stop.wait(min(self.poll_max, 0.02 * (2 ** min(self.idle, 10))))

    def reset(self) -> None:
        self.idle = 0

    def close(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.invalidate()


def follow(ledger: GovernanceLedger, names: list[str] | None = None, *,
           stop: threading.Event | None = None, poll_max: float = 1.0,
           on_progress: Callable[[str, int], None] | None = None) -> list[str]:
    """Run projections (all, or *names*) until *stop* is set; return the ones this ran.

    Projections another runner holds are skipped (logged); when all are held elsewhere,
    raises :class:`ProjectionRunningError`.
    """
    stop = stop or threading.Event()
    wanted = names or list(ledger.projections)
    locks: dict[str, ProjectionLock] = {}
    for name in wanted:
        lock = lock_for(ledger, name)
        if lock.acquire():
            locks[name] = lock
        else:
            log.warning("projection.skipped", projection=name, reason="another runner holds it")
    if not locks:
        raise ProjectionRunningError(
            _("every projection asked for ({wanted}) already has a runner; stop it first, or run only the "
              "others").format(wanted=', '.join(wanted)))
    waiter = _Wait(ledger, poll_max)
    try:
        while not stop.is_set():
            moved = 0
            for name in locks:
                try:
                    n = catch_up(ledger, ledger.projections[name])
                except DBAPIError as e:  # a concurrent catch-up took the same row: next round
                    log.warning("projection.retry", projection=name, error=type(e).__name__)
                    n = 0
                moved += n
                if n and on_progress is not None:
                    on_progress(name, n)
            if moved:
                waiter.reset()
                continue
            waiter.wait(stop)
    finally:
        waiter.close()
        for lock in locks.values():
            lock.release()
    return list(locks)


def runner_states(ledger: GovernanceLedger) -> dict[str, bool]:
    """For each projection, whether a runner (another session) holds its lock now."""
    return {name: lock_for(ledger, name).is_held_elsewhere() for name in ledger.projections}


# ---------------------------------------------------------------------------- rebuild
@contextmanager
def _shadow_engine(ledger: GovernanceLedger) -> Iterator[tuple[Engine, str]]:
    """An engine whose unqualified tables live in a new, empty shadow space; and its name."""
    engine = ledger.engine
    tag = uuid.uuid4().hex[:10]
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            live = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        shadow = f"{live[:40]}_rebuild_{tag}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{shadow}"'))
        shadow_engine = create_engine(engine.url)

        @event.listens_for(shadow_engine, "connect")
        def _search_path(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f'SET search_path TO "{shadow}"')
            cur.close()
            dbapi_conn.commit()

        try:
            yield shadow_engine, shadow
        finally:
            shadow_engine.dispose()
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{shadow}" CASCADE'))
        return
    path = _sqlite_file(engine)
    if path is None:  # pragma: no cover - callers check
        raise LedgerError(_("internal: no shadow space for an in-memory database"))
    shadow_path = path.with_name(f"{path.name}.rebuild-{tag}")
    shadow_engine = create_engine(f"sqlite:///{shadow_path}")

    @event.listens_for(shadow_engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA journal_mode = OFF")
        dbapi_conn.execute("PRAGMA synchronous = OFF")

    try:
        yield shadow_engine, str(shadow_path)
    finally:
        shadow_engine.dispose()
        for p in (shadow_path, Path(f"{shadow_path}-journal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _build(ledger: GovernanceLedger, router: Router, shadow: Engine, pos: int,
           batch: int) -> tuple[int, int]:
    """Apply events after *pos* into the shadow tables; return (new position, events read).

    One pass for every projection being rebuilt: each page of the log is read and decoded
    once and handed to every projection that reads its events.
    """
    total = 0
    while True:
        with ledger.engine.connect() as rconn:
            # Only the events some projection reads are decoded; the others are skipped.
            events, read, last = read_log_page(rconn, ledger.events_table, ledger.mapper,
                                               pos, batch, types=router.types)
        if not read:
            return pos, total
        try:
            with shadow.begin() as wconn:
                router.apply(wconn, events)
        except BaseException:
            router.discard()
            raise
        del events
        pos = last
        total += read


def _set_tracking(conn: Connection, projection: Projection, pos: int) -> None:
    if position(conn, projection.name, lock=True) is None:
        conn.execute(insert(projection_tracking).values(
            name=projection.name, position=pos, schema_version=projection.schema_version))
    else:
        conn.execute(update(projection_tracking)
                     .where(projection_tracking.c.name == projection.name)
                     .values(position=pos, schema_version=projection.schema_version))


def rebuild_swapped(ledger: GovernanceLedger, projection: Projection | Sequence[Projection],
                    batch: int = 1000, on_built: Callable[[], None] | None = None) -> int:
    """Rebuild one or several projections into new tables and swap them in, all in one pass
    over the log and one swap transaction; return the events read.

    *on_built* is called after the shadow tables are built, before the swap (tests use it to
    show that queries keep working meanwhile).
    """
    engine = ledger.engine
    projections = [projection] if isinstance(projection, Projection) else list(projection)
    # New instances build the shadow: the ledger's own keep serving catch-ups of the live
    # tables meanwhile (from this or other threads) with working state of their own.
    router = Router(sorted((type(p)() for p in projections), key=lambda p: p.name))
    tables = [t for p in router.projections for t in p.tables]
    try:
        with _shadow_engine(ledger) as (shadow, where):
            # Tables without their secondary indexes: those are built once, after the rows
            # are in (on PostgreSQL in the shadow schema, on SQLite by the copy at the swap).
            with shadow.begin() as sconn:
                for table in tables:
                    sconn.execute(CreateTable(table))
            for p in router.projections:
                p.start_empty()
            pos, total = _build(ledger, router, shadow, 0, batch)
            if on_built is not None:
                on_built()
            pos, more = _build(ledger, router, shadow, pos, batch)  # what came meanwhile
            total += more
            if engine.dialect.name == "postgresql":
                with shadow.begin() as sconn:
                    for table in tables:
                        for index in table.indexes:
                            sconn.execute(CreateIndex(index))
                with engine.begin() as conn:
                    live = str(conn.execute(text("SELECT current_schema()")).scalar_one())
                    for p in router.projections:  # locks the rows: catch-ups wait here
                        _set_tracking(conn, p, pos)
                    for table in reversed(tables):
                        conn.execute(text(f'DROP TABLE IF EXISTS "{live}"."{table.name}"'))
                    for table in tables:
                        conn.execute(text(
                            f'ALTER TABLE "{where}"."{table.name}" SET SCHEMA "{live}"'))
            else:
                with engine.connect() as conn:
                    raw: Any = conn.connection.driver_connection
                    raw.execute("ATTACH DATABASE ? AS ledger_rebuild", (where,))
                    try:
                        with write_intent(), conn.begin():
                            for p in router.projections:
                                _set_tracking(conn, p, pos)
                            for table in reversed(tables):
                                conn.execute(text(f'DROP TABLE IF EXISTS main."{table.name}"'))
                            for table in tables:
                                _copy_table(conn, table)
                    finally:
                        raw.execute("DETACH DATABASE ledger_rebuild")
    finally:
        router.discard()
    for p in router.projections:
        log.info("projection.rebuilt", projection=p.name, events=total, position=pos)
    return total


def _copy_table(conn: Connection, table: Table) -> None:
    """Create *table* in the live database and fill it from the attached shadow; its indexes
    are made after the rows are in (faster than keeping them up to date row by row)."""
    conn.execute(CreateTable(table))
    cols = ", ".join(f'"{c.name}"' for c in table.columns)
    conn.execute(text(f'INSERT INTO main."{table.name}" ({cols}) '
                      f'SELECT {cols} FROM ledger_rebuild."{table.name}"'))
    for index in table.indexes:
        conn.execute(CreateIndex(index))


def can_swap(ledger: GovernanceLedger) -> bool:
    """Whether rebuilds can go through a shadow space (not for an in-memory SQLite)."""
    return ledger.engine.dialect.name == "postgresql" or _sqlite_file(ledger.engine) is not None


def wait_for(ledger: GovernanceLedger, name: str, target: int, timeout: float = 10.0) -> bool:
    """Wait until projection *name* has reached *target*; whether it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ledger.engine.connect() as conn:
            tracked = position(conn, name)
        if tracked and tracked[0] >= target:
            return True
        time.sleep(0.02)
    return False
