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
from typing import TYPE_CHECKING, ClassVar, TypeVar

from sqlalchemy import Connection, Table, delete, insert, select, update

from ledger.eventlog import LoggedEvent, read_log
from ledger.store import projection_tracking, write_intent

if TYPE_CHECKING:
    from ledger.application import GovernanceLedger

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
    """One instance of every projection (importing this package's modules registers them)."""
    from ledger.commands import import_submodules

    import_submodules(__name__)
    return {name: cls() for name, cls in sorted(REGISTRY.items())}


class Projection:
    """Base of read models: a name, a schema version, tables, and ``apply``."""

    name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = ()
    #: Event type names this projection reads; empty means every event.
    topics: ClassVar[frozenset[str]] = frozenset()

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        """Apply one event to the tables (inside the batch's transaction)."""
        raise NotImplementedError

    def reset(self, conn: Connection) -> None:
        """Empty the tables (children first)."""
        for table in reversed(self.tables):
            conn.execute(delete(table))


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


def catch_up(ledger: GovernanceLedger, projection: Projection, batch: int | None = None,
             stop: int | None = None) -> int:
    """Apply every event after the tracked position; return how many were read."""
    engine = ledger.engine
    batch = batch or batch_size()
    total = 0
    while True:
        with write_intent(), engine.begin() as conn:
            tracked = position(conn, projection.name, lock=True)
            if tracked is None:
                conn.execute(insert(projection_tracking).values(
                    name=projection.name, position=0, schema_version=projection.schema_version))
                tracked = (0, projection.schema_version)
            pos, version = tracked
            if version != projection.schema_version:
                projection.reset(conn)
                pos = 0
            events = read_log(conn, ledger.events_table, ledger.mapper, pos, batch, stop)
            for ev in events:
                if not projection.topics or ev.type in projection.topics:
                    projection.apply(conn, ev)
            new_pos = events[-1].position if events else pos
            conn.execute(update(projection_tracking)
                         .where(projection_tracking.c.name == projection.name)
                         .values(position=new_pos, schema_version=projection.schema_version))
        total += len(events)
        if len(events) < batch:
            return total


def rebuild(ledger: GovernanceLedger, projection: Projection, batch: int | None = None) -> int:
    """Replay the whole log into new tables and swap them in; return the events read.

    An in-memory SQLite database has no room for shadow tables: there the tables are
    emptied and replayed in place.
    """
    from ledger.projections.runner import can_swap, rebuild_swapped

    if can_swap(ledger):
        return rebuild_swapped(ledger, projection, batch or batch_size())
    with write_intent(), ledger.engine.begin() as conn:
        projection.reset(conn)
        conn.execute(delete(projection_tracking)
                     .where(projection_tracking.c.name == projection.name))
    return catch_up(ledger, projection, batch)
