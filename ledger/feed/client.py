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

With ``verify=True`` the subscriber trusts neither the feed nor the ledger's database: it
reads every page with its leaf records (``/events?records=1``) and keeps, in the same
transaction as its position, the compact range of every leaf it has verified (from the
first) and the last checkpoint it accepted (table ``feed_verification``). A page's events are
handed on only once the log's origin is the one it follows, the checkpoint is signed by the
log's key (and cosigned by the witness quorum of ``witness_policy``) and is an append-only
extension of the one accepted before, every event is what its record holds, and the records
extend the verified leaves to a tree consistent with the checkpoint (RFC 9162 consistency
proofs). Events the latest checkpoint does not cover yet wait for the next one. Anything else
stops it with :class:`~ledger.feed.errors.FeedIntegrityError` (``kind`` names the check);
nothing is skipped silently::

    sub = Subscriber(url, "mirror.db", verify=True, log_key="zq-governance-ledger/ZQ/…+…+…")
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
from uuid import UUID

import httpx

from ledger.feed.errors import FeedError, FeedIntegrityError
from ledger.feed.verify import (
    CheckedCheckpoint,
    CompactRange,
    check_note,
    check_record,
    unb64,
)
from ledger.integrity.merkle import verify_consistency
from ledger.kernel.i18n import _
from ledger.kernel.transcoder import loads

__all__ = ["Event", "FeedError", "FeedIntegrityError", "Handler", "Progress", "Subscriber",
           "Verified"]

Event = dict[str, Any]
Handler = Callable[[sqlite3.Connection, Event], None]


