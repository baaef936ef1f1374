"""Fast bulk loading for integrity tests and benchmarks.

``execute`` runs a few thousand commands/s at best (validation, authority, one durable
transaction each), so tests that need 100,000 events build them here instead: real
``Community.Registered`` domain events, created by the aggregate and stored through the
ledger's own write transaction (``ledger.kernel.writer``: positions, leaves in the same transaction)
in large transactions, each with one command-log row standing for the batch (so ``verify``'s
command-log check sees every event accounted for). Only the command path (parsing, authority
check, one transaction per command) is skipped.
"""

from __future__ import annotations

import json

from ledger.aggregates.community import Community
from ledger.application import GovernanceLedger
from ledger.kernel.config import now

ENVELOPE = {"actor": "P-0001", "post": "town.ledger_admin@ZQ", "basis": "bulk test data",
            "occurred_at": "2025-02-01T09:00:00+08:00", "command_id": "",
            "command": "community.register", "authority": "test",
            "signature": {"unsigned": "allowed"}}  # as the unsigned mode marks an import


def bulk_communities(led: GovernanceLedger, count: int, *, start: int = 0,
                     batch: int = 5000) -> None:
    """Record *count* ``Community.Registered`` events (codes BULK-<n>), *batch* per transaction."""
    for first in range(start, start + count, batch):
        last = min(first + batch, start + count)
        aggs = [Community(code=f"BULK-{i:07d}", name=f"测试小区{i}", town="ZQ", address="",
                          envelope={**ENVELOPE, "command_id": f"bulk-{first}"})
                for i in range(first, last)]
        with led._writer.transaction() as txn:
            stored = [led.mapper.to_stored_event(e) for a in aggs for e in a.collect_events()]
            ids = txn.insert_events(stored)
            txn.insert_commands([(f"bulk-{first}", "test.bulk", "P-0001", now().isoformat(),
                                  ids[0], ids[-1], json.dumps({"bulk": len(ids)}))])
