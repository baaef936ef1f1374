"""Pages of the global log for the feed: filtered by event type and aggregate, gap-tolerant.

Why a page never skips an event that commits late: on PostgreSQL the library takes
``LOCK TABLE … IN EXCLUSIVE MODE`` before inserting, so a transaction is given ids only
while it holds the lock and keeps it until it commits; ids are therefore committed in id
order, and once ``max(id)`` is visible every smaller id is either visible or rolled back
(a gap that will never fill). SQLite has one writer at a time. So a page read "after N, up
to the head seen first" is complete, and the next page can start at that head.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Connection, func, or_, select

from ledger.application import GovernanceLedger
from ledger.feed import EVENT_SCHEMA
from ledger.integrity.canonical import event_record_v2
from ledger.kernel.eventlog import LoggedEvent, decode, read_log_page
from ledger.kernel.store import placeholder

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
    """The event in schema ``ledger-event/1`` (:meth:`LoggedEvent.public` with its schema)."""
    agg = _AGG.get(event.aggregate_id)
    if agg is None:
        if len(_AGG) > 50_000:
            _AGG.clear()
        agg = _AGG[event.aggregate_id] = str(event.aggregate_id)
    return {"schema": EVENT_SCHEMA, "position": event.position, "aggregate_id": agg,
            "version": event.version, "type": event.type, "recorded_at": event.recorded_iso,
            "envelope": event.envelope, "data": event.data}


#: Aggregate ids as text (a log has far fewer aggregates than events).
_AGG: dict[UUID, str] = {}


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
    if not types and aggregate is None:  # the whole log: the kernel's page reader
        with ledger.engine.connect() as conn:
            top = head(conn, ledger)
            if top <= after:
                events: list[LoggedEvent] = []
            else:
                events = read_log_page(conn, table, None, after, limit, stop=top)[0]
        full = len(events) == limit and events[-1].position < top
        next_after = events[-1].position if full else max(top, after)
        return Page(after=after, events=events, next_after=next_after, head=top,
                    has_more=full)
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


# ----------------------------------------------------------------------------- the log's state
def log_state(ledger: GovernanceLedger, conn: Connection | None = None) -> dict[str, Any]:
    """The log's ``origin`` and its latest signed ``checkpoint`` (size, root, signed note
    with any cosignatures, verifier key; ``None`` before the first under this origin), as
    every page, stream and proof answer carries them."""
    from ledger.integrity import sealer

    if conn is None:
        with ledger.engine.connect() as c:
            return log_state(ledger, c)
    origin = sealer.log_origin(ledger, conn)
    latest = sealer.latest_checkpoint(ledger, conn)
    if latest is not None and latest.origin != origin:
        latest = None  # signed under a previous origin: nothing is signed under this one yet
    checkpoint = None if latest is None else {
        "size": latest.size, "root": base64.b64encode(latest.root).decode("ascii"),
        "note": latest.note, "verifier_key": latest.verifier_key}
    return {"origin": origin, "checkpoint": checkpoint}


def leaf_records(ledger: GovernanceLedger, events: Sequence[LoggedEvent],
                 ) -> list[tuple[dict[str, Any] | None, str | None]]:
    """For each event: its leaf record (the canonical record its Merkle leaf is the hash of,
    format 2, or 1 for a leaf of an earlier release) and the stored leaf hash (base64).

    ``(None, None)`` for an event without a leaf. When the event no longer matches its leaf
    (its row, its command-log row or the leaf was altered), the record is the format-2 record
    of the event as stored now, served beside the stored leaf: a verifying reader hashes it
    and sees the difference itself.
    """
    from ledger.integrity import sealer
    from ledger.integrity.errors import RecordMismatchError
    from ledger.integrity.sqlstore import merkle_leaves, merkle_nodes
    from ledger.kernel.store import command_log

    if not events:
        return []
    ids = [e.position for e in events]
    leaves: dict[int, tuple[int, bytes | None]] = {}
    commands: dict[int, sealer.CommandRow] = {}
    with ledger.engine.connect() as conn:
        mark = placeholder(conn)
        for start in range(0, len(ids), 400):
            chunk = ids[start:start + 400]
            marks = ", ".join([mark] * len(chunk))
            for nid, pos, leaf in conn.exec_driver_sql(
                    f"SELECT l.notification_id, l.position, n.hash FROM {merkle_leaves.name} l "
                    f"LEFT OUTER JOIN {merkle_nodes.name} n ON n.level = 0 AND n.idx = l.position"
                    f" WHERE l.notification_id IN ({marks})", tuple(chunk)).all():
                leaves[int(nid)] = (int(pos), None if leaf is None else bytes(leaf))
            for found_row in conn.exec_driver_sql(
                    "SELECT command_id, type, actor, recorded_at, first_notification_id, "
                    f"last_notification_id, result FROM {command_log.name} "
                    f"WHERE first_notification_id IN ({marks})", tuple(chunk)).all():
                bound = sealer.CommandRow.of(tuple(found_row))
                if bound is not None:
                    commands[bound.first] = bound
    out: list[tuple[dict[str, Any] | None, str | None]] = []
    mapper = ledger.mapper
    for ev in events:
        found = leaves.get(ev.position)
        if found is None:
            out.append((None, None))
            continue
        position, stored = found
        row = sealer.EventRow(ev.position, str(ev.aggregate_id), ev.version, ev.topic, ev.state)
        command = commands.get(ev.position)
        try:
            record = sealer.leaf_record(position, row, command, stored, mapper)
        except RecordMismatchError:
            record = event_record_v2(**sealer.record_fields_v2(position, row, command, mapper))
        out.append((record, None if stored is None else base64.b64encode(stored).decode("ascii")))
    return out


def _dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON (as Starlette's JSONResponse writes it), by orjson; the standard
    library for what orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


#: Brotli's quality for pages: 4 compresses a page of 1,000 events (608 KB of JSON) to
#: 43 KB in about 3 ms, against 73 KB for gzip's level 1 (docs/performance.md); 5 takes
#: twice as long for 16 % less.
BROTLI_QUALITY = 4

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _deflate(data: bytes, last: bool) -> bytes:
    """*data* as raw deflate blocks of their own (no reference to anything before them),
    ending byte-aligned (``Z_SYNC_FLUSH``) or, when *last*, with the final block."""
    z = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z.compress(data) + z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_parts(parts: Sequence[tuple[bytes, bytes | None]]) -> bytes:
    """One gzip member of the concatenation of *parts*, each given as (bytes, its deflate
    blocks made by :func:`_deflate` or None): independent deflate blocks can follow one
    another, so a part compressed once (a cached page's events) is used as it is."""
    crc, size, out = 0, 0, [_GZIP_HEADER]
    for i, (data, blocks) in enumerate(parts):
        last = i == len(parts) - 1
        out.append(blocks if blocks is not None and not last else _deflate(data, last))
        crc = zlib.crc32(data, crc)
        size += len(data)
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


class PageCache:
    """The encoded events of full pages, by range: a page that is not the last (it has
    ``limit`` events and ends before the head) is made of committed events of the sealed,
    append-only log, so the same request always gets the same events; they are encoded once
    and kept (least recently used go first beyond *max_bytes*)."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()
        #: The events of a kept page as deflate blocks, made the first time one is asked for
        #: compressed.
        self.deflated: dict[tuple[Any, ...], bytes] = {}
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> tuple[int, bytes] | None:
        with self.lock:
            got = self.entries.get(key)
            if got is None:
                self.misses += 1
                return None
            self.entries.move_to_end(key)
            self.hits += 1
            return got

    def put(self, key: tuple[Any, ...], next_after: int, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return
        with self.lock:
            if key in self.entries:
                return
            self.entries[key] = (next_after, body)
            self.size += len(body)
            while self.size > self.max_bytes:
                k, (_n, old) = self.entries.popitem(last=False)
                self.size -= len(old) + len(self.deflated.pop(k, b""))


_CACHES: weakref.WeakKeyDictionary[GovernanceLedger, PageCache] = weakref.WeakKeyDictionary()


def page_cache(ledger: GovernanceLedger) -> PageCache:
    """The page cache of *ledger* (one per ledger object)."""
    cache = _CACHES.get(ledger)
    if cache is None:
        cache = _CACHES[ledger] = PageCache()
    return cache


def page_json(ledger: GovernanceLedger, after: int, limit: int, types: Sequence[str] = (),
              aggregate: UUID | None = None, *, records: bool = False,
              coding: str | None = None) -> bytes:
    """The body of ``GET /events`` (as :func:`public_page` of :func:`read_page` gives it),
    encoded, and compressed with *coding* (``"gzip"`` or ``"br"``) when given; the events
    of a full page come from the :class:`PageCache` once encoded (and, for gzip, once
    compressed)."""
    from ledger.feed import PAGE_SCHEMA

    key = (after, limit, tuple(types), aggregate, records)
    cache = page_cache(ledger)
    found = cache.get(key)
    if found is not None:
        with ledger.engine.connect() as conn:
            top = head(conn, ledger)
        next_after, events = found
        has_more = True
    else:
        page = read_page(ledger, after, limit, types, aggregate)
        body = [public_event(e) for e in page.events]
        if records:
            for event, (record, leaf) in zip(body, leaf_records(ledger, page.events),
                                             strict=True):
                event["record"] = record
                event["leaf_hash"] = leaf
        events = _dumps(body)
        top, next_after, has_more = page.head, page.next_after, page.has_more
        if has_more:
            cache.put(key, next_after, events)
    state = _dumps(log_state(ledger))
    prefix = b"".join((
        b'{"schema":', _dumps(PAGE_SCHEMA), b',"after":', str(after).encode(),
        b',"next_after":', str(next_after).encode(), b',"head":', str(top).encode(),
        b',"has_more":', b"true" if has_more else b"false", b',"events":'))
    suffix = b"," + state[1:]
    if coding is None:
        return b"".join((prefix, events, suffix))
    if coding == "br":
        import brotli

        return bytes(brotli.compress(b"".join((prefix, events, suffix)),
                                     quality=BROTLI_QUALITY))
    blocks = None
    if has_more:
        blocks = cache.deflated.get(key)
        if blocks is None:
            blocks = _deflate(events, last=False)
            with cache.lock:
                if key in cache.entries:
                    cache.deflated[key] = blocks
                    cache.size += len(blocks)
    return gzip_parts([(prefix, None), (events, blocks), (suffix, None)])


def public_page(ledger: GovernanceLedger, page: Page, *, records: bool = False,
                ) -> dict[str, Any]:
    """A page as served: the events, the log's origin and latest checkpoint, and with
    *records* each event's leaf record and stored leaf hash."""
    body = page.public()
    body.update(log_state(ledger))
    if records:
        for event, (record, leaf) in zip(body["events"], leaf_records(ledger, page.events),
                                         strict=True):
            event["record"] = record
            event["leaf_hash"] = leaf
    return body
