"""Pages of the global log for the feed: filtered by event type and aggregate, gap-tolerant.

Why a page never skips an event that commits late: on PostgreSQL the library takes
``LOCK TABLE … IN EXCLUSIVE MODE`` before inserting, so a transaction is given ids only
while it holds the lock and keeps it until it commits; ids are therefore committed in id
order, and once ``max(id)`` is visible every smaller id is either visible or rolled back
(a gap that will never fill). SQLite has one writer at a time. So a page read "after N, up
to the head seen first" is complete, and the next page can start at that head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, or_, select

from ledger.application import GovernanceLedger
from ledger.eventlog import LoggedEvent, decode

MAX_POSITION = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """Events after a cursor, the cursor for the next page, and the head of the log."""

    after: int
    events: list[LoggedEvent]
    next_after: int
    head: int
    has_more: bool

    def public(self) -> dict[str, Any]:
        from ledger.feed import PAGE_SCHEMA

        return {"schema": PAGE_SCHEMA, "after": self.after, "next_after": self.next_after,
                "head": self.head, "has_more": self.has_more,
                "events": [public_event(e) for e in self.events]}


def public_event(event: LoggedEvent) -> dict[str, Any]:
    """The event in schema ``ledger-event/1``."""
    from ledger.feed import EVENT_SCHEMA

    return {"schema": EVENT_SCHEMA, **event.public()}


def _like_suffix(type_name: str) -> str:
    """``Community.PostAppointed`` matches that type; ``PropertyFirm.*`` every PropertyFirm event."""
    wildcard = type_name.endswith(".*")
    name = type_name[:-1] if wildcard else type_name
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%:{escaped}%" if wildcard else f"%:{escaped}"


def head(conn: Connection, ledger: GovernanceLedger) -> int:
    """The last position in the log (0 when empty)."""
    value = conn.execute(select(func.max(ledger.events_table.c.id))).scalar()
    return int(value or 0)


def read_page(ledger: GovernanceLedger, after: int, limit: int,
              types: Sequence[str] = (), aggregate: UUID | None = None) -> Page:
    """Up to *limit* events after *after*, of *types* (all when empty) and *aggregate*."""
    table = ledger.events_table
    with ledger.engine.connect() as conn:
        top = head(conn, ledger)
        q = select(table.c.id, table.c.originator_id, table.c.originator_version,
                   table.c.topic, table.c.state).where(table.c.id > after, table.c.id <= top)
        if types:
            q = q.where(or_(*(table.c.topic.like(_like_suffix(t), escape="\\") for t in types)))
        if aggregate is not None:
            q = q.where(table.c.originator_id == aggregate)
        rows = conn.execute(q.order_by(table.c.id).limit(limit)).all()
    events = [decode(ledger.mapper, r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
    full = len(events) == limit and events[-1].position < top
    next_after = events[-1].position if full else max(top, after)
    return Page(after=after, events=events, next_after=next_after, head=top, has_more=full)
