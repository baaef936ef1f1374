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
the shadow's position; the next catch-up applies whatever was written since. When the
rebuild runs in several worker processes, each group of projections is swapped in by its own
transaction as soon as its worker is done, while the others still build: the shadow copied (or
moved) and its WAL pages written back while the rest is being built, and no writer waits for
more than one group's tables at a time. Each projection's tables and tracking row still change
together (as a catch-up moves each projection on its own):

- PostgreSQL: ``DROP TABLE`` the live tables, ``ALTER TABLE shadow.t SET SCHEMA live`` (indexes
  and constraints move with them); readers wait on the table lock for the instant of the swap.
- SQLite: the shadow file is attached; the live tables are dropped, created afresh from their
  definitions and filled with ``INSERT … SELECT`` (a copy at C speed: SQLite cannot move a
  table between files; the shadow's indexes, made by the workers, are copied with the rows,
  already sorted). Readers (WAL) see the old tables until the commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import NullType

from ledger.kernel.errors import LedgerError
from ledger.kernel.eventlog import gc_paused
from ledger.kernel.i18n import _
from ledger.kernel.logs import get_logger
from ledger.kernel.store import projection_tracking, write_intent
from ledger.projections import Projection, Router, catch_up, position

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

log = get_logger("ledger.projections")

#: Told how a rebuild is getting on: ``(phase, done, total)``. Phase ``"build"`` counts the
#: events of the log the shadow spaces have applied (see :class:`_BuildProgress`); phase
#: ``"swap"`` counts the new tables swapped in, from ``(0, n)`` to ``(n, n)``, told once more
#: when the swap has committed.
RebuildProgress = Callable[[str, int, int], None]

#: Seconds between two looks at the workers' positions while they build.
PROGRESS_EVERY = 0.5


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
        shadow_engine = _pg_shadow(engine.url, shadow)
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


#: In a shadow space: which event of the log its position is at (aggregate id and version),
#: so that a shadow is resumed only on the log it was built from (not, say, on a restored
#: older copy whose later events differ). Its own metadata: it never exists in the live space.
rebuild_mark = Table("ledger_rebuild_mark", MetaData(), Column("mark", Text(), nullable=False))


def _log_mark(conn: Connection, table: Table, pos: int) -> str:
    """The event at *pos* (aggregate id and version), or ``""`` (none: position 0)."""
    if pos <= 0:
        return ""
    row = conn.execute(select(type_coerce(table.c.originator_id, NullType()),
                              table.c.originator_version).where(table.c.id == pos)).first()
    if row is None:
        return "missing"
    agg = row[0]
    if isinstance(agg, memoryview | bytearray):
        agg = bytes(agg)
    text = agg.hex() if isinstance(agg, bytes) else uuid.UUID(str(agg)).hex
    return f"{text}/{int(row[1])}"


def _source_in(shadow: Connection, source: Engine, table: Table) -> str:
    """The events table as the shadow connection reaches it: the live database attached
    (SQLite, read only by the projections built by SQL) or the live schema (PostgreSQL)."""
    if shadow.dialect.name == "postgresql":
        with source.connect() as conn:
            live = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        return f'"{live}"."{table.name}"'
    raw: Any = shadow.connection.driver_connection
    if not any(row[1] == "ledger_source" for row in raw.execute("PRAGMA database_list")):
        path = _sqlite_file(source)
        if path is None:  # pragma: no cover - callers check
            raise LedgerError(_("internal: no shadow space for an in-memory database"))
        raw.execute("ATTACH DATABASE ? AS ledger_source", (str(path),))
    return f'ledger_source."{table.name}"'


