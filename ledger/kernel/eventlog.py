"""Reading the global event log: stored records decoded into :class:`LoggedEvent`.

The log is the library's events table; its autoincrement ``id`` is the notification id (the
position in log order). Readers tolerate gaps in ids (rolled-back inserts on PostgreSQL).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from sqlalchemy import Connection, Table, func, select

from ledger.kernel.store import id_param, placeholder
from ledger.kernel.transcoder import loads

_UNSET: Any = object()


class LoggedEvent:
    """One event as read back from the log, in the ledger's public shape.

    Decoded lazily: the stored JSON is parsed the first time ``data``, ``envelope`` or
    ``recorded_at`` is read, and not at all by a reader that needs only the position, the
    aggregate, the version or the type (a projection skipping an event, the feed's filters,
    the verifier). Once parsed, the fields are kept; an event is not changed after it is read.
    """

    __slots__ = (
        "_data",
        "_envelope",
        "_recorded_at",
        "_recorded_iso",
        "aggregate_id",
        "position",
        "state",
        "topic",
        "type",
        "version",
    )

    position: int
    """Notification id: the event's position in the global log (gaps possible)."""
    aggregate_id: UUID
    version: int
    type: str
    """Public type name: ``<Aggregate>.<Event>``, e.g. ``Community.PostAppointed``."""
    topic: str
    state: bytes

    def __init__(self, position: int, aggregate_id: UUID, version: int, type: str,
                 recorded_at: datetime | None = None, data: dict[str, Any] | None = None,
                 envelope: dict[str, Any] | None = None, topic: str = "",
                 state: bytes = b"") -> None:
        self.position = position
        self.aggregate_id = aggregate_id
        self.version = version
        self.type = type
        self.topic = topic
        self.state = state
        if recorded_at is None and data is None and envelope is None:
            self._data = _UNSET
            self._envelope = _UNSET
            self._recorded_at = _UNSET
            self._recorded_iso = _UNSET
        else:
            self._data = {} if data is None else data
            self._envelope = {} if envelope is None else envelope
            self._recorded_at = recorded_at
            self._recorded_iso = None

    def _parse(self) -> None:
        state = self.state
        obj = loads(state)
        if state.count(b'"_type_"') > 1:
            obj = _unwrap(obj)
        ts = obj.pop("timestamp")
        if ts.__class__ is dict:  # the library's wrapper: kept as written, parsed when read
            self._recorded_iso = ts["_data_"]
            self._recorded_at = None
        elif isinstance(ts, datetime):
            self._recorded_at, self._recorded_iso = ts, None
        else:
            self._recorded_iso, self._recorded_at = ts, None
        obj.pop("originator_topic", None)
        obj.pop("originator_id", None)
        obj.pop("originator_version", None)
        self._envelope = obj.pop("envelope", None) or {}
        self._data = obj

    @property
    def data(self) -> dict[str, Any]:
        """The event's own fields (without the envelope)."""
        if self._data is _UNSET:
            self._parse()
        return self._data  # type: ignore[no-any-return]

    @property
    def envelope(self) -> dict[str, Any]:
        """The audit envelope: actor, post, basis, occurred_at, command_id, command, authority."""
        if self._envelope is _UNSET:
            self._parse()
        return self._envelope  # type: ignore[no-any-return]

    @property
    def recorded_at(self) -> datetime:
        """When the ledger recorded it (the library's timestamp, UTC)."""
        if self._recorded_at is _UNSET:
            self._parse()
        if self._recorded_at is None:
            self._recorded_at = datetime.fromisoformat(self._recorded_iso)
        return self._recorded_at  # type: ignore[no-any-return]

    @property
    def recorded_iso(self) -> str:
        """``recorded_at.isoformat()``, without making the datetime when the log holds the
        text (it holds what ``isoformat`` wrote)."""
        if self._recorded_at is _UNSET:
            self._parse()
        if self._recorded_iso is None:
            return self.recorded_at.isoformat()
        return self._recorded_iso  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LoggedEvent):
            return NotImplemented
        return (self.position, self.aggregate_id, self.version, self.type, self.topic,
                self.state, self.recorded_at, self.data, self.envelope) == (
            other.position, other.aggregate_id, other.version, other.type, other.topic,
            other.state, other.recorded_at, other.data, other.envelope)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"LoggedEvent(position={self.position!r}, aggregate_id={self.aggregate_id!r}, "
                f"version={self.version!r}, type={self.type!r})")

    def public(self) -> dict[str, Any]:
        """The event in the stable public JSON shape (schema ``ledger-event/1``)."""
        return {
            "position": self.position,
            "aggregate_id": str(self.aggregate_id),
            "version": self.version,
            "type": self.type,
            "recorded_at": self.recorded_at.isoformat(),
            "envelope": self.envelope,
            "data": self.data,
        }


