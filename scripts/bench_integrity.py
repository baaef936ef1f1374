#!/usr/bin/env python3
"""Benchmarks of the integrity core and of sealing and verifying a real ledger.

In memory (``MemoryNodeStore``), always:
- leaves/s for hashing N leaves (SHA-256(0x00 || ~200-byte record)) and appending them;
- the time to append 1,000 leaves to a tree that already holds N leaves;
- root / inclusion proof / consistency proof times at that size;
- records/s for canonical record encoding: the general RFC 8785 encoder and the
  specialised one (byte-identical), on a smaller sample.

On a real SQLite ledger (``--ledger``), each beside the raw log read rate of the same run:
- ``verify`` events/s over a ledger of ``--events`` events (sealed first; seal events/s too);
- the cost of sealing 1,000 new events into a tree of ``--tree`` (1,000,000) leaves in the
  SQL node store, beside a raw insert-and-commit of as many rows as the seal writes.

Run from the repository root:
``python scripts/bench_integrity.py [--leaves N] [--ledger] [--events N] [--tree N] [--json]``
(also ``./scripts/bench integrity ...``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.integrity.canonical import event_record_bytes, fast_event_record_bytes
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.tree import IncrementalTree, MemoryNodeStore


def _record(i: int, encode: Any = event_record_bytes) -> bytes:
    return encode(
        position=i,
        notification_id=i + 1,
        aggregate_id=f"00000000-0000-4000-8000-{i % 100_000:012d}",
        version=1 + i % 7,
        type="CommunityRegistered",
        recorded_at="2024-05-01T08:00:00.000000+08:00",
        payload=b'{"community":"zq-001","name":"example"}',
    )


def run(leaves: int) -> dict[str, float]:
    template = _record(0)
    data = [template + i.to_bytes(8, "big") for i in range(leaves)]
    results: dict[str, float] = {"leaves": leaves}

    gc.collect()
    start = time.perf_counter()
    hashes = [leaf_hash(d) for d in data]
    hashed = time.perf_counter()
    store = MemoryNodeStore()
    tree = IncrementalTree(store)
    tree.append(hashes)
    done = time.perf_counter()
    results["leaf_hash_s"] = hashed - start
    results["append_s"] = done - hashed
    results["hash_and_append_leaves_per_s"] = leaves / (done - start)

    timings = []
    for round_number in range(20):
        batch = [
            leaf_hash(b"extra" + round_number.to_bytes(4, "big") + i.to_bytes(4, "big"))
            for i in range(1000)
        ]
        t0 = time.perf_counter()
        tree.append(batch)
        timings.append(time.perf_counter() - t0)
    results["append_1000_ms_median"] = statistics.median(timings) * 1000
    results["append_1000_ms_min"] = min(timings) * 1000

    size = tree.size
    t0 = time.perf_counter()
    IncrementalTree(store, size)
    results["open_tree_ms"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    for k in range(100):
        tree.root(size - k * 997)
    results["root_at_past_size_ms"] = (time.perf_counter() - t0) * 10
    t0 = time.perf_counter()
    for k in range(100):
        tree.inclusion_proof((k * 7919) % size, size)
    results["inclusion_proof_ms"] = (time.perf_counter() - t0) * 10
    t0 = time.perf_counter()
    for k in range(100):
        tree.consistency_proof(1 + (k * 104_729) % (size - 1), size)
    results["consistency_proof_ms"] = (time.perf_counter() - t0) * 10

    sample = 20_000
    t0 = time.perf_counter()
    for i in range(sample):
        _record(i)
    results["canonical_records_per_s"] = sample / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(sample):
        _record(i, fast_event_record_bytes)
    results["fast_canonical_records_per_s"] = sample / (time.perf_counter() - t0)
    return results


def _raw_read_rate(url: str, table: str) -> float:
    """Events/s reading the whole event table through the driver, nothing else."""
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    t0 = time.perf_counter()
    n = 0
    after = 0
    while True:
        rows = conn.execute(f"SELECT id, originator_id, originator_version, topic, state FROM "
                            f"{table} WHERE id > ? ORDER BY id LIMIT 5000", (after,)).fetchall()
        n += len(rows)
        if len(rows) < 5000:
            break
        after = rows[-1][0]
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


def run_ledger(events: int, tree_leaves: int, workdir: Path) -> dict[str, float]:
    """Seal and verify a real SQLite ledger; seal 1,000 events into a large SQL tree."""
    import sqlite3

    import sqlalchemy as sa

    from ledger.application import GovernanceLedger
    from ledger.integrity import appendonly, sealer
    from ledger.integrity.checkpoint import format_verifier_key, generate_key_file
    from ledger.integrity.sqlstore import INTEGRITY_TABLES, SqlNodeStore, bulk_insert
    from ledger.integrity.sqlstore import merkle_leaves as leaves_table
    from ledger.integrity.verifier import verify
    from ledger.kernel.logs import configure
    from tests.bulk import bulk_communities

    configure("warning")
    results: dict[str, float] = {"ledger_events": events}
    key = generate_key_file(workdir / "bench.key")

    url = f"sqlite:///{workdir / 'verify.db'}"
    led = GovernanceLedger(url)
    bulk_communities(led, events, batch=10_000)
    t0 = time.perf_counter()
    sealer.seal(led, key=key)
    results["seal_events_per_s"] = events / (time.perf_counter() - t0)
    vk = format_verifier_key(sealer.log_origin(led), key.public_key())
    results["raw_log_read_events_per_s"] = _raw_read_rate(url, led.events_table.name)
    t0 = time.perf_counter()
    outcome = verify(led, verifier_key=vk)
    results["verify_events_per_s"] = outcome.events / (time.perf_counter() - t0)
    if outcome.findings:
        raise SystemExit(f"verify found {len(outcome.findings)} problems in the bench ledger")
    led.close()

    # A tree of `tree_leaves` leaves in the SQL node store, then 1,000 new events at a time.
    url = f"sqlite:///{workdir / 'seal.db'}"
    led = GovernanceLedger(url)
    appendonly.remove(led.engine, [led.events_table.name, *INTEGRITY_TABLES])
    t0 = time.perf_counter()
    with led.engine.begin() as conn:
        tree = IncrementalTree(SqlNodeStore(conn))
        step = 100_000
        for first in range(0, tree_leaves, step):
            count = min(step, tree_leaves - first)
            tree.append([leaf_hash(i.to_bytes(8, "big")) for i in range(first, first + count)])
            bulk_insert(conn, leaves_table, ("position", "notification_id"),
                        [(i, i + 1) for i in range(first, first + count)])
        # The events the synthetic leaves stand for are not stored; new events follow them.
        conn.execute(sa.text(f"INSERT INTO {led.events_table.name} (id, originator_id, "
                             "originator_version, topic, state) VALUES (:i, :o, 1, 'x:y', :s)"),
                     {"i": tree_leaves, "o": b"\0" * 16, "s": b"{}"})
    results["build_sql_tree_s"] = time.perf_counter() - t0
    timings = []
    for round_number in range(5):
        bulk_communities(led, 1000, start=round_number * 1000, batch=1000)
        t0 = time.perf_counter()
        sealer.seal(led, key=key)
        timings.append(time.perf_counter() - t0)
    results["tree_leaves_before"] = tree_leaves
    results["seal_1000_into_tree_ms_median"] = statistics.median(timings) * 1000
    results["seal_1000_into_tree_ms_min"] = min(timings) * 1000
    led.close()
    # Baseline: read 1,000 events and insert-and-commit the ~3,000 rows such a seal writes.
    conn = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE n (level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (level, idx))")
    raw = []
    for round_number in range(5):
        t0 = time.perf_counter()
        src = sqlite3.connect(workdir / "seal.db")
        src.execute("SELECT id, originator_id, originator_version, topic, state FROM "
                    "ledger_events ORDER BY id DESC LIMIT 1000").fetchall()
        src.close()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO n VALUES (?, ?, ?)",
                         [(round_number, i, leaf_hash(i.to_bytes(4, "big"))) for i in range(3000)])
        conn.execute("COMMIT")
        raw.append(time.perf_counter() - t0)
    results["raw_read_1000_write_3000_rows_ms_median"] = statistics.median(raw) * 1000
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--ledger", action="store_true",
                        help="also seal and verify a real SQLite ledger")
    parser.add_argument("--events", type=int, default=50_000,
                        help="events in the ledger that verify reads (with --ledger)")
    parser.add_argument("--tree", type=int, default=1_000_000,
                        help="leaves already in the SQL tree that 1,000 events are sealed into")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.leaves)
    if args.ledger:
        with tempfile.TemporaryDirectory(prefix="bench-integrity-") as tmp:
            results |= run_ledger(args.events, args.tree, Path(tmp))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:32} {value:,.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