def _build(source: Engine, table: Table, router: Router, shadow: Engine, pos: int,
           batch: int, stop: int | None = None,
           on_batch: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Apply events after *pos* (up to *stop*) into the shadow tables; return (new position,
    how far it moved).

    One pass for every projection of *router*: each page of the log is read and decoded once
    and handed to every projection that reads its events; the others are not fetched. Those
    built by SQL read the page's range of the log themselves, from the shadow's connection.
    Each batch commits with the shadow's own tracking rows, so a build killed midway resumes
    after its last batch. *on_batch* is told the position after each committed batch.
    """
    total = 0
    names = [p.name for p in router.projections]
    with shadow.connect() as wconn:
        where = _source_in(wconn, source, table) if router.sql else ""
        if wconn.in_transaction():
            wconn.commit()
        while stop is None or pos < stop:
            with source.connect() as rconn:
                events, last, done = router.read(rconn, table, pos, batch, stop)
                mark = _log_mark(rconn, table, last) if last != pos else ""
            if last == pos:
                break
            try:
                with gc_paused(), wconn.begin():
                    router.apply(wconn, events, span=(pos, last), source=where)
                    wconn.execute(update(projection_tracking)
                                  .where(projection_tracking.c.name.in_(names))
                                  .values(position=last))
                    wconn.execute(update(rebuild_mark).values(mark=mark))
            except BaseException:
                router.discard()
                raise
            del events
            total += last - pos
            pos = last
            if on_batch is not None:
                on_batch(pos)
            if done:
                break
    return pos, total


def _make_indexes(shadow: Engine, tables: Sequence[Table]) -> None:
    """The secondary indexes of *tables* in a shadow space, made once its rows are in (one
    sort each, instead of keeping them up to date row by row). Each worker makes those of its
    own group, beside the others still building; the parent makes any still missing (a
    shadow built in one process, or resumed) before the swap. Rows applied after them (the
    catch-up before the swap) keep them up to date. The swap then moves them with their table
    (PostgreSQL) or copies them with its rows, already sorted (SQLite), so that no index is
    sorted while the swap holds the database."""
    with shadow.begin() as sconn:
        for table in tables:
            for index in table.indexes:
                sconn.execute(CreateIndex(index, if_not_exists=True))


def _set_tracking(conn: Connection, projection: Projection, pos: int) -> None:
    if position(conn, projection.name, lock=True) is None:
        conn.execute(insert(projection_tracking).values(
            name=projection.name, position=pos, schema_version=projection.schema_version))
    else:
        conn.execute(update(projection_tracking)
                     .where(projection_tracking.c.name == projection.name)
                     .values(position=pos, schema_version=projection.schema_version))


# ---------------------------------------------------------------------------- shadows
def _group_key(projections: Sequence[Projection]) -> str:
    spec = ",".join(f"{p.name}@{p.schema_version}" for p in sorted(projections,
                                                                     key=lambda p: p.name))
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def _sqlite_shadow(path: Path) -> Engine:
    shadow_engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(shadow_engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        # A rollback journal, so a process killed mid-batch leaves the last committed batch;
        # no sync: nobody reads the shadow until the swap, and a power loss costs a rebuild.
        dbapi_conn.execute("PRAGMA synchronous = OFF")

    return shadow_engine


def _pg_shadow(url: Any, schema: str) -> Engine:
    shadow_engine = create_engine(url)

    @event.listens_for(shadow_engine, "connect")
    def _search_path(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f'SET search_path TO "{schema}"')
        cur.close()
        dbapi_conn.commit()

    return shadow_engine


class _Shadow:
    """The tables of a group of projections being rebuilt, in a space of their own (a file
    beside the database on SQLite, a schema on PostgreSQL) named after the group, with
    tracking rows of their own: a rebuild killed midway (or whose worker process was killed)
    finds them on its next run and resumes after the last batch they committed."""

    def __init__(self, ledger: GovernanceLedger, projections: Sequence[Projection]) -> None:
        self.projections = sorted(projections, key=lambda p: p.name)
        self.key = _group_key(self.projections)
        self.tables = [t for p in self.projections for t in p.tables]
        #: Whether its tables have been swapped in (and the shadow dropped).
        self.swapped = False
        engine = ledger.engine
        self.dialect = engine.dialect.name
        self.lock = lock_for(ledger, f"rebuild-{self.key}")
        if self.dialect == "postgresql":
            with engine.connect() as conn:
                self.live = str(conn.execute(text("SELECT current_schema()")).scalar_one())
            self.where = f"{self.live[:40]}_rebuild_{self.key}"
            self.url = engine.url
        else:
            path = _sqlite_file(engine)
            if path is None:  # pragma: no cover - callers check
                raise LedgerError(_("internal: no shadow space for an in-memory database"))
            self.live = "main"
            self.where = str(path.with_name(f"{path.name}.rebuild-{self.key}"))
            self.url = engine.url

    def engine(self) -> Engine:
        """A new engine on the shadow space."""
        if self.dialect == "postgresql":
            return _pg_shadow(self.url, self.where)
        return _sqlite_shadow(Path(self.where))

    def open(self, ledger: GovernanceLedger) -> int:
        """Resume the shadow found, or make a new one; the position it is at."""
        if not self.lock.acquire():
            raise ProjectionRunningError(_("a rebuild of {names} is running").format(
                names=", ".join(p.name for p in self.projections)))
        try:
            return self._open(ledger)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, ledger: GovernanceLedger) -> int:
        found = self._resumable(ledger)
        if found is not None:
            log.info("projection.rebuild_resumed", projections=[p.name for p in
                                                                 self.projections],
                     position=found)
            return found
        self.drop(ledger)
        if self.dialect == "postgresql":
            with ledger.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.where}"'))
        shadow = self.engine()
        try:
            # Tables without their secondary indexes: those are built once, after the rows
            # are in (_make_indexes).
            with shadow.begin() as sconn:
                for table in self.tables:
                    sconn.execute(CreateTable(table))
                sconn.execute(CreateTable(projection_tracking))
                sconn.execute(CreateTable(rebuild_mark))
                sconn.execute(insert(rebuild_mark).values(mark=""))
                for p in self.projections:
                    sconn.execute(insert(projection_tracking).values(
                        name=p.name, position=0, schema_version=p.schema_version))
        finally:
            shadow.dispose()
        return 0

    def _resumable(self, ledger: GovernanceLedger) -> int | None:
        if self.dialect == "postgresql":
            with ledger.engine.connect() as conn:
                if conn.execute(text("SELECT 1 FROM information_schema.schemata WHERE "
                                     "schema_name = :s"), {"s": self.where}).first() is None:
                    return None
        elif not Path(self.where).exists():
            return None
        shadow = self.engine()
        try:
            with shadow.connect() as sconn:
                rows = sconn.execute(select(projection_tracking.c.name,
                                            projection_tracking.c.position,
                                            projection_tracking.c.schema_version)).all()
                marks = sconn.execute(select(rebuild_mark.c.mark)).scalars().all()
        except DBAPIError:
            return None
        finally:
            shadow.dispose()
        want = {(p.name, p.schema_version) for p in self.projections}
        if {(r[0], r[2]) for r in rows} != want or len({r[1] for r in rows}) != 1 or \
                len(marks) != 1:
            return None
        pos = int(rows[0][1])
        with ledger.engine.connect() as conn:
            if _log_mark(conn, ledger.events_table, pos) != marks[0]:
                log.warning("projection.rebuild_discarded", position=pos,
                            reason="the log at this position is not the one it was built from")
                return None
        return pos

    def build(self, ledger: GovernanceLedger, pos: int, batch: int,
              stop: int | None = None,
              on_batch: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Build in this process from *pos* (up to *stop*); (new position, how far)."""
        router = Router([type(p)() for p in self.projections])
        for p in router.projections:
            if pos == 0:
                p.start_empty()
            else:
                p.discard()
        shadow = self.engine()
        try:
            return _build(ledger.engine, ledger.events_table, router, shadow, pos, batch, stop,
                          on_batch)
        finally:
            router.discard()
            shadow.dispose()

    def make_indexes(self) -> None:
        """Make the indexes its worker has not made (:func:`_make_indexes`)."""
        shadow = self.engine()
        try:
            _make_indexes(shadow, self.tables)
        finally:
            shadow.dispose()

    def position(self, shadow: Engine | None = None) -> int:
        """The position the shadow's tracking rows are at (read through *shadow*, an engine
        on the shadow space, when given)."""
        engine = shadow if shadow is not None else self.engine()
        try:
            with engine.connect() as sconn:
                return int(sconn.execute(select(func.min(projection_tracking.c.position)))
                           .scalar_one())
        finally:
            if shadow is None:
                engine.dispose()

    def drop(self, ledger: GovernanceLedger) -> None:
        """Remove the shadow space."""
        if self.dialect == "postgresql":
            with ledger.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.where}" CASCADE'))
            return
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.where}{suffix}").unlink()

    def release(self) -> None:
        self.lock.release()


