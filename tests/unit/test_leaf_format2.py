"""Leaf format 2: the record binds the full topic and the command-log row of its command.

The fast encoders (``canonical.fast_event_record_v2_bytes`` and the column-level
``sealer.fast_leaf_v2`` the write path uses) must give exactly the bytes and hash of the
general RFC 8785 encoder.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity import canonical, sealer
from ledger.integrity.canonical import MAX_SAFE_INTEGER
from ledger.integrity.errors import RecordFormatError, RecordMismatchError
from ledger.integrity.merkle import leaf_hash

_ints = st.integers(min_value=0, max_value=MAX_SAFE_INTEGER)
_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_commands = st.none() | st.builds(
    sealer.CommandRow, command_id=_texts, type=_texts, actor=_texts, recorded_at=_texts,
    first=_ints, last=_ints, result=_texts)


def _state(recorded_at: str, body: str) -> bytes:
    stamp = {"_type_": "datetime_iso", "_data_": recorded_at}
    return json.dumps({"timestamp": stamp, "body": body}, separators=(",", ":"),
                      ensure_ascii=False).encode()


@settings(max_examples=300)
@given(position=_ints, notification_id=_ints, version=_ints, aggregate_id=_texts, type=_texts,
       recorded_at=_texts, topic=_texts, payload=st.binary(max_size=64), command=_commands)
def test_fast_record_bytes_equal_rfc_8785(command: sealer.CommandRow | None,
                                         **fields: Any) -> None:
    binding = None if command is None else command.binding()
    expected = rfc8785.dumps(canonical.event_record_v2(**fields, command=binding))
    assert canonical.fast_event_record_v2_bytes(**fields, command=binding) == expected
    assert canonical.event_record_v2_bytes(**fields, command=binding) == expected


@settings(max_examples=300)
@given(position=_ints, notification_id=_ints, version=_ints, raw_id=st.binary(min_size=16,
       max_size=16), event=st.from_regex(r"[A-Za-z]{1,12}\.[A-Za-z]{1,12}", fullmatch=True),
       recorded_at=st.from_regex(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.+]{8,20}",
                                 fullmatch=True),
       body=_texts, command=_commands)
def test_the_write_paths_leaf_is_the_general_encoders_leaf(
        position: int, notification_id: int, version: int, raw_id: bytes, event: str,
        recorded_at: str, body: str, command: sealer.CommandRow | None) -> None:
    topic = f"ledger.aggregates.x:{event}"
    state = _state(recorded_at, body)
    general = leaf_hash(rfc8785.dumps(canonical.event_record_v2(
        position=position, notification_id=notification_id,
        aggregate_id=str(uuid.UUID(bytes=raw_id)), version=version, type=event,
        recorded_at=recorded_at, topic=topic, payload=state,
        command=None if command is None else command.binding())))
    for oid in (raw_id, uuid.UUID(bytes=raw_id)):
        assert sealer.fast_leaf_v2(position, notification_id, oid, version, topic, state,
                                   command) == general
    row = sealer.EventRow(notification_id, str(uuid.UUID(bytes=raw_id)), version, topic, state)
    assert sealer.leaf_v2(position, row, command) == general


def test_the_command_binding_hashes_the_stored_result_text() -> None:
    row = sealer.CommandRow("c-1", "case.receive", "P-0001", "2025-01-01T00:00:00+08:00", 7, 9,
                            '{"digest": "ab", "result": {}}')
    assert row.binding()["result_sha256"] == hashlib.sha256(row.result.encode()).hexdigest()
    assert sealer.CommandRow.of(("c-2", "t", "a", "r", None, None, "{}")) is None


def test_a_format_2_record_with_a_bad_command_or_format_is_refused() -> None:
    fields: dict[str, Any] = {"position": 0, "notification_id": 1, "aggregate_id": "a",
                              "version": 1, "type": "T.E", "recorded_at": "r", "topic": "m:T.E",
                              "payload": b"{}"}
    with pytest.raises(RecordFormatError, match="command"):
        canonical.event_record_v2(**fields, command={"actor": "x"})  # type: ignore[dict-item]
    record = canonical.event_record_v2(**fields, command=None)
    record["leaf_format"] = 3
    with pytest.raises(RecordFormatError, match="leaf_format"):
        canonical.record_bytes(record)


def test_leaf_record_gives_the_format_the_sealed_leaf_has() -> None:
    state = _state("2025-01-01T00:00:00+08:00", "x")
    row = sealer.EventRow(5, str(uuid.uuid4()), 1, "m:Town.Registered", state)
    command = sealer.CommandRow("c", "town.bootstrap", "system", "r", 5, 6, "{}")
    v2 = sealer.leaf_v2(4, row, command)
    v1 = sealer.leaf_of(4, row)
    assert sealer.leaf_record(4, row, command, v2)["leaf_format"] == 2
    assert "leaf_format" not in sealer.leaf_record(4, row, command, v1)
    edited = sealer.CommandRow("c", "town.bootstrap", "system", "r", 5, 6, '{"forged": 1}')
    with pytest.raises(RecordMismatchError):
        sealer.leaf_record(4, row, edited, v2)
