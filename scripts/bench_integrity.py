#!/usr/bin/env python3
"""Micro-benchmark of the integrity core (incremental Merkle tree over MemoryNodeStore).

Measures:
- leaves/s for hashing N leaves (SHA-256(0x00 || ~200-byte record)) and appending them;
- the time to append 1,000 leaves to a tree that already holds N leaves;
- root / inclusion proof / consistency proof times at that size;
- records/s for canonical record encoding (RFC 8785), on a smaller sample.

Run from the repository root: ``python scripts/bench_integrity.py [--leaves N] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.integrity.canonical import event_record_bytes
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.tree import IncrementalTree, MemoryNodeStore


def _record(i: int) -> bytes:
    return event_record_bytes(
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
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.leaves)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:32} {value:,.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
