"""The verifying subscriber's pure parts: the compact range against the RFC 9162 reference,
a record checked against its event, and the witness quorum wired to the policy's check."""

from __future__ import annotations

import base64
import hashlib
import sys
import types
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.feed.errors import FeedIntegrityError
from ledger.feed.verify import CompactRange, check_note, check_record
from ledger.integrity import checkpoint as cp
from ledger.integrity import merkle
from ledger.integrity.canonical import event_record_v2, record_bytes
from ledger.integrity.errors import IntegrityError
from ledger.integrity.tree import frontier_keys


def _leaf(i: int) -> bytes:
    return merkle.leaf_hash(i.to_bytes(4, "big"))


@given(st.integers(0, 300))
def test_the_compact_range_gives_the_reference_root_at_every_size(n: int) -> None:
    frontier = CompactRange()
    leaves = [_leaf(i) for i in range(n)]
    for i, leaf in enumerate(leaves):
        assert frontier.root() == merkle.root(leaves[:i])
        frontier.append(leaf)
    assert frontier.root() == merkle.root(leaves)
    assert len(frontier.nodes) == len(frontier_keys(n))
    again = CompactRange.from_bytes(n, frontier.to_bytes())
    assert again.root() == frontier.root() and again.size == n


def test_a_frontier_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="has 2 nodes"):
        CompactRange(3, [_leaf(0)])


PAYLOAD = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2025-01-02T00:00:00+00:00"},'
           b'"code":"ZQ-001","name":"\xe9\x98\xb3\xe5\x85\x89","envelope":{"actor":"P-0001",'
           b'"command_id":"c-1","command":"community.register"}}')
AGG = "8cdfc9ac-968b-5226-9dc2-deb729a2e651"


def _event(**change: Any) -> dict[str, Any]:
    record = event_record_v2(
        position=4, notification_id=5, aggregate_id=AGG, version=1,
        type="Community.Registered", recorded_at="2025-01-02T00:00:00+00:00",
        topic="ledger.aggregates.community:Community.Registered", payload=PAYLOAD,
        command={"actor": "P-0001", "command_id": "c-1", "first": 5, "last": 5,
                 "recorded_at": "2025-01-02T00:00:00+00:00", "result_sha256": "0" * 64,
                 "type": "community.register"})
    leaf = merkle.leaf_hash(record_bytes(record))
    event = {"schema": "ledger-event/1", "position": 5, "aggregate_id": AGG, "version": 1,
             "type": "Community.Registered", "recorded_at": "2025-01-02T00:00:00+00:00",
             "envelope": {"actor": "P-0001", "command_id": "c-1",
                          "command": "community.register"},
             "data": {"code": "ZQ-001", "name": "阳光"}, "record": record,
             "leaf_hash": base64.b64encode(leaf).decode()}
    event.update(change)
    return event


def test_a_record_that_holds_its_event_gives_its_leaf() -> None:
    event = _event()
    assert check_record(event, 4) == base64.b64decode(event["leaf_hash"])


@pytest.mark.parametrize(("change", "kind", "words"), [
    ({"data": {"code": "ZQ-001", "name": "冒名"}}, "bad_record", "differs from its leaf record"),
    ({"version": 2}, "bad_record", "version"),
    ({"leaf_hash": base64.b64encode(hashlib.sha256(b"x").digest()).decode()}, "bad_record",
     "does not hash to its stored leaf"),
    ({"record": None}, "bad_record", "no leaf record"),
])
def test_an_event_that_is_not_its_record_is_a_bad_record(change: dict[str, Any], kind: str,
                                                         words: str) -> None:
    with pytest.raises(FeedIntegrityError) as e:
        check_record(_event(**change), 4)
    assert e.value.kind == kind and words in str(e.value)


def test_a_leaf_index_before_the_verified_ones_is_a_rewritten_position() -> None:
    with pytest.raises(FeedIntegrityError) as e:
        check_record(_event(), 6)
    assert e.value.kind == "position_rewritten"
    with pytest.raises(FeedIntegrityError) as e:
        check_record(_event(), 3)
    assert e.value.kind == "bad_record"


def _served(origin: str, key: Ed25519PrivateKey, size: int = 3) -> dict[str, Any]:
    root = merkle.root([_leaf(i) for i in range(size)])
    note = cp.sign_checkpoint(cp.Checkpoint(origin, size, root), origin, key)
    return {"size": size, "root": base64.b64encode(root).decode(), "note": note,
            "verifier_key": cp.format_verifier_key(origin, key.public_key())}


ORIGIN = "zq-governance-ledger/ZQ/0123456789abcdef"


def test_the_checkpoint_note_is_checked_with_the_log_key_and_its_body() -> None:
    key = Ed25519PrivateKey.generate()
    served = _served(ORIGIN, key)
    vk = cp.format_verifier_key(ORIGIN, key.public_key())
    assert check_note(served, ORIGIN, vk).size == 3
    with pytest.raises(FeedIntegrityError) as e:
        check_note({**served, "size": 4}, ORIGIN, vk)
    assert e.value.kind == "checkpoint_signature"
    other = cp.format_verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(FeedIntegrityError) as e:
        check_note(served, ORIGIN, other)
    assert e.value.kind == "checkpoint_signature"


def test_the_witness_quorum_is_asked_of_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wired to ``ledger.integrity.cosign.check_quorum`` (stood in for here)."""
    asked: list[tuple[Any, ...]] = []

    class WitnessPolicyError(IntegrityError):
        code = "witness_quorum"

    def check_quorum(note: str, policy: Any, name: str, public_key: Any) -> list[str]:
        asked.append((note, policy, name))
        if policy == "2-of-2":
            raise WitnessPolicyError("1 of 2 witnesses cosigned (district); 2 needed")
        return ["district"]

    fake = types.ModuleType("ledger.integrity.cosign")
    fake.check_quorum = check_quorum  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ledger.integrity.cosign", fake)
    import ledger.integrity

    monkeypatch.setattr(ledger.integrity, "cosign", fake, raising=False)
    key = Ed25519PrivateKey.generate()
    served = _served(ORIGIN, key)
    vk = cp.format_verifier_key(ORIGIN, key.public_key())
    assert check_note(served, ORIGIN, vk, "1-of-2").size == 3
    with pytest.raises(FeedIntegrityError) as e:
        check_note(served, ORIGIN, vk, "2-of-2")
    assert e.value.kind == "witness_quorum" and "2 needed" in str(e.value)
    assert [a[2] for a in asked] == [ORIGIN, ORIGIN]