@dataclass
class Verified:
    """What a verifying subscriber keeps beside its position: the origin it follows, the
    compact range of the leaves it verified, and the last checkpoint it accepted."""

    origin: str
    frontier: CompactRange
    checkpoint: CheckedCheckpoint | None


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
                 transport: httpx.BaseTransport | None = None, verify: bool = False,
                 origin: str | None = None, witness_policy: Any = None,
                 log_key: str | None = None) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(_("synchronous={synchronous!r}: use OFF, NORMAL, FULL or EXTRA").format(
                                 synchronous=synchronous))
        self.feed_url = feed_url.rstrip("/")
        self.name = name
        self.types = list(types)
        self.aggregate = aggregate
        self.page_size = page_size
        self.verify = verify
        self.stream = stream and not verify  # verified pages are polled (records, proofs)
        self.origin = origin
        self.log_key = log_key
        if isinstance(witness_policy, str | Path):
            from ledger.integrity import cosign  # type: ignore[attr-defined,unused-ignore]

            witness_policy = cosign.load_policy(witness_policy)
        self.witness_policy = witness_policy
        self._aggregate_id: str | None = None
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
        if verify:
            self.db.execute("CREATE TABLE IF NOT EXISTS feed_verification ("
                            "name TEXT PRIMARY KEY, origin TEXT NOT NULL, size INTEGER NOT NULL,"
                            " frontier BLOB NOT NULL, checkpoint_size INTEGER, "
                            "checkpoint_root BLOB, checkpoint_note TEXT, verifier_key TEXT)")

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

    def verified(self) -> Verified | None:
        """What a verifying subscriber has verified so far (None before its first page)."""
        row = self.db.execute(
            "SELECT origin, size, frontier, checkpoint_size, checkpoint_root, checkpoint_note, "
            "verifier_key FROM feed_verification WHERE name = ?", (self.name,)).fetchone()
        if row is None:
            return None
        checkpoint = None if row[3] is None else CheckedCheckpoint(
            str(row[0]), int(row[3]), bytes(row[4]), str(row[5]), str(row[6]))
        return Verified(str(row[0]), CompactRange.from_bytes(int(row[1]), bytes(row[2])),
                        checkpoint)

    def _save_verified(self, state: Verified) -> None:
        c = state.checkpoint
        self.db.execute(
            "INSERT INTO feed_verification (name, origin, size, frontier, checkpoint_size, "
            "checkpoint_root, checkpoint_note, verifier_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET origin = excluded.origin, size = excluded.size, "
            "frontier = excluded.frontier, checkpoint_size = excluded.checkpoint_size, "
            "checkpoint_root = excluded.checkpoint_root, "
            "checkpoint_note = excluded.checkpoint_note, verifier_key = excluded.verifier_key",
            (self.name, state.origin, state.frontier.size, state.frontier.to_bytes(),
             None if c is None else c.size, None if c is None else c.root,
             None if c is None else c.note, None if c is None else c.verifier_key))

    def process(self, events: Sequence[Event], handler: Handler, *,
                through: int | None = None, verified: Verified | None = None) -> int:
        """Hand *events* to *handler* and advance the position, in one transaction.

        Events at or before the stored position are skipped (already processed). *through*
        moves the position further (past events a filter left out). *verified* (a verifying
        subscriber's new state) is stored in the same transaction. Returns how many were
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
            if verified is not None:
                self._save_verified(verified)
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
            raise FeedError(_("{path}: {status_code} {text}").format(
                                path=path, status_code=response.status_code,
                                text=response.text[:300]))
        response.raise_for_status()
        return response

    def _page(self, after: int) -> dict[str, Any]:
        page: dict[str, Any] = loads(self._get("/events", {
            "after": after, "limit": self.page_size, **self._params()}).content)
        return page

    def poll(self, handler: Handler) -> Progress:
        """Fetch one page after the stored position and process it."""
        if self.verify:
            return self._poll_verified(handler)
        page = self._page(self.position())
        done = self.process(page["events"], handler, through=int(page["next_after"]))
        return Progress(done, self.position(), bool(page["has_more"]))

    def catch_up(self, handler: Handler) -> int:
        """Process pages until the head of the log; return how many events were handed over.

        While one page is handed over, the next one (after the page's ``next_after``, where
        its transaction leaves the position) is already being fetched and parsed in a thread
        of its own, so the feed's work and this subscriber's overlap. Only ``process`` moves
        the position, one page per transaction as with :meth:`poll`; a page fetched ahead of
        a failed one is dropped.
        """
        if self.verify:
            total = 0
            while True:
                progress = self.poll(handler)
                total += progress.delivered
                if not progress.has_more:
                    return total
        from concurrent.futures import ThreadPoolExecutor

        total = 0
        with ThreadPoolExecutor(1, thread_name_prefix="ledger-feed-prefetch") as pool:
            ahead = pool.submit(self._page, self.position())
            try:
                while True:
                    page = ahead.result()
                    through = int(page["next_after"])
                    more = bool(page["has_more"])
                    if more:
                        ahead = pool.submit(self._page, through)
                    total += self.process(page["events"], handler, through=through)
                    if not more:
                        return total
            except BaseException:
                ahead.cancel()
                raise

    # ------------------------------------------------------------------ verified pages
    def _wanted(self, event: Event) -> bool:
        """Whether *event* passes the subscriber's filters (applied here in verify mode: the
        subscriber must see every leaf)."""
        if self.types:
            kind = str(event["type"])
            if not any(kind == t or (t.endswith(".*") and kind.startswith(t[:-1]))
                       for t in self.types):
                return False
        if self.aggregate:
            if self._aggregate_id is None:
                try:
                    self._aggregate_id = str(UUID(self.aggregate))
                except ValueError:
                    found = self._get("/events", {"aggregate": self.aggregate, "limit": 1}
                                      ).json()["events"]
                    if not found:
                        raise FeedError(_("aggregate {aggregate!r} has no events").format(
                                            aggregate=self.aggregate)) from None
                    self._aggregate_id = str(found[0]["aggregate_id"])
            return str(event["aggregate_id"]) == self._aggregate_id
        return True

    def _proof(self, size1: int, size2: int) -> list[bytes]:
        """The feed's RFC 9162 consistency proof from *size1* to *size2*."""
        response = self.http.get("/proofs/consistency", params={"from": size1, "to": size2})
        if response.status_code in (404, 409):
            raise FeedIntegrityError(
                "inconsistent_checkpoint", _("the feed gives no consistency proof from size {size1} to "
                                             "{size2}: {text}").format(
                                               size1=size1, size2=size2, text=response.text[:300]))
        if 400 <= response.status_code < 500:
            raise FeedError(_("/proofs/consistency: {status_code} {text}").format(
                                status_code=response.status_code, text=response.text[:300]))
        response.raise_for_status()
        doc = response.json()
        if doc.get("from_size") != size1 or doc.get("to_size") != size2:
            raise FeedIntegrityError("inconsistent_checkpoint",
                                     _("the feed answered a proof for other sizes than "
                                       "{size1} to {size2}").format(
                                         size1=size1, size2=size2))
        return [unb64(h, "a consistency proof hash", "inconsistent_checkpoint")
                for h in doc.get("proof", [])]

    def _consistent(self, size1: int, root1: bytes, new: CheckedCheckpoint) -> bool:
        if size1 == new.size:
            return root1 == new.root
        return verify_consistency(size1, new.size, self._proof(size1, new.size), root1, new.root)

    def _accept(self, old: CheckedCheckpoint | None, new: CheckedCheckpoint,
                frontier: CompactRange) -> None:
        """Refuse *new* unless it is an append-only extension of *old*, the checkpoint
        accepted before (and of the leaves this subscriber verified)."""
        if old is None or (old.size == new.size and old.root == new.root):
            return
        if new.size < old.size:
            raise FeedIntegrityError(
                "inconsistent_checkpoint", _("the latest checkpoint has size {size}, fewer leaves than the "
                                             "{size2} of the checkpoint accepted before: the log was "
                                             "rolled back or restored from an older copy").format(
                                               size=new.size, size2=old.size))
        if self._consistent(old.size, old.root, new):
            return
        if 0 < frontier.size <= new.size and not self._consistent(frontier.size,
                                                                   frontier.root(), new):
            raise FeedIntegrityError(
                "position_rewritten", _("the checkpoint at size {size} does not contain the {size2} leaves "
                                        "this subscriber verified and handed on: events it received now "
                                        "have other content").format(size=new.size, size2=frontier.size))
        raise FeedIntegrityError(
            "inconsistent_checkpoint", _("the checkpoint at size {size} is not an append-only extension of "
                                         "the checkpoint at size {size2} accepted before").format(
                                           size=new.size, size2=old.size))

    def _poll_verified(self, handler: Handler) -> Progress:
        after = self.position()
        state = self.verified()
        if state is None and after:
            raise FeedError(_("subscription {name!r} is at position {after} without verification state; a "
                              "verifying subscriber starts from position 0 (use a new name "
                              "or database)").format(
                                name=self.name, after=after))
        page = self._get("/events", {"after": after, "limit": self.page_size, "records": 1}
                         ).json()
        origin = str(page.get("origin"))
        expected = state.origin if state is not None else self.origin
        if expected is not None and origin != expected:
            raise FeedIntegrityError(
                "origin_changed", f"the feed's log is {origin!r}, not {expected!r} that this "
                "subscriber follows: a new origin was started (e.g. after a restore) or this is "
                "another log; nothing after position {after} was handed on".replace(
                    "{after}", str(after)))
        served = page.get("checkpoint")
        frontier = state.frontier.copy() if state is not None else CompactRange()
        old = state.checkpoint if state is not None else None
        if served is None:
            return Progress(0, after, False)  # nothing signed yet: wait
        key = self.log_key or (old.verifier_key if old is not None else
                               str(served.get("verifier_key")))
        new = check_note(served, origin, key, self.witness_policy)
        self._accept(old, new, frontier)
        verified_before = frontier.size
        ready: list[Event] = []
        events: list[Event] = page["events"]
        for event in events:
            if "record" not in event:
                raise FeedError(_("the feed serves no leaf records (/events?records=1): it is older than "
                                  "this subscriber and cannot be verified"))
            record = event["record"]
            if frontier.size >= new.size and (
                    record is None or (isinstance(record, dict)
                                       and record.get("position") == frontier.size)):
                break  # beyond the checkpoint (or not sealed yet): wait for the next one
            if record is None:
                raise FeedIntegrityError(
                    "bad_record", _("the event at log position {position} has no leaf, though the "
                                    "checkpoint covers {size} leaves and this subscriber has verified "
                                    "{size2}: its leaf was removed or it was inserted").format(
                                      position=event['position'], size=new.size,
                                      size2=frontier.size))
            frontier.append(check_record(event, frontier.size))
            ready.append(event)
        if frontier.size > verified_before and not self._consistent(frontier.size,
                                                                    frontier.root(), new):
            raise FeedIntegrityError(
                "bad_record", _("the records of leaves {verified_before}–{value} (log positions "
                                "{position}–{position2}) do not hash to the tree the checkpoint at size "
                                "{size} signs").format(
                                  verified_before=verified_before, value=frontier.size - 1,
                                  position=ready[0]['position'], position2=ready[-1]['position'],
                                  size=new.size))
        waiting = len(ready) < len(events)
        through = (int(ready[-1]["position"]) if ready else None) if waiting else \
            int(page["next_after"])
        done = self.process([e for e in ready if self._wanted(e)], handler, through=through,
                            verified=Verified(origin, frontier, new))
        return Progress(done, self.position(), bool(page["has_more"]) and not waiting)

    # ------------------------------------------------------------------ stream
    def _sse(self, after: int) -> Iterator[Event | None]:
        """Events of ``/events/stream`` after *after*; None for each heartbeat (and for the
        stream's ``checkpoint`` messages)."""
        headers = {"Last-Event-ID": str(after), "Accept": "text/event-stream"}
        with self.http.stream("GET", "/events/stream", params=self._params(),
                              headers=headers) as response:
            if 400 <= response.status_code < 500:
                response.read()
                raise FeedError(_("/events/stream: {status_code} {text}").format(
                                    status_code=response.status_code, text=response.text[:300]))
            response.raise_for_status()
            data: list[str] = []
            kind = ""
            for line in response.iter_lines():
                if line == "":
                    if data:
                        yield json.loads("\n".join(data)) if kind in ("", "message") else None
                        data = []
                    kind = ""
                elif line.startswith(":"):
                    yield None
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif line.startswith("event:"):
                    kind = line[6:].strip()

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
