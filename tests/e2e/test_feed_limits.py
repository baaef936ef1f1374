"""The feed under load on loopback, with a real ``ledger serve``: slow or incomplete requests
are dropped within the request timeout and cost little memory while they last; idle streams
cost next to nothing and still get every new event at once.

Counts and times are bounded (300 slow connections, 500 idle streams, a few seconds each);
``LEDGER_LIMIT_CONNECTIONS`` and ``LEDGER_LIMIT_STREAMS`` raise them for a longer run."""

from __future__ import annotations

import os
import selectors
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from ledger.application import GovernanceLedger
from tests.conftest import ADMIN, pg_schema_url, sunny_garden
from tests.feedkit import SERVERS, serve

SLOW = int(os.environ.get("LEDGER_LIMIT_CONNECTIONS", "300"))
STREAMS = int(os.environ.get("LEDGER_LIMIT_STREAMS", "500"))
TICK = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of the process and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    s = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    s.setblocking(False)
    return s


def wait_closed(socks: list[socket.socket], deadline: float) -> list[float]:
    """Read each socket until the server closes it; the time each one closed."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed: list[float] = []
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                sel.unregister(sock)
                closed.append(time.monotonic())
    sel.close()
    return closed


@pytest.fixture
def town(sqlite_url: str) -> Iterator[GovernanceLedger]:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    yield led
    led.close()


def test_slow_and_incomplete_requests_are_dropped_within_the_timeout_and_cost_little(
        town: GovernanceLedger, sqlite_url: str) -> None:
    with serve(sqlite_url) as url:
        pid = SERVERS[url].pid
        httpx.get(f"{url}/events")  # warm: the first request loads what every request needs
        before = rss_mib(pid)
        socks = []
        started = time.monotonic()
        for n in range(SLOW):
            s = connect(url)
            if n % 3 == 0:    # headers that never end (16 KiB of one header, then silence)
                s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 16_000)
            elif n % 3 == 1:  # a body that never comes
                s.sendall(b"POST /commands HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 60000\r\n\r\n{\"payload\": \"")
            # else: a connection that sends nothing at all
            socks.append(s)
        time.sleep(1.0)
        held = rss_mib(pid) - before
        # The server still answers while they hang on.
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        closed = wait_closed(socks, started + 15)
        assert len(closed) == SLOW, f"{SLOW - len(closed)} slow connections still open after 15 s"
        last = max(closed) - started
        for s in socks:
            s.close()
        after = rss_mib(pid)
    print(f"\n{SLOW} slow connections: +{held:.1f} MiB while held, all dropped after "
          f"{last:.1f} s; RSS {before:.0f} -> {after:.0f} MiB")
    assert held < 30, f"{SLOW} slow connections held {held:.1f} MiB"
    assert last < 12.5  # the 10 s request timeout, plus the time to open them all


def test_a_request_line_over_the_limit_is_refused_with_a_json_400(town: GovernanceLedger,
                                                                  sqlite_url: str) -> None:
    with serve(sqlite_url) as url:
        s = connect(url)
        s.setblocking(True)
        s.sendall(b"GET /events?" + b"a" * 40_000)  # still arriving, over 32 KiB
        s.settimeout(5)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        s.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"x-content-type-options: nosniff" in head.lower()
    assert b'"code": "bad_request"' in body


def test_idle_streams_cost_next_to_nothing_and_all_get_a_new_event_at_once(
        town: GovernanceLedger, sqlite_url: str) -> None:
    idle_streams(town, sqlite_url)


@pytest.mark.postgres
def test_idle_streams_on_postgresql_cost_next_to_nothing(pg_database: str) -> None:
    url = pg_schema_url(pg_database, f"t_{uuid.uuid4().hex[:12]}")
    led = GovernanceLedger(url)
    try:
        sunny_garden(led)
        # 7 s of idleness: the notifier's periodic look (every 5 s) falls inside it.
        idle_streams(led, url, idle_seconds=7.0)
    finally:
        led.close()


def idle_streams(town: GovernanceLedger, db_url: str, idle_seconds: float = 5.0) -> None:
    with serve(db_url, heartbeat=60) as url:
        pid = SERVERS[url].pid
        head = httpx.get(f"{url}/health").json()["head"]
        socks = []
        for _ in range(STREAMS):
            s = connect(url)
            s.sendall(f"GET /events/stream?after={head} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            socks.append(s)
        # Every stream answered (headers, the retry line and the checkpoint message).
        sel = selectors.DefaultSelector()
        seen = dict.fromkeys(socks, b"")
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        waiting = set(socks)
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                seen[sock] += sock.recv(65536)
                if b"event: checkpoint" in seen[sock]:
                    waiting.discard(sock)
        assert not waiting, f"{len(waiting)} of {STREAMS} streams did not start within 30 s"
        time.sleep(1.0)  # let the last stream settle into its wait
        # Idle: measure the server's CPU.
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(idle_seconds)
        share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        # Pages are still served quickly with every stream open.
        t1 = time.monotonic()
        with httpx.Client(base_url=url) as c:
            for _ in range(50):
                assert c.get("/events?limit=100").status_code == 200
        rate = 50 / (time.monotonic() - t1)
        # A new event reaches every stream.
        written = town.execute({"type": "post.appoint", **ADMIN,
                                "target_post": "party_org.deputy_secretary@ZQ-001",
                                "person": "P-0103", "person_name": "赵刚",
                                "occurred_at": "2025-02-01"})
        marker = f"id: {written.positions[0]}\n".encode()
        t2 = time.monotonic()
        waiting = set(socks)
        while waiting and time.monotonic() < t2 + 20:
            for key, _ in sel.select(timeout=0.5):
                sock = key.fileobj  # type: ignore[assignment]
                seen[sock] += sock.recv(65536)
                if marker in seen[sock]:
                    waiting.discard(sock)
        delivered = time.monotonic() - t2
        sel.close()
        for s in socks:
            s.close()
    print(f"\n{STREAMS} idle streams ({town.engine.dialect.name}): {share * 100:.2f} % of a "
          f"core; /events at "
          f"{rate:.0f} requests/s beside them; a new event reached all in {delivered:.2f} s")
    assert not waiting, f"{len(waiting)} of {STREAMS} streams missed the new event"
    assert share < 0.05, f"{STREAMS} idle streams took {share * 100:.1f} % of a core"
