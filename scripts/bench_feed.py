"""Feed throughput: events/s delivered to a subscriber over HTTP, beside the raw log read.

Measured in one run, on one SQLite ledger of N events (``post.appoint`` commands):

- raw log read: ``SELECT id, originator_id, originator_version, topic, state`` of every row of
  the events table with sqlite3, in log order (rows/s) — the ceiling for any reader.
- decoded log read: the same rows as events by the ledger (``iter_log``), decoded lazily: each
  event's position, type, aggregate and version read (what a filter, an index or a feed
  cursor reads); its JSON is parsed only when a field of it is read.
- log read with every payload parsed: ``iter_log(parse=True)``, each event's ``data`` read.
- feed pages → subscriber: ``ledger serve`` in a separate process; a
  :class:`ledger.feed.client.Subscriber` pages through ``/events`` (1,000 per page) and, in one
  transaction per page, stores each event in its own SQLite database with its position.
- the same for a second subscriber: every full page is then served from the feed's page
  cache (encoded once, by range).
- feed SSE stream: the same events read from ``/events/stream`` and parsed (no storage).

    python scripts/bench_feed.py [--events N] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from ledger.application import GovernanceLedger  # noqa: E402
from ledger.feed.client import Subscriber  # noqa: E402
from ledger.kernel.eventlog import iter_log  # noqa: E402
from ledger.kernel.logs import configure  # noqa: E402

ADMIN = {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}
COMMUNITIES = 20


def build(url: str, n: int) -> int:
    """A ledger with about *n* events; returns the head position."""
    led = GovernanceLedger(url)
    led.execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
                 "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
                 "occurred_at": "2025-01-01"})
    for c in range(1, COMMUNITIES + 1):
        led.execute({"type": "community.register", **ADMIN, "code": f"ZQ-{c:03d}",
                     "name": f"小区{c}", "occurred_at": "2025-01-02"})
    lines = (json.dumps({"type": "post.appoint", **ADMIN,
                         "target_post": f"volunteer@ZQ-{i % COMMUNITIES + 1:03d}",
                         "person": f"V-{i:06d}", "person_name": f"志愿者{i}",
                         "occurred_at": "2025-02-01T10:00:00", "basis": "志愿者登记表",
                         "command_id": f"feed-bench-{i}"}, ensure_ascii=False)
             for i in range(max(0, n - COMMUNITIES - 2)))
    bad = sum(1 for o in led.apply(lines, keep_going=True) if not o.ok)
    if bad:
        raise SystemExit(f"{bad} benchmark lines were rejected")
    head = led.recorder.max_notification_id() or 0
    led.close()
    return head


def raw_read(db: Path) -> tuple[int, float]:
    conn = sqlite3.connect(db)
    t = time.perf_counter()
    rows = conn.execute("SELECT id, originator_id, originator_version, topic, state "
                        "FROM ledger_events ORDER BY id").fetchall()
    dt = time.perf_counter() - t
    conn.close()
    return len(rows), dt


def raw_read_pg(url: str) -> tuple[int, float]:
    """The same read on PostgreSQL, with psycopg alone."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database,
                         password=u.password) as conn:
        t = time.perf_counter()
        rows = conn.execute("SELECT id, originator_id, originator_version, topic, state "
                            "FROM ledger_events ORDER BY id").fetchall()
        dt = time.perf_counter() - t
    return len(rows), dt