def decode(mapper: Mapper[UUID] | None, position: int, originator_id: UUID, version: int,
           topic: str, state: bytes) -> LoggedEvent:
    """One stored record as a :class:`LoggedEvent`, its JSON parsed when first read.

    Payloads hold JSON values only; the library's own wrappers (``{"_type_": …,
    "_data_": …}`` for the timestamp, and for any UUID, Decimal or datetime) are unwrapped.
    *mapper* is accepted for callers that have one; it is not needed.
    """
    return LoggedEvent(position, originator_id, version, _type_name(topic), topic=topic,
                       state=state)


@lru_cache(maxsize=4096)
def _type_name(topic: str) -> str:
    """``ledger.aggregates.town:Town.Registered`` → ``Town.Registered``."""
    return topic.rpartition(":")[2]


_UNWRAP: dict[str, Any] = {
    "datetime_iso": datetime.fromisoformat,
    "uuid_hex": UUID,
    "decimal_str": Decimal,
}


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"} and value["_type_"] in _UNWRAP:
            return _UNWRAP[value["_type_"]](_unwrap(value["_data_"]))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def type_of_topic(table: Table, dialect: str) -> Any:
    """SQL for the public type name of a stored event (the topic after its ``:``)."""
    topic = table.c.topic
    if dialect == "postgresql":
        return func.split_part(topic, ":", 2)
    return func.substr(topic, func.instr(topic, ":") + 1)


@lru_cache(maxsize=16)
def head_query(table: Table) -> Any:
    return select(func.max(table.c.id))


@lru_cache(maxsize=64)
def _sorted_types(types: frozenset[str]) -> list[str]:
    return sorted(types)


#: Originator ids already converted (a log has far fewer aggregates than events).
_UUIDS: dict[Any, UUID] = {}


def _uuid(value: Any) -> UUID:
    """An originator id as the driver returned it, as a UUID."""
    found = _UUIDS.get(value) if isinstance(value, bytes) else None
    if found is not None:
        return found
    if isinstance(value, UUID):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        found = UUID(bytes=bytes(value))
        if len(_UUIDS) >= 20_000:
            _UUIDS.clear()
        _UUIDS[bytes(value)] = found
        return found
    return UUID(str(value))


def _page_sql(table: str, dialect: str, bounded: bool, types: int) -> str:
    """The driver-level page query: rows after a position (up to a bound), of some types."""
    mark = "?" if dialect == "sqlite" else "%s"
    where = [f"id > {mark}"]
    if bounded:
        where.append(f"id <= {mark}")
    if types:
        if dialect == "postgresql":
            where.append(f"split_part(topic, ':', 2) = ANY({mark})")
        else:
            where.append("substr(topic, instr(topic, ':') + 1) IN "
                         f"({', '.join([mark] * types)})")
    return (f"SELECT id, originator_id, originator_version, topic, state FROM {table} "
            f"WHERE {' AND '.join(where)} ORDER BY id LIMIT {mark}")


_PAGE_SQL: dict[tuple[str, str, bool, int], str] = {}


def _fetch_page(conn: Connection, table: Table, after: int, limit: int, stop: int | None,
                types: list[str] | None) -> list[Any]:
    """The rows of a page, read through the driver's cursor (no SQLAlchemy row objects)."""
    dialect = conn.dialect.name
    key = (table.name, dialect, stop is not None, len(types) if types else 0)
    sql = _PAGE_SQL.get(key)
    if sql is None:
        sql = _PAGE_SQL[key] = _page_sql(*key)
    params: list[Any] = [after]
    if stop is not None:
        params.append(stop)
    if types:
        if dialect == "postgresql":
            params.append(types)
        else:
            params.extend(types)
    params.append(limit)
    cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, params)
        rows: list[Any] = cur.fetchall()
    finally:
        cur.close()
    return rows


