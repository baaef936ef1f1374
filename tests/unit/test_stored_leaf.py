"""``sealer.stored_leaf``: the leaf hash written straight from the stored columns is the hash of
the reference RFC 8785 record, for every shape of stored event."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.canonical import MAX_SAFE_INTEGER, event_record_bytes
from ledger.integrity.errors import IntegrityError
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.sealer import EventRow, record_fields, stored_leaf, uuid_text

PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'


def _reference(position: int, nid: int, oid: bytes | UUID, version: int, topic: str,
               state: bytes) -> bytes | type[Exception]:
    """The leaf by the general encoder, or the kind of error it raises."""
    try:
        row = EventRow(nid, uuid_text(oid), version, topic, state)
        return leaf_hash(event_record_bytes(**record_fields(position, row, None)))
    except (IntegrityError, ValueError) as e:
        return IntegrityError if isinstance(e, IntegrityError) else ValueError


def _fast(position: int, nid: int, oid: bytes | UUID, version: int, topic: str,
          state: bytes) -> bytes | type[Exception]:
    try:
        return stored_leaf(position, nid, oid, version, topic, state)
    except (IntegrityError, ValueError) as e:
        return IntegrityError if isinstance(e, IntegrityError) else ValueError


def test_a_stored_community_event_hashes_like_the_reference_record() -> None:
    oid = UUID("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
    state = (PREFIX + b'2025-02-01T01:00:00.123456+00:00"},"code":"ZQ-001",'
             b'"name":"\xe9\x98\xb3\xe5\x85\x89\xe8\x8a\xb1\xe5\x9b\xad"}')
    topic = "ledger.aggregates.community:Community.Registered"
    expected = _reference(7, 8, oid.bytes, 1, topic, state)
    assert stored_leaf(7, 8, oid.bytes, 1, topic, state) == expected
    assert stored_leaf(7, 8, oid, 1, topic, state) == expected  # PostgreSQL gives a UUID


_text = st.text(st.characters(codec="utf-8"), max_size=12)
_timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    _text,
    st.just('2025-01-01T00:00:00"x'),  # a quote inside: the end of the time is not '"}'
)
_topics = st.one_of(
    st.builds(lambda m, t: f"{m}:{t}", _text, _text),
    _text,  # no colon: the slow path decodes the JSON
)
_ints = st.one_of(st.integers(0, 1000), st.integers(0, MAX_SAFE_INTEGER),
                  st.integers(MAX_SAFE_INTEGER + 1, 2**64), st.integers(-5, -1))


@st.composite
def _states(draw: st.DrawFn) -> bytes:
    ts = draw(_timestamps).encode("utf-8", "surrogatepass")
    rest = draw(st.one_of(st.just(b'"},"x":1}'), st.just(b'"}}'), st.binary(max_size=40)))
    if draw(st.booleans()):
        return PREFIX + ts + rest
    return b'{"timestamp":{"_type_":"datetime_iso","_data_":"' + ts + b'"},"a":"\\"b"}'


@settings(max_examples=400, deadline=None)
@given(position=_ints, nid=_ints, version=_ints, raw_id=st.binary(min_size=16, max_size=16),
       as_uuid=st.booleans(), topic=_topics, state=_states())
def test_fast_leaf_equals_the_reference_record_hash_for_any_stored_event(
        position: int, nid: int, version: int, raw_id: bytes, as_uuid: bool, topic: str,
        state: bytes) -> None:
    oid: bytes | UUID = UUID(bytes=raw_id) if as_uuid else raw_id
    expected = _reference(position, nid, oid, version, topic, state)
    assert _fast(position, nid, oid, version, topic, state) == expected
