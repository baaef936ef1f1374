"""Follow a ledger feed and process every event exactly once, in order.

The subscriber keeps its position in its OWN SQLite database, in a table
``feed_subscriptions``, and hands each event to your handler inside the same transaction
that advances the position. Either both the handler's writes and the new position commit,
or neither does; after a crash (even ``kill -9``) it resumes after the last committed event,
so each event takes effect exactly once::

    from ledger.feed.client import Subscriber

    def mirror(db, event):
        db.execute("INSERT INTO appointments VALUES (?, ?)",
                   (event["position"], event["data"]["person"]))

    sub = Subscriber("http://127.0.0.1:8080", "mirror.db", types=["Community.PostAppointed"])
    sub.db.execute("CREATE TABLE IF NOT EXISTS appointments (position INTEGER, person TEXT)")
    sub.run(mirror)          # pages to catch up, then Server-Sent Events; Ctrl-C stops

The handler must do all its work through the connection it is given (and must not commit).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

Event = dict[str, Any]
Handler = Callable[[sqlite3.Connection, Event], None]


class FeedError(Exception):
    """Raised when the feed answers with an error the subscriber cannot retry (4xx)."""


@dataclass
class Progress:
    """What one call of :meth:`Subscriber.poll` did."""

    delivered: int
    position: int
    has_more: bool


class Subscriber:
    """Follows a feed URL; see the module docstring."""

    def __init__(self, feed_url: str, db_path: str | Path, *, name: str = "default",
                 types: Sequence[str] = (), aggregate: str | None = None,
                 token: str | None = None, page_size: int = 500, stream: bool = True,
                 synchronous: str = "FULL", timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous={synchronous!r}: use OFF, NORMAL, FULL or EXTRA")
        self.feed_url = feed_url.rstrip("/")
        self.name = name
        self.types = list(types)
        self.aggregate = aggregate
        self.page_size = page_size
        self.stream = stream
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.feed_url, headers=headers, transport=transport,
                                 timeout=httpx.Timeout(timeout, connect=5.0))
        self.db = sqlite3.connect(str(db_path), isolation_level=None, timeout=60,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(f"PRAGMA synchronous = {synchronous}")
        self.db.execute("CREATE TABLE IF NOT EXISTS feed_subscriptions ("
                        "name TEXT PRIMARY KEY, feed TEXT NOT NULL, "
                        "position INTEGER NOT NULL, updated_at REAL NOT NULL)")

    # ------------------------------------------------------------------ position
    def position(self) -> int:
        """The position of the last event processed (0: none yet)."""
        row = self.db.execute("SELECT position FROM feed_subscriptions WHERE name = ?",
                              (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.types:
            params["types"] = ",".join(self.types)
        if self.aggregate:
            params["aggregate"] = self.aggregate
        return params

    def process(self, events: Sequence[Event], handler: Handler, *,
                through: int | None = None) -> int:
        """Hand *events* to *handler* and advance the position, in one transaction.

        Events at or before the stored position are skipped (already processed). *through*
        moves the position further (past events a filter left out). Returns how many were
        handed over.
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            pos = self.position()
            done = 0
            for event in events:
                if int(event["position"]) <= pos:
                    continue
                handler(db, event)
                pos = int(event["position"])
                done += 1
            if through is not None:
                pos = max(pos, through)
            db.execute(
                "INSERT INTO feed_subscriptions (name, feed, position, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "position = excluded.position, updated_at = excluded.updated_at",
                (self.name, self.feed_url, pos, time.time()))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return done

    # ------------------------------------------------------------------ pages
    def _get(self, path: str, params: dict[str, Any],
             headers: dict[str, str] | None = None) -> httpx.Response:
        response = self.http.get(path, params=params, headers=headers)
        if 400 <= response.status_code < 500:
            raise FeedError(f"{path}: {response.status_code} {response.text[:300]}")
        response.raise_for_status()
        return response

    def poll(self, handler: Handler) -> Progress:
        """Fetch one page after the stored position and process it."""
        after = self.position()
        page = self._get("/events", {"after": after, "limit": self.page_size, **self._params()}
                         ).json()
        done = self.process(page["events"], handler, through=int(page["next_after"]))
        return Progress(done, self.position(), bool(page["has_more"]))

    def catch_up(self, handler: Handler) -> int:
        """Process pages until the head of the log; return how many events were handed over."""
        total = 0
        while True:
            progress = self.poll(handler)
            total += progress.delivered
            if not progress.has_more:
                return total

    # ------------------------------------------------------------------ stream
    def _sse(self, after: int) -> Iterator[Event | None]:
        """Events of ``/events/stream`` after *after*; None for each heartbeat."""
        headers = {"Last-Event-ID": str(after), "Accept": "text/event-stream"}
        with self.http.stream("GET", "/events/stream", params=self._params(),
                              headers=headers) as response:
            if 400 <= response.status_code < 500:
                response.read()
                raise FeedError(f"/events/stream: {response.status_code} "
                                f"{response.text[:300]}")
            response.raise_for_status()
            data: list[str] = []
            for line in response.iter_lines():
                if line == "":
                    if data:
                        yield json.loads("\n".join(data))
                        data = []
                elif line.startswith(":"):
                    yield None
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))

    def run(self, handler: Handler, *, stop: threading.Event | None = None,
            until: Callable[[], bool] | None = None) -> None:
        """Follow the feed until *stop* is set (or *until* returns true after a delivery).

        Catches up with pages, then follows the live stream (or keeps polling with
        ``stream=False``). Connection errors and 5xx answers are retried with backoff.
        """
        stop = stop or threading.Event()
        backoff = 0.05
        while not stop.is_set():
            try:
                if self.catch_up(handler):
                    backoff = 0.05
                if until is not None and until():
                    return
                if not self.stream:
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                for event in self._sse(self.position()):
                    if event is not None:
                        self.process([event], handler)
                        backoff = 0.05
                        if until is not None and until():
                            return
                    if stop.is_set():
                        return
            except (httpx.TransportError, httpx.HTTPStatusError):
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def close(self) -> None:
        """Close the HTTP client and the database."""
        self.http.close()
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
