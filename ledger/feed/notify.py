"""Waking SSE streams when events are written.

On PostgreSQL the library sends ``NOTIFY <events table>`` in every write transaction; one
thread per server LISTENs and wakes every waiting stream. On SQLite there is no push: streams
poll the log, backing off while it is idle. Both fall back to a periodic re-read, so a lost
notification delays an event but never loses it (the stream always re-reads the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import structlog
from sqlalchemy import Engine

log = structlog.get_logger("ledger.feed")

POLL_MIN = 0.02
POLL_MAX = 1.0
PUSH_FALLBACK = 5.0


class Waker:
    """Something a stream awaits between reads of the log."""

    push = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin delivering wake-ups on *loop*."""

    def stop(self) -> None:
        """Stop delivering wake-ups."""

    def token(self) -> asyncio.Event:
        """An event set by the next wake-up (take it BEFORE reading the log)."""
        return asyncio.Event()

    def next_wait(self, idle_rounds: int) -> float:
        """How long to wait after *idle_rounds* reads that found nothing."""
        return float(min(POLL_MAX, POLL_MIN * (2 ** min(idle_rounds, 10))))


class PollingWaker(Waker):
    """SQLite: no push; the stream re-reads with backoff (20 ms doubling to 1 s)."""


class PgNotifyWaker(Waker):
    """PostgreSQL: LISTEN on the events table's channel in a thread; wake every stream."""

    push = True

    def __init__(self, engine: Engine, channel: str) -> None:
        self.engine = engine
        self.channel = channel
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self._thread = threading.Thread(target=self._listen, name="ledger-feed-listen",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def token(self) -> asyncio.Event:
        if self._event is None:  # pragma: no cover - start() runs in the app's lifespan
            return asyncio.Event()
        return self._event

    def next_wait(self, idle_rounds: int) -> float:
        return PUSH_FALLBACK

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        if event is not None:
            event.set()

    def _listen(self) -> None:
        delay = 0.1
        while not self._stopped.is_set():
            try:
                raw: Any = self.engine.raw_connection()
                try:
                    driver = raw.driver_connection
                    driver.autocommit = True
                    driver.execute(f'LISTEN "{self.channel}"')
                    delay = 0.1
                    self._wake()  # catch up on anything written while not listening
                    while not self._stopped.is_set():
                        got = False
                        for _n in driver.notifies(timeout=0.2):
                            got = True
                            break
                        if got:
                            self._wake()
                finally:
                    with contextlib.suppress(Exception):
                        raw.invalidate()
            except Exception as e:  # noqa: BLE001 - keep listening through any database error
                log.warning("feed.listen", error=type(e).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._fire)


def waker_for(engine: Engine, channel: str) -> Waker:
    """The right waker for the database behind *engine*."""
    if engine.dialect.name == "postgresql":
        return PgNotifyWaker(engine, channel)
    return PollingWaker()
