"""Projections: read models in SQLAlchemy tables, each with a tracking row.

A projection reads the global log after its tracked position and applies each event to its
tables; the rows and the new position commit in one transaction per batch, so a projection
killed mid-batch resumes exactly where its last batch ended. Queries catch a projection up
before they read. ``rebuild`` replays from zero into new tables and swaps them in, so queries
keep working meanwhile (see :mod:`ledger.projections.runner`, which also runs projections
continuously, one runner per view).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import Connection, Table, delete, insert, select, text, update

from ledger.kernel.eventlog import LoggedEvent, gc_paused, head_query, read_log_page
from ledger.kernel.store import projection_tracking, write_intent
from ledger.projections.sql import Appender, TableBuffer

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

P = TypeVar("P", bound="Projection")


#: Every projection class, by name (domain modules register theirs with :func:`projection`).
REGISTRY: dict[str, type[Projection]] = {}


def projection(cls: type[P]) -> type[P]:
    """Class decorator: register a projection."""
    if not cls.name or cls.name in REGISTRY:
        raise TypeError(f"projection {cls.__name__} needs a unique name, got {cls.name!r}")
    REGISTRY[cls.name] = cls
    return cls


def discover() -> dict[str, Projection]:
    """One instance of every registered projection (the application imports the read models'
    modules, :func:`ledger.domains.load_projections`; importing one registers it)."""
    return {name: cls() for name, cls in sorted(REGISTRY.items())}


class Projection:
    """Base of read models: a name, a schema version, tables, and ``apply``.

    **Working state.** ``apply`` does not run SQL per event: it queues its writes in
    :class:`~ledger.projections.sql.TableBuffer` objects (``self.buffer(table)``) and keeps
    what later events need to read (counters, the open interval, a readable key…) in
    dictionaries made with ``self.memo(name)``. ``flush`` sends the queued writes, one
    ``executemany`` per statement shape, just before the batch commits with the tracking row.
    A memo entry missing from memory is loaded from the tables; when the tables started empty
    (a rebuild) and nothing was evicted since (``complete``), a missing entry means the row
    does not exist and nothing is read. Memos keep at most :data:`MEMO_LIMIT` entries each
    (the oldest half goes, after a flush). The runner calls ``discard`` when a batch fails or
    the tables may have changed under it (another process moved the tracking row).
    """

    name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = ()
    #: Tables an earlier schema version of this read model had and this one has not: dropped
    #: when it is reset or rebuilt (:meth:`reset`).
    retired_tables: ClassVar[tuple[str, ...]] = ()
    #: Event type names this projection reads; empty means every event.
    topics: ClassVar[frozenset[str]] = frozenset()
    #: Relative cost of a rebuild of this read model, to share them among worker processes:
    #: CPU seconds per 100,000 events to rebuild it alone in one process, swap included,
    #: measured on the bench's city ledger (1,043,200 events; ``docs/performance.md``).
    rebuild_cost: ClassVar[float] = 1.0
    #: Builds its rows for a range of log positions by SQL inside the database
    #: (:meth:`apply_range`), without the events being fetched or decoded in Python.
    in_sql: ClassVar[bool] = False

    def __init__(self) -> None:
        self._buffers: dict[str, TableBuffer] = {}
        self._appenders: dict[str, Appender] = {}
        self._memos: dict[str, dict[Any, Any]] = {}
        #: The tables hold nothing the memos do not know (they started empty, none evicted).
        self.complete = False
        #: The tracked position the memos match (``None``: unknown, they are empty).
        self.synced: int | None = None
        #: Held while a batch is applied: threads of one process share projection instances.
        self.lock = threading.Lock()

    def buffer(self, table: Table, key: tuple[str, ...] | None = None) -> TableBuffer:
        """The write buffer of *table* (rows addressed by *key*, default the primary key)."""
        buf = self._buffers.get(table.name)
        if buf is None:
            buf = self._buffers[table.name] = TableBuffer(table, key)
        return buf

    def appender(self, table: Table, columns: tuple[str, ...]) -> Appender:
        """The insert-only buffer of *table*: rows as tuples of *columns* (see
        :class:`~ledger.projections.sql.Appender`)."""
        app = self._appenders.get(table.name)
        if app is None:
            app = self._appenders[table.name] = Appender(table, columns)
        return app

    def memo(self, name: str) -> dict[Any, Any]:
        """A named dictionary of working state (see the class docstring)."""
        m = self._memos.get(name)
        if m is None:
            m = self._memos[name] = {}
        return m

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        """Apply one event (inside the batch's transaction; writes go to the buffers)."""
        raise NotImplementedError

    def apply_range(self, conn: Connection, source: str, after: int, upto: int) -> None:
        """Write the rows of every event with ``after < position <= upto`` by SQL (an
        ``in_sql`` projection; inside the batch's transaction). *source* is the events
        table's name as *conn* reaches it (qualified when it lives in another space)."""
        raise NotImplementedError

    def flush(self, conn: Connection) -> None:
        """Send the buffered writes (called once per batch, before the batch commits)."""
        for app in self._appenders.values():
            app.flush(conn)
        for buf in self._buffers.values():
            buf.flush(conn)
        for m in self._memos.values():
            if len(m) > MEMO_LIMIT:
                for key in list(islice(m, len(m) - MEMO_LIMIT // 2)):
                    del m[key]
                self.complete = False

    def discard(self) -> None:
        """Forget buffered writes and working state (the tables are the truth again)."""
        for buf in self._buffers.values():
            buf.clear()
        for app in self._appenders.values():
            app.clear()
        self._memos.clear()
        self.complete = False
        self.synced = None

    def start_empty(self) -> None:
        """The tables have just been emptied or created: nothing needs reading back."""
        self.discard()
        self.complete = True
        self.synced = 0

    def reset(self, conn: Connection, *, reshape: bool = False) -> None:
        """Empty the tables (children first). With *reshape* (the tracked schema version is
        another), drop them and create them afresh from their definitions instead, so that
        a read model whose tables changed shape (a column added, say) gets its new tables on
        a ledger of an earlier release; drop its :attr:`retired_tables` too."""
        if not reshape:
            for table in reversed(self.tables):
                conn.execute(delete(table))
            self.start_empty()
            return
        for name in self.dropped_tables():
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        for table in self.tables:
            table.create(conn)
        self.start_empty()

    def dropped_tables(self) -> list[str]:
        """The tables to drop before this read model's tables are made afresh, in order: its
        own (children first), then its :attr:`retired_tables`."""
        return [*(t.name for t in reversed(self.tables)), *self.retired_tables]


#: Entries kept per memo dictionary across batches (bounded memory during a long rebuild).
MEMO_LIMIT = 20_000


def position(conn: Connection, name: str, *, lock: bool = False) -> tuple[int, int] | None:
    """The (position, schema_version) tracked for projection *name*."""
    q = select(projection_tracking.c.position, projection_tracking.c.schema_version).where(
        projection_tracking.c.name == name
    )
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).first()
    return (int(row[0]), int(row[1])) if row else None


def batch_size() -> int:
    """Events per projection transaction (``LEDGER_PROJECTION_BATCH``, default 1000)."""
    return max(1, int(os.environ.get("LEDGER_PROJECTION_BATCH") or 1000))


def rebuild_batch_size() -> int:
    """Events per transaction of a rebuild (``LEDGER_PROJECTION_BATCH`` if set, else 10,000).

    A rebuild writes into tables nobody reads until the swap, so its batches can be large.
    """
    return max(1, int(os.environ.get("LEDGER_PROJECTION_BATCH") or 10_000))


class Router:
    """Which of several projections read each event type, and which types any of them read.

    Projections built by SQL (``in_sql``) are handed a range of positions instead of events
    when the caller reads its pages with :meth:`read` and passes their *span* to
    :meth:`apply`: the types fetched and decoded are then those of the others only. A caller
    that reads pages itself (``types``) and hands over events without a span gets every
    projection applied event by event, those built by SQL through their ``apply``.
    """

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.projections = list(projections)
        self.sql = [p for p in self.projections if p.in_sql]
        evented = [p for p in self.projections if not p.in_sql]
        self._evented = evented
        self._routes: dict[str, list[Projection]] = {}
        self._evented_routes: dict[str, list[Projection]] = {}
        #: The event types every projection reads, event by event (``None``: all).
        self.types: frozenset[str] | None = _types_of(self.projections)
        #: The event types :meth:`read` fetches and decodes (those built by SQL read the log
        #: themselves).
        self.page_types: frozenset[str] | None = _types_of(evented)

    def route(self, event_type: str) -> list[Projection]:
        """The projections that read *event_type*, in the order given."""
        got = self._routes.get(event_type)
        if got is None:
            got = self._routes[event_type] = [
                p for p in self.projections if not p.topics or event_type in p.topics]
        return got

    def _route_evented(self, event_type: str) -> list[Projection]:
        got = self._evented_routes.get(event_type)
        if got is None:
            got = self._evented_routes[event_type] = [
                p for p in self._evented if not p.topics or event_type in p.topics]
        return got

    def read(self, conn: Connection, table: Table, after: int, batch: int,
             stop: int | None = None) -> tuple[list[LoggedEvent], int, bool]:
        """The next page for these projections: (events, position it reaches, whether it
        reached the end of the log or *stop*).

        With projections built by SQL and the others reading only some types, a page spans
        at most *batch* positions (the SQL ones write a row per position at most), not
        *batch* events of those types.
        """
        if not self.sql or self.page_types is None:
            events, read, new_pos = read_log_page(conn, table, None, after, batch, stop,
                                                  self.page_types)
            return events, new_pos, read < batch
        cap = after + batch if stop is None else min(stop, after + batch)
        top = int(conn.execute(head_query(table)).scalar() or 0)
        end = top if stop is None else min(stop, top)
        if not self._evented:
            new_pos = max(after, min(cap, end))
            return [], new_pos, new_pos >= end
        events, read, new_pos = read_log_page(conn, table, None, after, batch, cap,
                                              self.page_types)
        return events, new_pos, read < batch and new_pos >= end

    def apply(self, conn: Connection, events: list[LoggedEvent],
              after: dict[str, int] | None = None, *, span: tuple[int, int] | None = None,
              source: str = "") -> None:
        """Hand each event to every projection that reads it (and, with *after*, has not yet
        applied it), then flush every projection. With *span* (start, end), the page read by
        :meth:`read`, those built by SQL are handed the range instead (from their own
        position with *after*); without it they apply the events one by one."""
        route = self.route if span is None else self._route_evented
        for ev in events:
            for p in route(ev.type):
                if after is None or ev.position > after[p.name]:
                    p.apply(conn, ev)
        if self.sql and span is not None:
            for p in self.sql:
                lo = span[0] if after is None else max(span[0], after[p.name])
                if span[1] > lo:
                    p.apply_range(conn, source, lo, span[1])
        for p in self.projections:
            p.flush(conn)

    def discard(self) -> None:
        """Forget every projection's buffers and working state."""
        for p in self.projections:
            p.discard()


def _types_of(projections: Sequence[Projection]) -> frozenset[str] | None:
    """The event types *projections* read (``None``: every type, one of them reads all)."""
    if any(not p.topics for p in projections):
        return None
    return frozenset().union(*(p.topics for p in projections))


def catch_up(ledger: GovernanceLedger, projection: Projection, batch: int | None = None,
             stop: int | None = None) -> int:
    """Apply every event after the tracked position; return how far the position moved
    (the events read, and those of other types passed over)."""
    return catch_up_many(ledger, [projection], batch, stop)


def catch_up_many(ledger: GovernanceLedger, projections: Sequence[Projection],
                  batch: int | None = None, stop: int | None = None) -> int:
    """Catch several projections up in one pass over the log; return how far the lowest
    tracked position moved (events read, and those no projection reads passed over).

    Each batch reads the log once from the lowest tracked position, hands every event to the
    projections that read it and are behind it, and moves every projection's tracking row in
    the same transaction as its rows. Tracking rows are locked in name order.
    """
    if not projections:
        return 0
    engine = ledger.engine
    batch = batch or batch_size()
    ordered = sorted(projections, key=lambda p: p.name)
    router = Router(ordered)
    total = 0
    while True:
        after: dict[str, int] = {}
        # One batch at a time per projection instance in this process (threads share them).
        with ExitStack() as held:
            for p in ordered:
                held.enter_context(p.lock)
            with write_intent(), engine.begin() as conn:
                try:
                    for p in ordered:
                        tracked = position(conn, p.name, lock=True)
                        if tracked is None:
                            # Never tracked here: its tables, if any, may have the shape of
                            # an earlier release (a ledger written before tracking rows).
                            conn.execute(insert(projection_tracking).values(
                                name=p.name, position=0, schema_version=p.schema_version))
                            p.reset(conn, reshape=True)
                            tracked = (0, p.schema_version)
                        pos, version = tracked
                        if p.synced != pos:  # another process moved it: reread the tables
                            p.discard()
                        if version != p.schema_version:
                            p.reset(conn, reshape=True)
                            pos = 0
                        after[p.name] = pos
                    start = min(after.values())
                    # Only the events some projection reads are decoded; others are skipped.
                    events, new_pos, done = router.read(conn, ledger.events_table, start,
                                                        batch, stop)
                    with gc_paused():  # acyclic rows and working state
                        router.apply(conn, events, after if len(ordered) > 1 else None,
                                     span=(start, new_pos), source=ledger.events_table.name)
                    for p in ordered:
                        conn.execute(update(projection_tracking)
                                     .where(projection_tracking.c.name == p.name)
                                     .values(position=max(after[p.name], new_pos),
                                             schema_version=p.schema_version))
                        p.synced = None  # unknown until the commit succeeds
                except BaseException:
                    router.discard()
                    raise
            for p in ordered:
                p.synced = max(after[p.name], new_pos)
        total += new_pos - start
        if done:
            return total


def rebuild(ledger: GovernanceLedger, projection: Projection, batch: int | None = None) -> int:
    """Replay the whole log into new tables and swap them in; return the events read."""
    return rebuild_many(ledger, [projection], batch)[projection.name]


def rebuild_many(ledger: GovernanceLedger, projections: Sequence[Projection],
                 batch: int | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    """Rebuild several projections in one pass over the log; return the events read by each.

    The log is read and decoded once; every event goes to each projection that reads it. An
    in-memory SQLite database has no room for shadow tables: there the tables are emptied and
    replayed in place. *progress* is told how far the rebuild is
    (:data:`ledger.projections.runner.RebuildProgress`; in memory, only the end).
    """
    from ledger.projections.runner import can_swap, rebuild_swapped

    if not projections:
        return {}
    batch = batch or rebuild_batch_size()
    if can_swap(ledger):
        read = rebuild_swapped(ledger, projections, batch, progress=progress)
    else:
        with ExitStack() as held:
            for p in sorted(projections, key=lambda p: p.name):
                held.enter_context(p.lock)
            with write_intent(), ledger.engine.begin() as conn:
                for p in projections:
                    p.reset(conn, reshape=True)
                    conn.execute(delete(projection_tracking)
                                 .where(projection_tracking.c.name == p.name))
                    p.synced = None
        read = catch_up_many(ledger, projections, batch)
        if progress is not None:
            progress("build", read, read)
            progress("swap", 1, 1)
    return {p.name: read for p in projections}
