"""Which coding a feed answer is compressed with, from the request's ``Accept-Encoding``
(RFC 9110, 12.5.3): brotli only when ranked above gzip, gzip on a tie, never a coding the
client refused (``q=0``), and any header value, however malformed, answered without error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.feed.cache import _weights, content_coding


def coding(*values: bytes) -> str | None:
    return content_coding({"headers": [(b"accept-encoding", v) for v in values]})


@pytest.mark.parametrize(("header", "expected"), [
    (b"br", "br"),
    (b"gzip;q=0.5, br", "br"),
    (b"BR;Q=1, GZIP;Q=0.9", "br"),
    (b"*;q=0.3, br;q=0.4", "br"),
    (b"gzip, br", "gzip"),
    (b"br, gzip", "gzip"),
    (b"gzip, deflate, br, zstd", "gzip"),
    (b"*", "gzip"),
    (b"br;q=0.5, *", "gzip"),
    (b"br;q=nope, gzip", "gzip"),
    (b"br;q=2, gzip;q=0.1", "gzip"),  # a weight above 1 is not a weight
    (b"gzip;q=0, br;q=0", None),
    (b"*;q=0", None),
    (b"identity", None),
    (b"", None),
])
def test_the_coding_follows_the_clients_ranking(header: bytes, expected: str | None) -> None:
    assert coding(header) == expected


def test_no_header_means_no_compression() -> None:
    assert content_coding({"headers": []}) is None
    assert coding(b"gzip;q=0.1", b"br;q=0.9") == "br"  # two header lines read as one


@given(st.lists(st.tuples(st.sampled_from(["gzip", "br", "*", "deflate", "x", ""]),
                          st.one_of(st.none(), st.floats(allow_nan=True),
                                    st.text(max_size=5))), max_size=6))
def test_a_refused_coding_is_never_chosen(entries: list[tuple[str, object]]) -> None:
    header = ", ".join(name if q is None else f"{name};q={q}" for name, q in entries)
    got = coding(header.encode("utf-8", "surrogatepass"))
    weights = _weights(header)
    star = weights.get("*", 0.0)
    if got is not None:
        assert weights.get(got, star) > 0
    if got == "br":
        assert weights.get("br", star) > weights.get("gzip", star)
    if got is None:
        assert weights.get("gzip", star) <= 0


@given(st.binary(max_size=200))
def test_any_header_bytes_are_answered(value: bytes) -> None:
    assert coding(value) in (None, "gzip", "br")
