"""Waking SSE streams when events are written: one notifier per server, fanned out to every
stream.

On PostgreSQL the library sends ``NOTIFY <events table>`` in every write transaction; one
thread per server LISTENs and wakes every waiting stream, and wakes them all every
``PUSH_FALLBACK`` seconds in case a notification was lost (or a checkpoint was signed). On
SQLite there is no push: one watcher task per server reads the log's head and latest
checkpoint (backing off from 20 ms to 1 s while nothing changes) and wakes every stream when
either changes. A waiting stream costs nothing
but its heartbeat; it always re-reads the log when woken, so a lost wake-up delays an event
but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
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
    #: streams open now
    listeners = 0

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Count a stream as waiting for as long as it is open."""
        self.listeners += 1
        try:
            yield
        finally:
            self.listeners -= 1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin delivering wake-ups on *loop*."""

    def stop(self) -> None:
        """Stop delivering wake-ups."""

    def token(self) -> asyncio.Event:
        """An event set by the next wake-up (take it BEFORE reading the log)."""
        return asyncio.Event()



class PollingWaker(Waker):
    """SQLite: one watcher task reads *probe* (the head and the latest checkpoint) with
    backoff (20 ms doubling to 1 s while nothing changes) and wakes every stream on a change."""

    def __init__(self, probe: Callable[[], Any]) -> None:
        self.probe = probe
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._event = asyncio.Event()
        self._task = loop.create_task(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def token(self) -> asyncio.Event:
        if self._event is None:  # pragma: no cover - start() runs in the app's lifespan
            return asyncio.Event()
        return self._event

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        if event is not None:
            event.set()

    async def _watch(self) -> None:
        from starlette.concurrency import run_in_threadpool

        # Always looking (at most once a second while idle, one small query), so the watcher
        # knows the log's state from before any stream's read: a stream that read just before
        # a write is always woken by the look that sees it.
        last: Any = None
        idle = 0
        while True:
            try:
                seen = await run_in_threadpool(self.probe)
            except Exception as e:  # noqa: BLE001 - keep watching through any database error
                log.warning("feed.watch", error=type(e).__name__)
                seen = None
            if seen is None:  # a failed look: let the streams re-read, and back off
                self._fire()
                idle += 1
            elif seen != last:  # a change (or the first look, at startup)
                self._fire()
                last = seen
                idle = 0
            else:
                idle += 1
            await asyncio.sleep(min(POLL_MAX, POLL_MIN * (2 ** min(idle, 10))))


class PgNotifyWaker(Waker):
    """PostgreSQL: LISTEN on the events table's channel in a thread; wake every stream."""

    push = True

    def __init__(self, engine: Engine, channel: str,
                 probe: Callable[[], Any] | None = None) -> None:
        self.engine = engine
        self.channel = channel
        self.probe = probe
        self._seen: Any = None
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
                    woke = time.monotonic()
                    while not self._stopped.is_set():
                        got = False
                        for _n in driver.notifies(timeout=0.2):
                            got = True
                            break
                        if got:
                            self._wake()
                            woke = time.monotonic()
                        elif time.monotonic() - woke >= PUSH_FALLBACK:
                            # one look at the log for all streams: a lost notification or a
                            # new checkpoint is seen within PUSH_FALLBACK seconds, and idle
                            # streams are not woken for nothing
                            self._wake_if_changed()
                            woke = time.monotonic()
                finally:
                    with contextlib.suppress(Exception):
                        raw.invalidate()
            except Exception as e:  # noqa: BLE001 - keep listening through any database error
                log.warning("feed.listen", error=type(e).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _wake_if_changed(self) -> None:
        """The periodic look (whether or not streams wait, so the last state is always
        known): wake the streams only if the log's head or checkpoint changed."""
        if self.probe is None:
            self._wake()
            return
        try:
            seen = self.probe()
        except Exception as e:  # noqa: BLE001 - a failed look wakes the streams, who re-read
            log.warning("feed.watch", error=type(e).__name__)
            seen = None
        if seen is None or (self._seen is not None and seen != self._seen):
            self._wake()
        self._seen = seen

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._fire)


def waker_for(engine: Engine, channel: str, probe: Callable[[], Any]) -> Waker:
    """The right waker for the database behind *engine*; *probe* reads what a change of the
    log looks like (for the SQLite watcher)."""
    if engine.dialect.name == "postgresql":
        return PgNotifyWaker(engine, channel, probe)
    return PollingWaker(probe)
