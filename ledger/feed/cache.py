"""Answers of read routes kept while the log does not change.

Every answer of the cached routes is a function of the log (events, and read models caught
up to the log inside the request), of the latest checkpoint and origin, and of the clock for
"as of now" views. An answer is kept with the **log marker** read before it was computed
(the head position, the latest checkpoint's size and the current origin, one small query)
and served again only while the marker is unchanged and for at most ``max_age`` seconds (the
clock's share). A write between the marker read and the computation can only make the kept
answer look older than it is, so the next request recomputes it.

Only ``200`` answers of ``GET`` on the routes of :data:`CACHED` are kept, at most
``max_entries`` of at most ``max_body`` bytes each (least recently used go first). The
middleware sits inside the gate: tokens, scopes and rates are checked before a kept answer
is served, and the access log and security headers apply to it as to any other.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Path prefixes whose GET answers are kept (not the stream, health, docs or discovery).
CACHED = ("/events", "/open311/v2/requests", "/open311/v2/bulk", "/open311/v2/services",
          "/status", "/communities", "/resolutions", "/meetings", "/firms", "/cases",
          "/warnings", "/matters", "/history", "/audit", "/checkpoints", "/proofs")
NOT_CACHED = ("/events/stream",)


@dataclass
class _Entry:
    marker: Any
    at: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: Any


def _weights(header: str) -> dict[str, float]:
    """The codings of an ``Accept-Encoding`` value with their weights (RFC 9110, 12.5.3):
    ``q`` from 0 to 1, 1 when absent; an entry whose weight does not parse is left out."""
    out: dict[str, float] = {}
    for part in header.lower().split(","):
        coding, *params = (x.strip() for x in part.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
                if not 0.0 <= q <= 1.0:  # NaN fails both
                    q = -1.0
        if q >= 0.0:
            out[coding] = max(q, out.get(coding, 0.0))
    return out


def content_coding(scope: Scope) -> str | None:
    """How to compress an answer for this request: ``"br"`` when the client ranks brotli
    above gzip (or accepts brotli only), ``"gzip"`` when it accepts gzip at least as much,
    ``None`` (not compressed) when it accepts neither. A tie goes to gzip: a kept page's
    events are compressed once for gzip (:class:`~ledger.feed.log.PageCache`), while brotli
    compresses every answer whole (its blocks cannot be spliced like deflate's)."""
    header = ""
    for name, value in scope.get("headers") or ():
        if name == b"accept-encoding":
            header += "," + value.decode("latin-1")
    if not header:
        return None
    weights = _weights(header)
    star = weights.get("*", 0.0)
    gzip, br = weights.get("gzip", star), weights.get("br", star)
    if br > gzip and br > 0 and brotli_available():
        return "br"
    return "gzip" if gzip > 0 else None


@lru_cache(maxsize=1)
def brotli_available() -> bool:
    """Whether the brotli codec can be imported (a dependency; an environment installed
    before it was one serves gzip only)."""
    try:
        import brotli  # noqa: F401
    except ImportError:  # pragma: no cover - installed with the ledger
        return False
    return True


def log_marker_sql(events_table: str) -> str:
    """One query for the marker: head, latest checkpoint size, current origin row."""
    return (f"SELECT (SELECT max(id) FROM {events_table}), "
            "(SELECT max(size) FROM ledger_checkpoints), "
            "(SELECT count(*) FROM ledger_checkpoints), "
            "(SELECT max(seq) FROM ledger_log_identity)")


class ResponseCache:
    """ASGI middleware keeping the answers of read routes while the log marker holds."""

    def __init__(self, app: ASGIApp, *, ledger: Any, max_age: float = 1.0,
                 max_entries: int = 512, max_body: int = 1 << 20) -> None:
        self.app = app
        self.ledger = ledger
        self.max_age = max_age
        self.max_entries = max_entries
        self.max_body = max_body
        self.entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self._sql = text(log_marker_sql(ledger.events_table.name))
        self._raw_sql = log_marker_sql(ledger.events_table.name)
        self._inline = ledger.engine.dialect.name == "sqlite"
        self._sqlite: sqlite3.Connection | None = None
        self.pending: dict[tuple[str, bytes], asyncio.Future[None]] = {}
        self.hits = 0
        self.misses = 0

    def _read_marker(self) -> Any:
        with self.ledger.engine.connect() as conn:
            return tuple(conn.execute(self._sql).one())

    def _read_marker_sqlite(self) -> Any:
        """The marker from SQLite through one connection of the event loop's own (each
        statement reads the latest committed state: autocommit, WAL)."""
        if self._sqlite is None:
            database = self.ledger.engine.url.database
            if not database or database == ":memory:":
                return self._read_marker()
            self._sqlite = sqlite3.connect(database, isolation_level=None,
                                           check_same_thread=False)
            self._sqlite.execute("PRAGMA busy_timeout = 5000")
        return tuple(self._sqlite.execute(self._raw_sql).fetchone())

    async def marker(self) -> Any:
        # SQLite answers this from its own file in microseconds: no thread hop; PostgreSQL
        # is a round trip, kept off the event loop.
        return self._read_marker_sqlite() if self._inline else await run_in_threadpool(
            self._read_marker)

    @staticmethod
    def cacheable(scope: Scope) -> bool:
        path: str = scope["path"]
        return (scope["method"] == "GET" and path.startswith(CACHED)
                and not path.startswith(NOT_CACHED))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.cacheable(scope):
            await self.app(scope, receive, send)
            return
        # Answers may be compressed for clients that accept it: kept apart from the others.
        coding = content_coding(scope)
        key = (scope["path"], scope.get("query_string", b"") +
               (b"\0" + coding.encode() if coding else b""))
        marker = await self.marker()
        if await self._serve_kept(key, marker, scope, send):
            return
        pending = self.pending.get(key)
        if pending is not None:
            # The same answer is being computed for another request: wait for it once.
            await asyncio.shield(pending)
            if await self._serve_kept(key, marker, scope, send):
                return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending[key] = done
        try:
            await self._compute(key, marker, scope, receive, send)
        finally:
            del self.pending[key]
            done.set_result(None)

    async def _serve_kept(self, key: tuple[str, bytes], marker: Any, scope: Scope,
                          send: Send) -> bool:
        entry = self.entries.get(key)
        if entry is None or entry.marker != marker or \
                time.monotonic() - entry.at >= self.max_age:
            return False
        self.entries.move_to_end(key)
        self.hits += 1
        scope["route"] = entry.route
        await send({"type": "http.response.start", "status": entry.status,
                    "headers": list(entry.headers)})
        await send({"type": "http.response.body", "body": entry.body})
        return True

    async def _compute(self, key: tuple[str, bytes], marker: Any, scope: Scope,
                       receive: Receive, send: Send) -> None:
        now = time.monotonic()
        self.misses += 1
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def capture(message: Message) -> None:
            nonlocal status, headers, size, keep
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                keep = status == 200
            elif message["type"] == "http.response.body" and keep:
                body = message.get("body", b"")
                size += len(body)
                if size > self.max_body:
                    keep = False
                    chunks.clear()
                else:
                    chunks.append(body)
            await send(message)

        await self.app(scope, receive, capture)
        if keep and status == 200:
            self.entries[key] = _Entry(marker, now, status, headers, b"".join(chunks),
                                       scope.get("route"))
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
