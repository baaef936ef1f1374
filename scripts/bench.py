"""Ledger benchmarks, each printed beside a raw baseline measured in the same run.

- execute: commands/s through GovernanceLedger.execute, one command per transaction
  (validation, authority check against the roster, envelope, durable commit), vs raw SQLite
  inserts of the same number of rows, one row per transaction, at the same durability setting.
- apply: events/s for `apply` of a 10,000-line JSON Lines file (each line atomic), vs raw
  inserts of the same rows one per transaction and batched in one transaction.
- feed: events/s delivered over HTTP to a subscriber, vs a raw SELECT of the same rows
  (scripts/bench_feed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.application import GovernanceLedger
from ledger.logs import configure

ADMIN = {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}
COMMUNITIES = 20


def setup(url: str) -> GovernanceLedger:
    led = GovernanceLedger(url)
    led.execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
                 "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
                 "occurred_at": "2025-01-01"})
    for c in range(1, COMMUNITIES + 1):
        led.execute({"type": "community.register", **ADMIN, "code": f"ZQ-{c:03d}",
                     "name": f"小区{c}", "occurred_at": "2025-01-02"})
    return led


def commands(n: int, offset: int = 0) -> list[str]:
    out = []
    for i in range(offset, offset + n):
        c = i % COMMUNITIES + 1
        out.append(json.dumps({"type": "post.appoint", **ADMIN,
                               "target_post": f"volunteer@ZQ-{c:03d}", "person": f"V-{i:06d}",
                               "person_name": f"志愿者{i}", "occurred_at": "2025-02-01T10:00:00",
                               "basis": "志愿者登记表", "command_id": f"bench-{i}"},
                              ensure_ascii=False))
    return out


def raw_db(path: Path, sync: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY AUTOINCREMENT, originator_id BLOB, "
                 "originator_version INTEGER, topic TEXT, state BLOB)")
    conn.execute("CREATE UNIQUE INDEX ev_agg ON ev (originator_id, originator_version)")
    return conn


def sample_state(led: GovernanceLedger) -> tuple[bytes, str]:
    with led.engine.connect() as conn:
        row = conn.execute(led.events_table.select().order_by(
            led.events_table.c.id.desc()).limit(1)).first()
    assert row is not None
    return bytes(row.state), str(row.topic)


def raw_per_txn(path: Path, sync: str, n: int, state: bytes, topic: str) -> float:
    conn = raw_db(path, sync)
    t = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ev (originator_id, originator_version, topic, state) "
                     "VALUES (?, ?, ?, ?)", (os.urandom(16), i, topic, state))
        conn.execute("COMMIT")
    dt = time.perf_counter() - t
    conn.close()
    return n / dt


def raw_batched(path: Path, sync: str, n: int, state: bytes, topic: str) -> float:
    conn = raw_db(path, sync)
    rows = [(os.urandom(16), i, topic, state) for i in range(n)]
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO ev (originator_id, originator_version, topic, state) "
                     "VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    dt = time.perf_counter() - t
    conn.close()
    return n / dt


def bench(sync: str, n_exec: int, n_apply: int, repeats: int) -> list[dict[str, object]]:
    os.environ["LEDGER_SQLITE_SYNC"] = sync
    results: list[dict[str, object]] = []
    ex, raw1, ap, raw_ap, raw_b = [], [], [], [], []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            led = setup(f"sqlite:///{d}/exec.db")
            cmds = commands(n_exec)
            t = time.perf_counter()
            for c in cmds:
                led.execute(c)
            ex.append(n_exec / (time.perf_counter() - t))
            state, topic = sample_state(led)
            led.close()
            raw1.append(raw_per_txn(Path(d) / f"raw{r}.db", sync, n_exec, state, topic))
            led = setup(f"sqlite:///{d}/apply.db")
            lines = commands(n_apply, offset=10_000_000)
            t = time.perf_counter()
            bad = sum(1 for o in led.apply(lines, keep_going=True) if not o.ok)
            ap.append(n_apply / (time.perf_counter() - t))
            led.close()
            if bad:
                raise SystemExit(f"{bad} benchmark lines were rejected")
            raw_ap.append(raw_per_txn(Path(d) / f"rawa{r}.db", sync, n_apply, state, topic))
            raw_b.append(raw_batched(Path(d) / f"rawb{r}.db", sync, n_apply, state, topic))
    med = statistics.median
    results.append({"name": f"execute, 1 command/txn (sync={sync})", "unit": "commands/s",
                    "value": med(ex), "baseline": "raw SQLite 1 row/txn", "baseline_value": med(raw1)})
    results.append({"name": f"apply {n_apply} lines (sync={sync})", "unit": "events/s",
                    "value": med(ap), "baseline": "raw SQLite 1 row/txn", "baseline_value": med(raw_ap)})
    results.append({"name": f"apply {n_apply} lines (sync={sync})", "unit": "events/s",
                    "value": med(ap), "baseline": "raw SQLite batched",
                    "baseline_value": med(raw_b)})
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small counts, one repeat")
    p.add_argument("--sync", action="append", choices=["NORMAL", "FULL"],
                   help="SQLite synchronous setting(s) to measure (default both)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = p.parse_args()
    configure("warning")
    n_exec, n_apply, repeats = (300, 1000, 1) if a.quick else (2000, 10_000, a.repeats)
    results = []
    for sync in a.sync or ["NORMAL", "FULL"]:
        results += bench(sync, n_exec, n_apply, repeats)
    from bench_feed import bench as bench_feed  # scripts/bench_feed.py

    results += bench_feed(3000 if a.quick else 20_000)
    print(f"{'benchmark':44} {'ledger':>12} {'baseline':>26} {'raw':>12} {'ratio':>7}")
    for r in results:
        ratio = float(r["value"]) / float(r["baseline_value"])  # type: ignore[arg-type]
        r["ratio"] = ratio
        print(f"{r['name']:44} {r['value']:>10,.0f}/s {r['baseline']:>26} "
              f"{r['baseline_value']:>10,.0f}/s {ratio:>7.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
