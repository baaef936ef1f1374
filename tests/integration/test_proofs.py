"""Inclusion and consistency proofs from a real ledger, checked by scripts/verify-proof (a
real subprocess that uses nothing of the ledger) and by the library's verifiers.
"""

from __future__ import annotations

import base64
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.audit import EventNotFoundError
from ledger.integrity import merkle, sealer
from ledger.integrity.checkpoint import format_verifier_key, parse_checkpoint
from ledger.integrity.errors import NotSealedError, ProofRequestError
from tests.bulk import bulk_communities
from tests.conftest import store_snapshot, sunny_garden

ROOT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = ROOT_DIR / "scripts" / "verify-proof"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _check_with_script(tmp_path: Path, led: GovernanceLedger, refs: list[int],
                       size: int | None = None) -> None:
    key = format_verifier_key(sealer.log_origin(led), KEY.public_key())
    for ref in refs:
        doc = sealer.inclusion_proof_document(led, ref, size)
        path = tmp_path / f"proof-{ref}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        run = subprocess.run([sys.executable, str(SCRIPT), "--key", key, "--origin",
                              sealer.log_origin(led), str(path)],
                             capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith(f"OK: record at position {doc['leaf_index']} ")


def _large_ledger_proofs(tmp_path: Path, events: int, samples: int) -> float:
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        started = time.perf_counter()
        sunny_garden(led)
        bulk_communities(led, events - 5, batch=10_000)
        sealer.seal(led, key=KEY)
        latest = sealer.latest_checkpoint(led)
        assert latest is not None
        assert latest.size == events
        rng = random.Random(events)
        _check_with_script(tmp_path, led, sorted(rng.sample(range(1, events + 1), samples)))
        return time.perf_counter() - started
    finally:
        led.close()


def test_inclusion_proofs_of_random_events_in_a_5000_event_ledger_pass_verify_proof(
        tmp_path: Path) -> None:
    _large_ledger_proofs(tmp_path, 5000, 8)


@pytest.mark.slow
def test_inclusion_proofs_of_random_events_in_a_100000_event_ledger_pass_verify_proof(
        tmp_path: Path) -> None:
    took = _large_ledger_proofs(tmp_path, 100_000, 25)
    print(f"100,000-event ledger built, sealed and 25 proofs checked in {took:.1f} s")


def test_proofs_against_an_older_checkpoint_and_by_key_at_version(
        ledger: GovernanceLedger, tmp_path: Path) -> None:
    sunny_garden(ledger)
    old = sealer.seal(ledger, key=KEY).checkpoint
    bulk_communities(ledger, 20)
    sealer.seal(ledger, key=KEY)
    _check_with_script(tmp_path, ledger, [1, 3, 5], size=old.size)
    doc = sealer.inclusion_proof_document(ledger, "ZQ-001@2")
    assert doc["record"]["type"] == "Community.PostAppointed"
    assert merkle.verify_inclusion(_b(doc["leaf_hash"]), doc["leaf_index"], doc["tree_size"],
                                   [_b(p) for p in doc["proof"]], _b(doc["root"]))


def test_consistency_proof_links_an_old_checkpoint_to_the_latest(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    old = sealer.seal(ledger, key=KEY).checkpoint
    bulk_communities(ledger, 11)
    new = sealer.seal(ledger, key=KEY).checkpoint
    doc = sealer.consistency_proof_document(ledger, old.size)
    assert (doc["from_size"], doc["to_size"]) == (old.size, new.size)
    assert (doc["from_checkpoint"], doc["to_checkpoint"]) == (old.note, new.note)
    assert merkle.verify_consistency(old.size, new.size, [_b(p) for p in doc["proof"]],
                                     parse_checkpoint(old.note)[0].root, new.root)
    partial = sealer.consistency_proof_document(ledger, 3, new.size)
    assert partial["from_checkpoint"] is None


def test_proof_requests_the_log_cannot_serve_are_refused_and_change_nothing(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    with pytest.raises(NotSealedError, match="no signed checkpoint yet"):
        sealer.consistency_proof_document(ledger, 1)
    with pytest.raises(NotSealedError, match="event 1 .* is not sealed yet"):
        sealer.inclusion_proof_document(ledger, 1)
    sealer.seal(ledger, key=KEY)
    bulk_communities(ledger, 2)
    before = store_snapshot(ledger)
    with pytest.raises(NotSealedError, match="not sealed yet"):
        sealer.inclusion_proof_document(ledger, 6)
    with pytest.raises(NotSealedError, match="no signed checkpoint at tree size 3"):
        sealer.inclusion_proof_document(ledger, 1, size=3)
    with pytest.raises(EventNotFoundError):
        sealer.inclusion_proof_document(ledger, 999)
    with pytest.raises(ProofRequestError):
        sealer.consistency_proof_document(ledger, 6)
    assert store_snapshot(ledger) == before


def test_sealing_with_nothing_new_returns_the_latest_checkpoint_and_writes_nothing(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    first = sealer.seal(ledger, key=KEY)
    again = sealer.seal(ledger, key=KEY)
    assert (again.added, again.checkpoint) == (0, first.checkpoint)
    assert re.fullmatch(r"zq-governance-ledger/ZQ/[0-9a-f]{16}",
                        parse_checkpoint(first.checkpoint.note)[0].origin)
