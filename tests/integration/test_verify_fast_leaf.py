"""``verify``'s own format-2 leaf hashing (straight from the joined row) gives, for every event
of the sample year, the sealed leaf and the leaf of ``sealer.leaf_v2`` through the RFC 8785
encoder; on shapes it does not handle it steps aside instead of guessing."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from ledger.application import GovernanceLedger
from ledger.integrity import sealer
from ledger.integrity.verifier import _leaf_pages, _split_row, _v2_leaf
from tests.conftest import load_sample_year


def _rows(ledger: GovernanceLedger) -> list[tuple[Any, ...]]:
    with ledger.engine.connect() as conn:
        return [r for page in _leaf_pages(conn, ledger.events_table.name) for r in page]


def test_every_sample_year_leaf_equals_the_sealed_and_the_general_one(
        ledger: GovernanceLedger) -> None:
    load_sample_year(ledger)
    rows = _rows(ledger)
    assert len(rows) > 1000
    bound = 0
    for row in rows:
        pos, nid, sealed, oid, version, topic, state, command = _split_row(row)
        fast = _v2_leaf(pos, nid, oid, version, topic, state, *row[7:])
        event = sealer.EventRow(nid, sealer.uuid_text(oid), version, topic, bytes(state))
        general = sealer.leaf_v2(pos, event, None if command is None
                                 else sealer.CommandRow.of(command), ledger.mapper)
        assert fast == general == sealed, pos
        bound += command is not None
    assert bound > 500  # most events are their command's first


def test_unusual_command_rows_hash_as_the_general_encoder_or_step_aside() -> None:
    oid = UUID("9b2f4c1e-5d3a-4f6b-8c7d-1e2f3a4b5c6d")
    state = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2025-01-01T08:00:00+08:00"}}'
    topic = "ledger.aggregates.community:Community.Registered"
    odd = ("cmd-\u0001\"\\\u007f颛桥", "t\n", "P-\u2028", "2025-01-01T00:00:00+00:00", 5, 7,
           json.dumps({"x": "\u00e9\t"}, ensure_ascii=False))
    fast = _v2_leaf(3, 5, oid, 1, topic, state, *odd)
    general = sealer.leaf_v2(3, sealer.EventRow(5, str(oid), 1, topic, state),
                             sealer.CommandRow.of(odd))
    assert fast == general
    assert _v2_leaf(3, 5, oid, 1, topic, state, *odd[:6], None) is None  # no result text
    lone = ("\ud800", *odd[1:])
    assert _v2_leaf(3, 5, oid, 1, topic, state, *lone) is None  # not valid Unicode
    assert _v2_leaf(3, 5, oid, 1, topic, state, *odd[:4], 2**60, 7, odd[6]) is None
    assert _v2_leaf(3, 5, "not-a-uuid", 1, topic, state, *odd) is None
    assert _v2_leaf(3, 5, oid, 1, "no-colon", state, *odd) is None
    assert _v2_leaf(3, 5, oid, 1, topic, b"{}", *odd) is None
