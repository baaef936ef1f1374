"""The ledger's decoder (orjson, then only the wrapper objects, breadth first) gives what the
library's JSON transcoder gives, for any value it can encode: snapshots and events alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.kernel.transcoder import FastJSONTranscoder


def _library(t: JSONTranscoder | None = None) -> JSONTranscoder:
    t = t or JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


_keys = st.one_of(st.text(max_size=8), st.sampled_from(["_type_", "_data_", "x"]))
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=12),
    st.just('"_type_"'), st.just('a"_type_'),  # the marker inside strings
    st.uuids(), st.datetimes(), st.decimals(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(_keys, _values, max_size=6))
def test_targeted_decoding_equals_the_library_decoder(value: dict[str, Any]) -> None:
    library = _library()
    data = library.encode(value)
    expected = _outcome(library.decode, data)
    got = _outcome(_library(FastJSONTranscoder()).decode, data)
    assert got == expected
    assert _same_types(got, expected)


REFUSED = "refused"


def _outcome(decode: Any, data: bytes) -> Any:
    """The decoded value, or REFUSED: a user dict that looks like a wrapper of an unknown
    type, or with data its type cannot take, is refused by both. Which error is raised can
    differ when a value holds two such dicts (the library meets the first in document order,
    depth first; the ledger's decoder the first breadth first); either way the snapshot is
    not used (``ledger state`` skips any snapshot that does not decode)."""
    try:
        return decode(data)
    except Exception:  # noqa: BLE001 - compared, not handled
        return REFUSED


def _same_types(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return not isinstance(a, Decimal) or str(a) == str(b)


def test_a_value_with_two_bad_wrappers_is_refused_by_both() -> None:
    """The case that told the two apart by error type: both refuse it."""
    library = _library()
    value = {"": [[{"_data_": None, "_type_": None}], {"_data_": None, "_type_": []}]}
    data = library.encode(value)
    assert _outcome(library.decode, data) == REFUSED
    assert _outcome(_library(FastJSONTranscoder()).decode, data) == REFUSED