def _events(rows: list[Any], parse: bool) -> list[LoggedEvent]:
    """The rows as events; with *parse*, their JSON parsed now, with the garbage collector
    paused: when a page's reader reads nearly every event's fields (a projection), parsing the
    page in one go without the collections its dictionaries would trigger costs about a third
    less than one by one."""
    uuid_of, known, type_of, event = _uuid, _UUIDS.get, _type_name, LoggedEvent
    out = [event(position, (agg.__class__ is bytes and known(agg)) or uuid_of(agg), version,
                 type_of(topic), topic=topic,
                 state=state if state.__class__ is bytes else bytes(state))
           for position, agg, version, topic, state in rows]
    if parse:
        with gc_paused():
            for ev in out:
                ev._parse()
    return out


def read_log_page(conn: Connection, table: Table, mapper: Mapper[UUID] | None, after: int,
                  limit: int, stop: int | None = None, types: frozenset[str] | None = None,
                  parse: bool = True) -> tuple[list[LoggedEvent], int, int]:
    """Like :func:`read_log`, only events whose type is in *types* (all if empty or None).

    Returns (events, rows fetched, position the page reaches). With *types*, the database
    filters the rows and the page reaches either its last event (when *limit* rows came
    back: there may be more) or the head of the log as it was when the page was read (or
    *stop*): a caller continues from there without reading the events of other types, and
    knows it has read everything when fewer than *limit* rows came back. With *parse*
    (the default) every event's JSON is parsed before returning, else when first read.
    """
    if types:
        top = conn.execute(head_query(table)).scalar()
        bound = int(top or 0) if stop is None else min(stop, int(top or 0))
        if bound <= after:
            return [], 0, after
        rows = _fetch_page(conn, table, after, limit, bound, _sorted_types(types))
        return (_events(rows, parse), len(rows),
                int(rows[-1][0]) if len(rows) == limit else bound)
    rows = _fetch_page(conn, table, after, limit, stop, None)
    if not rows:
        return [], 0, after
    return _events(rows, parse), len(rows), int(rows[-1][0])


def read_log(conn: Connection, table: Table, mapper: Mapper[UUID] | None, after: int,
             limit: int, stop: int | None = None, parse: bool = True) -> list[LoggedEvent]:
    """Up to *limit* events with position > *after* (and <= *stop*), in log order."""
    return read_log_page(conn, table, mapper, after, limit, stop, parse=parse)[0]


def iter_log(conn: Connection, table: Table, mapper: Mapper[UUID] | None, after: int = 0,
             batch: int = 2000, stop: int | None = None, parse: bool = False,
             ) -> Iterator[LoggedEvent]:
    """Stream the log from *after* without holding it in memory.

    Lazily decoded unless *parse*: position, aggregate, version and type come from the row's
    columns; an event's JSON is parsed when its ``data``, ``envelope`` or ``recorded_at`` is
    first read (with *parse*, a page at a time, see :func:`read_log_page`).
    """
    while True:
        page = read_log(conn, table, mapper, after, batch, stop, parse)
        if not page:
            return
        yield from page
        after = page[-1].position


@contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while building many acyclic objects (decoded
    JSON): otherwise each of the collections their allocation triggers walks every object the
    process holds, which in a long-running process costs more than the decoding."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_aggregate(conn: Connection, table: Table, mapper: Mapper[UUID], aggregate_id: UUID,
                   ) -> Sequence[LoggedEvent]:
    """Every event of one aggregate, oldest first, with its log position.

    Read through the driver's cursor (no SQLAlchemy rows or UUID conversion: every row has
    *aggregate_id*), decoded by :func:`decode` with the garbage collector paused.
    """
    mark = placeholder(conn)
    cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(f"SELECT id, originator_version, topic, state FROM {table.name} "
                    f"WHERE originator_id = {mark} ORDER BY originator_version",
                    (id_param(conn, aggregate_id),))
        rows = cur.fetchall()
    finally:
        cur.close()
    with gc_paused():
        return [decode(mapper, position, aggregate_id, version, topic,
                       stored if stored.__class__ is bytes else bytes(stored))
                for position, version, topic, stored in rows]