def _worker(url: str, table_name: str, specs: list[tuple[str, str]], dialect: str,
            where: str, pos: int, batch: int) -> None:
    """A worker process: build one shadow from *pos* to the head of the log."""
    import importlib

    from sqlalchemy import Column, Integer, LargeBinary, MetaData, Text

    from ledger.projections import REGISTRY

    for module, _name in specs:
        importlib.import_module(module)
    router = Router([REGISTRY[name]() for _module, name in specs])
    for p in router.projections:
        if pos == 0:
            p.start_empty()
        else:
            p.discard()
    table = Table(table_name, MetaData(), Column("id", Integer, primary_key=True),
                  Column("originator_id", LargeBinary), Column("originator_version", Integer),
                  Column("topic", Text), Column("state", LargeBinary))
    source = create_engine(url)
    shadow = _pg_shadow(url, where) if dialect == "postgresql" else _sqlite_shadow(Path(where))
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        end, moved = _build(source, table, router, shadow, pos, batch)
        _make_indexes(shadow, [t for p in router.projections for t in p.tables])
    finally:
        source.dispose()
        shadow.dispose()
    log.info("projection.worker_done", projections=[p.name for p in router.projections],
             position=end, events=moved, seconds=round(time.perf_counter() - wall, 2),
             cpu_seconds=round(time.process_time() - cpu, 2))


