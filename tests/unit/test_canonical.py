"""The canonical record bytes that Merkle leaves hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.canonical import (
    MAX_SAFE_INTEGER,
    event_record,
    event_record_bytes,
    fast_event_record_bytes,
    record_bytes,
)
from ledger.integrity.errors import RecordFormatError
from ledger.integrity.merkle import leaf_hash

BASE: dict[str, Any] = {
    "position": 5,
    "notification_id": 6,
    "aggregate_id": "agg-1",
    "version": 1,
    "type": "Named",
    "recorded_at": "2024-05-01T08:00:00+00:00",
    "payload": b'{"name":"x"}',
}


def test_record_bytes_are_exactly_the_documented_example() -> None:
    expected = (
        b'{"aggregate_id":"agg-1","notification_id":6,"payload_b64":"eyJuYW1lIjoieCJ9",'
        b'"position":5,"recorded_at":"2024-05-01T08:00:00+00:00","type":"Named","version":1}'
    )
    assert event_record_bytes(**BASE) == expected
    assert leaf_hash(expected) == hashlib.sha256(b"\x00" + expected).digest()


def test_non_ascii_and_control_characters_are_encoded_per_rfc_8785() -> None:
    record = event_record_bytes(
        position=0,
        notification_id=1,
        aggregate_id="转桥-社区/1",
        version=12,
        type='Quote"Back\\slash\b\f\n\r\t\x00\x1f\x7f\u2028😀',
        recorded_at="2024-05-01T08:00:00.123456+08:00",
        payload=b"\x00\xff\xfe",
    )
    expected = (
        '{"aggregate_id":"转桥-社区/1","notification_id":1,"payload_b64":"AP/+",'
        '"position":0,"recorded_at":"2024-05-01T08:00:00.123456+08:00",'
        '"type":"Quote\\"Back\\\\slash\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028😀",'
        '"version":12}'
    ).encode()
    assert record == expected


def test_record_bytes_parse_back_to_the_record_object() -> None:
    record = event_record(**BASE)
    assert json.loads(record_bytes(record)) == record
    assert record_bytes(record) == event_record_bytes(**BASE)


def test_empty_payload_and_largest_safe_integers_are_accepted() -> None:
    fields = {**BASE, "payload": b"", "position": 2**53 - 1}
    assert b'"payload_b64":"","position":9007199254740991' in event_record_bytes(**fields)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("position", -1, "outside"),
        ("notification_id", 2**53, "outside"),
        ("version", True, "must be an integer"),
        ("version", 1.0, "must be an integer"),
        ("aggregate_id", 7, "must be a string"),
        ("type", "bad\ud800", "lone surrogate"),
        ("payload", "text", "payload must be bytes"),
    ],
)
def test_record_with_a_field_of_the_wrong_type_or_range_is_refused(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(RecordFormatError, match=message):
        event_record_bytes(**{**BASE, field: value})


def test_record_object_with_missing_extra_or_non_canonical_members_is_refused() -> None:
    record: dict[str, object] = dict(event_record(**BASE))
    with pytest.raises(RecordFormatError, match="unexpected \\['extra'\\]"):
        record_bytes({**record, "extra": 1})
    del record["type"]
    with pytest.raises(RecordFormatError, match="missing \\['type'\\]"):
        record_bytes(record)
    with pytest.raises(RecordFormatError, match="base64"):
        record_bytes({**event_record(**BASE), "payload_b64": "eyJuYW1lIjoieCJ9\n"})
    with pytest.raises(RecordFormatError, match="base64"):
        record_bytes({**event_record(**BASE), "payload_b64": "AB=="})


# --- the specialised encoder --------------------------------------------------------------

_ints = st.integers(min_value=0, max_value=MAX_SAFE_INTEGER)
_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(position=_ints, notification_id=_ints, version=_ints, aggregate_id=_texts, type=_texts,
       recorded_at=_texts, payload=st.binary(max_size=64))
def test_fast_encoder_is_byte_identical_to_rfc_8785(**fields: Any) -> None:
    assert fast_event_record_bytes(**fields) == event_record_bytes(**fields)


def test_fast_encoder_writes_control_characters_del_and_non_ascii_like_rfc_8785() -> None:
    nasty = "\x00\x01\x1f\x7f\"\\\b\f\n\r\t/转桥\u2028\U0001f600"
    fields = {**BASE, "aggregate_id": nasty, "type": nasty, "recorded_at": nasty}
    assert fast_event_record_bytes(**fields) == event_record_bytes(**fields)


@pytest.mark.parametrize(("field", "value"), [
    ("position", -1), ("version", MAX_SAFE_INTEGER + 1), ("notification_id", True),
    ("type", 5), ("aggregate_id", "\ud800"), ("payload", "not bytes"),
])
def test_fast_encoder_refuses_what_the_general_encoder_refuses(field: str, value: Any) -> None:
    with pytest.raises(RecordFormatError):
        fast_event_record_bytes(**{**BASE, field: value})
