"""The feed over real HTTP on loopback: ``python -m ledger serve`` and subscriber processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx
import pytest

from ledger.application import GovernanceLedger
from ledger.kernel.eventlog import iter_log
from tests.conftest import ADMIN, bootstrap, pg_schema_url, sunny_garden
from tests.e2e import feed_procs
from tests.feedkit import PYTHON, serve, subprocess_env


def log_positions(ledger: GovernanceLedger) -> list[int]:
    with ledger.engine.connect() as conn:
        return [e.position for e in iter_log(conn, ledger.events_table, ledger.mapper)]


def appoint(ledger: GovernanceLedger, community: str, n: int) -> None:
    ledger.execute({"type": "post.appoint", **ADMIN,
                    "target_post": f"building_leader@{community}/B{n}", "person": f"P-{n:04d}",
                    "person_name": f"楼组长{n}", "occurred_at": "2025-02-01"})


def received(db: Path) -> list[int]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT position FROM received ORDER BY seq")]
    except sqlite3.OperationalError:  # the table is not there yet
        return []
    finally:
        conn.close()


FORK = multiprocessing.get_context("fork")


def process(*argv: str) -> BaseProcess:
    """A separate (forked) process running ``tests.e2e.feed_procs`` with *argv*."""
    proc = FORK.Process(target=feed_procs.run, args=(list(argv),), daemon=True)
    proc.start()
    return proc


def subscriber(feed: str, db: str, *extra: str) -> BaseProcess:
    return process("subscribe", feed, db, *extra)


def sse(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(field, value) pairs of a Server-Sent Events stream; ('', '') at each blank line."""
    for line in response.iter_lines():
        if not line:
            yield "", ""
            continue
        field, _, value = line.partition(":")
        yield field, value.removeprefix(" ")


@pytest.fixture
def garden(sqlite_url: str) -> Iterator[GovernanceLedger]:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    try:
        yield led
    finally:
        led.close()


