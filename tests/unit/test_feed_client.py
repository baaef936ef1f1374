"""The subscriber client against a fake feed (httpx MockTransport): no server, no ledger."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.feed.client import FeedError, Subscriber
from ledger.feed.log import _like_suffix


def event(position: int, type_: str = "Community.PostAppointed") -> dict[str, Any]:
    return {"schema": "ledger-event/1", "position": position, "aggregate_id": "a", "version": 1,
            "type": type_, "recorded_at": "2025-01-01T00:00:00+00:00", "envelope": {},
            "data": {}}


LOG = [event(p) for p in (1, 2, 4, 7, 8, 9)]  # gaps at 3, 5, 6


def fake_feed(request: httpx.Request) -> httpx.Response:
    after = int(request.url.params.get("after", 0))
    if request.url.path == "/events":
        limit = int(request.url.params.get("limit", 100))
        page = [e for e in LOG if e["position"] > after][:limit]
        more = bool(page) and page[-1]["position"] < LOG[-1]["position"]
        return httpx.Response(200, json={
            "schema": "ledger-event-page/1", "after": after, "head": 9, "has_more": more,
            "next_after": page[-1]["position"] if more else max(9, after), "events": page})
    if request.url.path == "/events/stream":
        after = int(request.headers.get("last-event-id", after))
        body = "retry: 1000\n\n: heartbeat\n\n" + "".join(
            f"id: {e['position']}\ndata: {json.dumps(e)}\n\n"
            for e in LOG if e["position"] > after)
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
    return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})


@pytest.fixture
def sub(tmp_path: Path) -> Iterator[Subscriber]:
    s = Subscriber("http://feed.test", tmp_path / "mine.db", page_size=2,
                   transport=httpx.MockTransport(fake_feed), synchronous="NORMAL")
    s.db.execute("CREATE TABLE got (position INTEGER)")
    with s:
        yield s


def keep(db: sqlite3.Connection, ev: dict[str, Any]) -> None:
    db.execute("INSERT INTO got VALUES (?)", (ev["position"],))


def got(sub: Subscriber) -> list[int]:
    return [r[0] for r in sub.db.execute("SELECT position FROM got ORDER BY rowid")]


def test_catching_up_pages_through_gaps_and_stores_the_position(sub: Subscriber) -> None:
    assert sub.catch_up(keep) == 6
    assert got(sub) == [1, 2, 4, 7, 8, 9]
    assert sub.position() == 9
    assert sub.catch_up(keep) == 0  # nothing twice


def test_events_at_or_before_the_position_are_not_handed_over_again(sub: Subscriber) -> None:
    assert sub.process(LOG[:3], keep) == 3
    assert sub.process(LOG[:4], keep) == 1
    assert got(sub) == [1, 2, 4, 7]


def test_a_failing_handler_rolls_back_its_work_and_the_position(sub: Subscriber) -> None:
    sub.process(LOG[:1], keep)

    def fail_on_seven(db: sqlite3.Connection, ev: dict[str, Any]) -> None:
        keep(db, ev)
        if ev["position"] == 7:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        sub.process(LOG, fail_on_seven)
    assert got(sub) == [1]
    assert sub.position() == 1
    sub.process(LOG, keep)
    assert got(sub) == [1, 2, 4, 7, 8, 9]


def test_the_stream_is_parsed_and_followed_until_told_to_stop(sub: Subscriber) -> None:
    sub.process(LOG[:2], keep)
    sub.stream = True
    sub.page_size = 1
    seen = list(sub._sse(2))
    assert [e["position"] if e else None for e in seen] == [None, 4, 7, 8, 9]
    sub.run(keep, stop=threading.Event(), until=lambda: sub.position() >= 9)
    assert got(sub) == [1, 2, 4, 7, 8, 9]


def test_a_4xx_answer_is_an_error_not_a_retry(tmp_path: Path) -> None:
    def refuse(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "x"}})

    with Subscriber("http://feed.test", tmp_path / "x.db",
                    transport=httpx.MockTransport(refuse)) as s, \
            pytest.raises(FeedError, match="401"):
        s.run(keep)


def test_an_unknown_durability_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Subscriber("http://feed.test", tmp_path / "x.db", synchronous="NORMAL; DROP TABLE x")


@pytest.mark.parametrize(("name", "pattern"), [
    ("Community.PostAppointed", "%:Community.PostAppointed"),
    ("PropertyFirm.*", "%:PropertyFirm.%"),
    ("Odd_Name.X", "%:Odd\\_Name.X"),
])
def test_type_names_become_exact_or_prefix_patterns(name: str, pattern: str) -> None:
    assert _like_suffix(name) == pattern