#: After a swap that held the write lock this long (seconds), the next waits :data:`SWAP_YIELD`.
SWAP_YIELD_AFTER = 0.05
SWAP_YIELD = 0.11

#: Below this many events to read, a rebuild runs in one process (starting workers costs
#: about a second each); ``LEDGER_REBUILD_PARALLEL_MIN`` changes it.
PARALLEL_MIN_EVENTS = 100_000


def rebuild_workers() -> int:
    """Worker processes for a rebuild: ``LEDGER_REBUILD_WORKERS``, else the CPUs available."""
    env = os.environ.get("LEDGER_REBUILD_WORKERS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _groups(projections: Sequence[Projection], workers: int) -> list[list[Projection]]:
    """Split *projections* into at most *workers* groups of about equal cost (longest first
    into the lightest group); each group reads and decodes the log once."""
    workers = max(1, min(workers, len(projections)))
    groups: list[list[Projection]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for p in sorted(projections, key=lambda p: (-p.rebuild_cost, p.name)):
        i = loads.index(min(loads))
        groups[i].append(p)
        loads[i] += p.rebuild_cost
    return [g for g in groups if g]


def _worker_main() -> None:
    """Entry point of a worker process (``python -c``): its arguments are JSON on argv."""
    import json
    import sys

    args = json.loads(sys.argv[1])
    _worker(args["url"], args["table"], [tuple(x) for x in args["specs"]], args["dialect"],
            args["where"], args["pos"], args["batch"])


def _run_workers(ledger: GovernanceLedger, shadows: list[_Shadow], starts: list[int],
                 batch: int, on_tick: Callable[[], None] | None = None,
                 on_done: Callable[[int], None] | None = None) -> list[str]:
    """One worker process per shadow (a new interpreter: nothing of this process is
    inherited, open connections included); waits for all of them, calling *on_tick* every
    :data:`PROGRESS_EVERY` seconds meanwhile and once at the end, and *on_done* with the index
    of each shadow whose worker succeeded, as soon as it has (while the others go on). Returns
    what went wrong with the workers that failed (nothing when all succeeded)."""
    import json
    import subprocess
    import sys

    import ledger as package

    url = ledger.engine.url.render_as_string(hide_password=False)
    root = str(Path(package.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    procs: list[subprocess.Popen[bytes]] = []
    failed: list[str] = []
    try:
        for shadow, pos in zip(shadows, starts, strict=True):
            args = {"url": url, "table": ledger.events_table.name,
                    "specs": [(type(p).__module__, p.name) for p in shadow.projections],
                    "dialect": shadow.dialect, "where": shadow.where, "pos": pos,
                    "batch": batch}
            procs.append(subprocess.Popen(  # noqa: S603 - our own interpreter
                [sys.executable, "-c",
                 "from ledger.projections.runner import _worker_main; _worker_main()",
                 json.dumps(args)], env=env))
        pending = list(range(len(procs)))
        ticked = time.monotonic()
        while pending:
            for i in list(pending):
                code = procs[i].poll()
                if code is None:
                    continue
                pending.remove(i)
                if code != 0:
                    failed.append(_("the worker of {names} exited with {code}").format(
                    names=", ".join(p.name for p in shadows[i].projections), code=code))
                elif on_done is not None:
                    on_done(i)
            if not pending:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[pending[0]].wait(timeout=0.05)
            if on_tick is not None and time.monotonic() - ticked >= PROGRESS_EVERY:
                on_tick()
                ticked = time.monotonic()
        if on_tick is not None:
            on_tick()
    finally:
        for proc in procs:
            if proc.poll() is None:  # interrupted here: the workers stop too
                proc.terminate()
                proc.wait()
    return failed


def rebuild_swapped(ledger: GovernanceLedger, projection: Projection | Sequence[Projection],
                    batch: int = 1000, on_built: Callable[[], None] | None = None,
                    workers: int | None = None,
                    progress: RebuildProgress | None = None) -> int:
    """Rebuild one or several projections into new tables and swap them in; return how far
    the position moved (events read and passed over).

    The projections are split into *workers* groups (default :func:`rebuild_workers`, one
    when the log is short), each built in a shadow space of its own by a worker process that
    reads and decodes the log once for its group. Each group is swapped in by a transaction
    of its own as soon as its worker is done, while the others still build. A worker killed
    midway leaves its shadow at its last committed batch; the next rebuild resumes there
    (the groups already swapped in stay rebuilt).

    *on_built* is called before each swap, once the tables it swaps in are built (tests use
    it to show that queries keep working meanwhile). *progress* is told how far the build and
    the swaps are (:data:`RebuildProgress`).
    """
    projections = [projection] if isinstance(projection, Projection) else list(projection)
    head = ledger.recorder.max_notification_id() or 0
    if workers is None:
        small = head < int(os.environ.get("LEDGER_REBUILD_PARALLEL_MIN") or PARALLEL_MIN_EVENTS)
        workers = 1 if small else rebuild_workers()
    shadows = [_Shadow(ledger, g) for g in _groups(projections, workers)]
    opened: list[_Shadow] = []
    ends: list[int] = []
    try:
        starts = []
        for sh in shadows:
            starts.append(sh.open(ledger))
            opened.append(sh)
        first = min(starts)
        tell = _BuildProgress(progress, starts, head)
        tell(starts)
        swapped = _SwapProgress(progress, sum(len(sh.tables) for sh in shadows))

        def finish(group: list[_Shadow], positions: list[int]) -> None:
            if on_built is not None:
                on_built()
            ends.append(_swap_in(ledger, group, positions, batch, swapped))

        if len(shadows) > 1:
            with _Watch(shadows, tell) as watch:
                def done(i: int) -> None:
                    pos = shadows[i].position()
                    watch.finished(i, pos)
                    finish([shadows[i]], [pos])

                failed = _run_workers(ledger, shadows, starts, batch,
                                      on_tick=watch.tick if progress is not None else None,
                                      on_done=done)
            if failed:
                rebuilt = [p.name for sh in shadows if sh.swapped for p in sh.projections]
                why = "; ".join(failed)
                raise LedgerError(
                    _("rebuild worker failed: {why} (the next rebuild resumes after the last "
                      "batch it committed; rebuilt and swapped in: {names})").format(
                        why=why, names=", ".join(rebuilt)) if rebuilt else
                    _("rebuild worker failed: {why} (the next rebuild resumes after the last "
                      "batch it committed)").format(why=why))
        else:
            pos = shadows[0].build(ledger, starts[0], batch, on_batch=lambda p: tell([p]))[0]
            tell([pos])
            finish(shadows, [pos])
        swapped.end()
    finally:
        for sh in opened:
            sh.release()
    pos = max(ends)
    total = pos - first
    for sh in shadows:
        for p in sh.projections:
            log.info("projection.rebuilt", projection=p.name, events=total, position=pos)
    return total


def _swap_in(ledger: GovernanceLedger, shadows: list[_Shadow], positions: list[int],
             batch: int, swapped: _SwapProgress) -> int:
    """Catch *shadows* (built up to *positions*) up with what came meanwhile, up to one
    position for all, and swap them in (one transaction on PostgreSQL, one per projection on
    SQLite); drop them; return the position their projections are then tracked at."""
    engine = ledger.engine
    target = max([*positions, ledger.recorder.max_notification_id() or 0])
    for sh, at in zip(shadows, positions, strict=True):
        if at < target:
            sh.build(ledger, at, batch, stop=target)
    for sh in shadows:
        sh.make_indexes()
    swapped.begin()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            live = shadows[0].live
            for sh in shadows:  # locks the rows: catch-ups wait here
                for p in sh.projections:
                    _set_tracking(conn, p, target)
            for name in [n for sh in reversed(shadows) for p in reversed(sh.projections)
                         for n in p.dropped_tables()]:
                conn.execute(text(f'DROP TABLE IF EXISTS "{live}"."{name}"'))
            for sh in shadows:
                for table in sh.tables:
                    conn.execute(text(
                        f'ALTER TABLE "{sh.where}"."{table.name}" SET SCHEMA "{live}"'))
                    swapped.one()
    else:
        with engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            for i, sh in enumerate(shadows):
                raw.execute(f"ATTACH DATABASE ? AS ledger_rebuild_{i}", (sh.where,))
            # The live read-model tables are dropped without zeroing their pages: they
            # hold nothing the events do not (personal data stays sealed there; no read
            # model decrypts), and zeroing them wrote about 900 bytes per event
            # (docs/performance.md). Every other deletion of the connection keeps
            # secure_delete, restored below.
            raw.execute("PRAGMA secure_delete = OFF")
            # The copied pages are written back from the WAL into the database file by a
            # thread of its own, each swap's while the next one copies, instead of by this
            # connection after each commit (its automatic checkpoint, off meanwhile).
            autocheckpoint = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            raw.execute("PRAGMA wal_autocheckpoint = 0")
            checkpointer = _Checkpointer(_sqlite_file(engine))
            try:
                # One transaction per projection: a writer waits for one projection's
                # tables to be copied at a time, not for the whole group's. The costliest
                # first (about the largest), so that the last write-back, which nothing
                # overlaps, is short.
                with write_intent():
                    for i, p in sorted(((i, p) for i, sh in enumerate(shadows)
                                        for p in sh.projections),
                                       key=lambda ip: (-ip[1].rebuild_cost, ip[1].name)):
                        began = time.monotonic()
                        with conn.begin():
                            _set_tracking(conn, p, target)
                            for name in p.dropped_tables():
                                conn.execute(text(f'DROP TABLE IF EXISTS main."{name}"'))
                            for table in p.tables:
                                _copy_table(conn, table, f"ledger_rebuild_{i}")
                                swapped.one()
                        checkpointer.poke()
                        if time.monotonic() - began > SWAP_YIELD_AFTER:
                            # Let a writer that waited meanwhile in before the next swap
                            # takes the lock again: SQLite's busy handler looks again only
                            # every 100 ms once it has waited a while.
                            time.sleep(SWAP_YIELD)
            finally:
                checkpointer.close()
                raw.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")
                raw.execute("PRAGMA secure_delete = ON")
                for i in range(len(shadows)):
                    raw.execute(f"DETACH DATABASE ledger_rebuild_{i}")
    for sh in shadows:
        sh.drop(ledger)
        sh.swapped = True
    return target


#: How many more times the last write-back of a swap is tried (10 ms apart) while a reader
#: holds frames back.
FINAL_CHECKPOINT_TRIES = 50


class _Checkpointer:
    """Writes the WAL's pages back into the database file (``wal_checkpoint(PASSIVE)``, which
    waits for no one) on a connection and thread of its own, each time it is poked, while the
    caller goes on writing; :meth:`close` waits for the last one."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.wake = threading.Event()
        self.stop = False
        self.thread = threading.Thread(target=self._run, name="ledger-checkpoint", daemon=True)
        if path is not None:
            self.thread.start()

    def poke(self) -> None:
        self.wake.set()

    def close(self) -> None:
        if self.path is not None:
            self.stop = True
            self.wake.set()
            self.thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None,
                               check_same_thread=False)
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                done = self._checkpoint(conn)
                # Stop only once a write-back began after the last poke: a poke that came
                # during this one (the last swap's commit) gets one more.
                if self.stop and not self.wake.is_set():
                    break
            for _ in range(FINAL_CHECKPOINT_TRIES):  # a reader may hold frames back
                if done:
                    break
                time.sleep(0.01)
                done = self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> bool:
        """One passive write-back; whether every frame of the WAL is back in the file."""
        try:
            busy, frames, written = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:  # busy: the next poke (or the last tries) look again
            return False
        return not busy and frames == written


class _BuildProgress:
    """Tells *progress* (if any) how far the shadows are, at positions *positions* from their
    *starts* towards *head*, as events of the log: the mean of the shadows' shares of their
    way, times the events from the earliest start to *head* (each worker reads the log
    itself, so the count is the log's, not the sum of what the workers read)."""

    def __init__(self, progress: RebuildProgress | None, starts: list[int], head: int) -> None:
        self.progress, self.starts, self.head = progress, starts, head
        self.total = max(0, head - min(starts, default=head))
        self.done = -1

    def __call__(self, positions: Sequence[int]) -> None:
        if self.progress is None:
            return
        shares = [1.0 if self.head <= s else (min(p, self.head) - s) / (self.head - s)
                  for p, s in zip(positions, self.starts, strict=True)]
        done = round(self.total * sum(shares) / len(shares))
        if done > self.done:  # never backwards
            self.done = done
            self.progress("build", done, self.total)


class _SwapProgress:
    """Tells *progress* (if any) the tables swapped in so far, out of *total*: none when the
    first swap begins (:meth:`begin`), one more at each :meth:`one`, and all again once the
    last swap has committed (:meth:`end`)."""

    def __init__(self, progress: RebuildProgress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        self.begun = False

    def begin(self) -> None:
        if not self.begun:
            self.begun = True
            if self.progress is not None:
                self.progress("swap", 0, self.total)

    def one(self) -> None:
        self.done = min(self.total, self.done + 1)
        if self.progress is not None and self.done < self.total:
            self.progress("swap", self.done, self.total)

    def end(self) -> None:
        self.begin()
        if self.progress is not None:
            self.progress("swap", self.total, self.total)


class _Watch:
    """Reads the shadows' positions while their workers build (one engine per shadow, kept
    for the whole build); a look that fails (a shadow busy committing) is skipped."""

    def __init__(self, shadows: list[_Shadow], tell: _BuildProgress) -> None:
        self.shadows, self.tell = shadows, tell
        self.engines: list[Engine] = []
        self.done: dict[int, int] = {}

    def __enter__(self) -> _Watch:
        self.engines = [sh.engine() for sh in self.shadows] if self.tell.progress else []
        return self

    def __exit__(self, *_exc: object) -> None:
        for engine in self.engines:
            engine.dispose()

    def finished(self, i: int, pos: int) -> None:
        """Shadow *i* is built up to *pos* (and is about to be swapped in and dropped): its
        position is no longer read."""
        self.done[i] = pos
        if self.engines:
            self.engines[i].dispose()
        self.tick()

    def tick(self) -> None:
        positions = self._read()
        if positions:
            self.tell(positions)

    def _read(self) -> list[int]:
        if not self.engines:
            return []
        try:
            return [self.done[i] if i in self.done else sh.position(self.engines[i])
                    for i, sh in enumerate(self.shadows)]
        except DBAPIError:  # a shadow busy committing: skip this look
            return []


def _copy_table(conn: Connection, table: Table, source: str) -> None:
    """Create *table* with its indexes in the live database and fill it from the attached
    shadow, whose table has the same indexes (:func:`_make_indexes`)."""
    conn.execute(CreateTable(table))
    for index in table.indexes:
        conn.execute(CreateIndex(index))
    # Both tables and their indexes come from the same definitions, so ``SELECT *`` lines
    # their columns up, and into an empty table SQLite then copies the records of the table's
    # b-tree and of each index's as they are, in order (its transfer optimisation): no row is
    # decoded and no index sorted while the swap holds the database.
    conn.execute(text(f'INSERT INTO main."{table.name}" SELECT * FROM {source}."{table.name}"'))


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