def decoded_read(url: str, parse: bool = False) -> tuple[int, float]:
    led = GovernanceLedger(url)
    t = time.perf_counter()
    count = 0
    with led.engine.connect() as conn:
        for e in iter_log(conn, led.events_table, led.mapper, parse=parse):
            if parse:
                e.data  # noqa: B018 - read
            else:
                e.position, e.type, e.aggregate_id, e.version  # noqa: B018 - read
            count += 1
    dt = time.perf_counter() - t
    led.close()
    return count, dt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("LEDGER_FEED_TOKENS", None)
    proc = subprocess.Popen([sys.executable, "-m", "ledger", "--db", url, "serve", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("ledger serve did not start")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process *pid* has used so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def subscriber_pages(base: str, db: Path) -> tuple[int, float]:
    sub = Subscriber(base, db, page_size=1000, stream=False, synchronous="NORMAL")
    sub.db.execute("CREATE TABLE mirror (position INTEGER PRIMARY KEY, type TEXT, event TEXT)")

    def store(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
        conn.execute("INSERT INTO mirror VALUES (?, ?, ?)",
                     (event["position"], event["type"], json.dumps(event, ensure_ascii=False)))

    t = time.perf_counter()
    count = sub.catch_up(store)
    dt = time.perf_counter() - t
    sub.close()
    return count, dt


def sse_stream(base: str, head: int) -> tuple[int, float]:
    count = 0
    t = time.perf_counter()
    with httpx.Client(timeout=60) as client, client.stream(
            "GET", f"{base}/events/stream", params={"after": 0}) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if "position" not in event:  # an `event: checkpoint` message
                    continue
                count += 1
                if event["position"] >= head:
                    break
    return count, time.perf_counter() - t


def bench(n: int, pg_url: str | None = None) -> list[dict[str, object]]:
    """The feed figures on a fresh SQLite ledger, or in the (empty) PostgreSQL database
    *pg_url*; the subscriber keeps its own SQLite file either way."""
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "ledger.db"
        url = pg_url or f"sqlite:///{db}"
        head = build(url, n)
        raw_n, raw_dt = raw_read(db) if pg_url is None else raw_read_pg(pg_url)
        dec_n, dec_dt = decoded_read(url)
        par_n, par_dt = decoded_read(url, parse=True)
        proc, base = start_server(url)
        try:
            httpx.get(f"{base}/events", params={"limit": 10})  # warm up
            cpu = []  # (server, subscriber) CPU seconds of each reader: what load does not move
            for target in ("subscriber.db", "subscriber-2.db"):
                server, mine = cpu_of(proc.pid), time.process_time()
                got = subscriber_pages(base, Path(d) / target)
                cpu.append((cpu_of(proc.pid) - server, time.process_time() - mine))
                if target == "subscriber.db":
                    pages_n, pages_dt = got
                else:
                    again_n, again_dt = got
            sse_n, sse_dt = sse_stream(base, head)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    raw_rate = raw_n / raw_dt
    out: list[dict[str, object]] = []
    for name, count, dt in (("log read, decoded lazily (iter_log)", dec_n, dec_dt),
                            ("log read, every payload parsed", par_n, par_dt),
                            ("feed pages -> subscriber DB", pages_n, pages_dt),
                            ("feed pages -> a second subscriber (cached)", again_n, again_dt),
                            ("feed SSE stream (parse only)", sse_n, sse_dt)):
        if count != raw_n:
            raise SystemExit(f"{name}: {count} events, the log has {raw_n}")
        out.append({"name": f"{name}, {count} events", "unit": "events/s",
                    "value": count / dt, "baseline": "raw SELECT of the same rows",
                    "baseline_value": raw_rate})
    # CPU per event of the feed's server and of the subscriber, for each reader: the wall
    # clock above depends on what else the machine runs, these do not.
    for r, (server, mine) in zip(out[2:4], cpu, strict=True):
        r["server_cpu_us_per_event"] = round(server / raw_n * 1e6, 1)
        r["subscriber_cpu_us_per_event"] = round(mine / raw_n * 1e6, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--quick", action="store_true", help="3,000 events")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = p.parse_args()
    configure("warning")
    results = bench(3000 if a.quick else a.events)
    print(f"{'benchmark':44} {'ledger':>12} {'baseline':>28} {'raw':>12} {'ratio':>7}")
    for r in results:
        ratio = float(r["value"]) / float(r["baseline_value"])  # type: ignore[arg-type]
        r["ratio"] = ratio
        print(f"{r['name']:44} {r['value']:>10,.0f}/s {r['baseline']:>28} "
              f"{r['baseline_value']:>10,.0f}/s {ratio:>7.3f}")
        if "server_cpu_us_per_event" in r:
            print(f"    CPU per event: server {r['server_cpu_us_per_event']} µs, "
                  f"subscriber {r['subscriber_cpu_us_per_event']} µs")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