def test_the_stream_sends_positions_as_ids_resumes_from_last_event_id_and_beats(
        garden: GovernanceLedger, sqlite_url: str) -> None:
    with serve(sqlite_url, heartbeat=0.3) as url, httpx.Client(base_url=url, timeout=10) as c:
        with c.stream("GET", "/events/stream", params={"after": 2}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            ids: list[int] = []
            beats = 0
            pushed = False
            named = ""
            checkpoint_frames = 0
            for field, value in sse(r):
                if field == "id":
                    ids.append(int(value))
                elif field == "event":
                    named = value
                elif field == "data" and named == "checkpoint":
                    checkpoint_frames += 1  # the log's origin and latest checkpoint
                    assert json.loads(value)["origin"].startswith("zq-governance-ledger/")
                elif field == "data":
                    event = json.loads(value)
                    assert event["position"] == ids[-1]
                    assert event["origin"].startswith("zq-governance-ledger/")
                elif field == "" and value:
                    beats += 1  # a comment line
                elif field == "":
                    named = ""
                if ids == [3, 4, 5] and not pushed:
                    appoint(garden, "ZQ-001", 1)  # written while we listen
                    pushed = True
                if len(ids) == 4 and beats:
                    break
        assert ids == [3, 4, 5, 6] and checkpoint_frames == 1
        with c.stream("GET", "/events/stream", params={"after": 0},
                      headers={"Last-Event-ID": "5"}) as r:
            first = next(int(v) for f, v in sse(r) if f == "id")
        assert first == 6


def test_a_subscriber_killed_at_random_points_receives_every_event_once_in_order(
        garden: GovernanceLedger, sqlite_url: str, tmp_path: Path) -> None:
    """Kill -9 a subscriber over and over while events are written; then let it finish."""
    seed = int(os.environ.get("FEED_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    for n in range(60):
        appoint(garden, "ZQ-001", n)
    db = tmp_path / "subscriber.db"
    kills = behind = 0
    with serve(sqlite_url) as url:
        for round_ in range(6):
            proc = subscriber(url, str(db), "--page-size", "7", "--delay", "0.01")
            time.sleep(rng.uniform(0.3, 0.8))
            for n in range(5):  # written while it runs: reaches it by the stream
                appoint(garden, "ZQ-001", 100 + round_ * 5 + n)
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
            kills += 1
            if len(received(db)) < len(log_positions(garden)):
                behind += 1  # killed while it still had events to process
        head = log_positions(garden)[-1]
        proc = subscriber(url, str(db), "--until", str(head))
        proc.join(timeout=30)
        assert proc.exitcode == 0
    got = received(db)
    assert kills == 6
    assert behind >= 2, "most kills should land while the subscriber is at work"
    assert got == log_positions(garden), f"seed {seed}"
    assert len(got) == len(set(got))


@pytest.mark.postgres
def test_four_writers_committing_concurrently_skip_nothing_for_a_streaming_subscriber(
        pg_database: str, tmp_path: Path) -> None:
    """The commit-order trap: ids are taken in one order and committed in another.

    Each writer holds its transaction open for a random moment after its events have ids.
    A reader that advanced past an id before the smaller one committed would skip it. The
    store takes a table lock before giving out ids, so commits happen in id order.
    """
    url = pg_schema_url(pg_database, f"t_{uuid.uuid4().hex[:12]}")
    led = GovernanceLedger(url)
    bootstrap(led)
    communities = [f"ZQ-00{i}" for i in range(1, 5)]
    for code in communities:
        led.execute({"type": "community.register", **ADMIN, "code": code, "name": code,
                     "occurred_at": "2025-01-02"})
    db = tmp_path / "subscriber.db"
    go = tmp_path / "go"
    per_writer = 25
    # The writers start first (they take a few seconds to start up) and wait for "go".
    writers = [process("write", url, code, str(per_writer), "--commit-delay", "0.01",
                       "--go", str(go)) for code in communities]
    try:
        with serve(url) as feed:
            sub = subscriber(feed, str(db))
            deadline = time.monotonic() + 60
            while not (all(Path(f"{go}.ready.{c}").exists() for c in communities)
                       and received(db)) and time.monotonic() < deadline:
                time.sleep(0.02)
            go.touch()  # the subscriber is streaming; all four writers commit at once
            for w in writers:
                w.join(timeout=60)
                assert w.exitcode == 0
            writers_done = time.time()
            expected = log_positions(led)
            assert len(expected) == 1 + 1 + len(communities) * (1 + per_writer)
            deadline = time.monotonic() + 30
            while received(db) != expected and time.monotonic() < deadline:
                time.sleep(0.05)
            sub.terminate()
            sub.join(timeout=10)
    finally:
        for w in writers:
            if w.is_alive():
                w.kill()
                w.join()
        led.close()
    got = received(db)
    assert got == expected
    conn = sqlite3.connect(db)
    early = conn.execute("SELECT count(*) FROM received WHERE at < ?", (writers_done,)).fetchone()
    conn.close()
    assert early[0] > len(expected) // 2, "the subscriber should have streamed while writers ran"




def test_the_example_subscriber_mirrors_what_it_is_asked_for_and_resumes(
        garden: GovernanceLedger, sqlite_url: str, tmp_path: Path) -> None:
    script = str(Path(__file__).resolve().parents[2] / "scripts" / "example-subscriber")
    everything, credit = tmp_path / "all.db", tmp_path / "credit.db"

    def run(*args: str) -> str:
        done = subprocess.run([PYTHON, script, *args], env=subprocess_env(), text=True,
                              capture_output=True, timeout=60, check=True)
        return done.stderr

    def mirrored(db: Path) -> list[tuple[int, str]]:
        conn = sqlite3.connect(db)
        rows = conn.execute("SELECT position, type FROM mirrored_events ORDER BY seq").fetchall()
        conn.close()
        return rows

    with serve(sqlite_url) as url:
        assert "processed 5 events; position 5" in run(url, str(everything), "--all", "--once")
        appoint(garden, "ZQ-001", 1)
        assert "processed 1 events; position 6" in run(url, str(everything), "--all", "--once")
        assert [p for p, _t in mirrored(everything)] == log_positions(garden)
        # The default is the credit file; this ledger has no property firm yet: nothing to
        # mirror, but the position still moves to the head.
        assert "processed 0 events; position 6" in run(url, str(credit), "--once")
        assert mirrored(credit) == []
        run(url, str(credit), "--types", "Community.PostAppointed", "--name", "appointments",
            "--once")
        assert [t for _p, t in mirrored(credit)] == ["Community.PostAppointed"] * 3


def test_a_served_page_comes_in_brotli_or_gzip_as_the_client_ranks_them(
        garden: GovernanceLedger, sqlite_url: str) -> None:
    # A real server on loopback; the bodies read as they came over the wire.
    import gzip

    import brotli

    def raw(c: httpx.Client, encoding: str) -> tuple[bytes, str | None]:
        with c.stream("GET", "/events", params={"after": 0, "limit": 2},
                      headers={"Accept-Encoding": encoding}) as r:
            assert r.status_code == 200
            return b"".join(r.iter_raw()), r.headers.get("content-encoding")

    with serve(sqlite_url) as url, httpx.Client(base_url=url, timeout=10) as c:
        plain, enc = raw(c, "identity")
        assert enc is None
        br, enc = raw(c, "gzip;q=0.5, br")
        assert enc == "br" and brotli.decompress(br) == plain
        gz, enc = raw(c, "gzip, deflate, br")
        assert enc == "gzip" and gzip.decompress(gz) == plain
