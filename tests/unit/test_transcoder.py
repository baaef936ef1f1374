"""The orjson transcoder writes exactly the bytes the library's JSON transcoder writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

from click.testing import CliRunner
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.transcoder import FastJSONTranscoder


def _registered(t: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


LIBRARY, FAST = _registered(JSONTranscoder()), _registered(FastJSONTranscoder())

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
timestamps = st.datetimes(timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=8))])) | st.datetimes()
scalars = (st.none() | st.booleans() | st.integers() | text | timestamps
           | st.decimals(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(text, inner, max_size=4), max_leaves=20)
states = st.dictionaries(text, values, max_size=8)


@settings(max_examples=300)
@given(states)
def test_encoding_is_byte_for_byte_the_librarys(state: dict[str, Any]) -> None:
    encoded = FAST.encode(state)
    assert encoded == LIBRARY.encode(state)
    assert FAST.decode(encoded) == LIBRARY.decode(encoded)


def test_what_orjson_refuses_is_encoded_by_the_library() -> None:
    state = {"big": 2**70, "keys": {1: "int key"}}
    assert FAST.encode(state) == LIBRARY.encode(state)


class Thing(Aggregate):
    """An aggregate whose ``Renamed`` event gained a field in its class version 2."""

    class Renamed(Aggregate.Event):
        class_version = 2
        name: str
        display: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["display"] = state["name"].upper()


def test_the_library_upcasts_events_read_through_the_fast_transcoder(tmp_path: Path) -> None:
    """Upcasting lives in the mapper, around the transcoder: an event stored at class
    version 1 (no ``class_version`` in its state) comes back at version 2."""
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        assert isinstance(led.mapper.transcoder, FastJSONTranscoder)
        v1_state = {"timestamp": datetime(2025, 1, 1, tzinfo=UTC), "name": "old"}
        agg_id = uuid4()
        event = led.mapper.to_domain_event(StoredEvent(
            originator_id=agg_id, originator_version=2, topic=get_topic(Thing.Renamed),
            state=led.mapper.transcoder.encode(v1_state)))
    finally:
        led.close()
    assert isinstance(event, Thing.Renamed)
    assert (event.name, event.display) == ("old", "OLD")


def test_every_event_of_the_sample_year_reencodes_to_its_stored_bytes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert CliRunner().invoke(cli, ["--db", url, "demo"]).exit_code == 0
    led = GovernanceLedger(url)
    t = led.events_table
    with led.engine.connect() as conn:
        states = [bytes(r[0]) for r in conn.execute(select(t.c.state))]
    led.close()
    assert len(states) > 500
    for state in states:
        assert FAST.encode(LIBRARY.decode(state)) == state
        assert FAST.decode(state) == LIBRARY.decode(state)


def test_integers_beyond_64_bits_are_read_back_exactly() -> None:
    """orjson would read them as floats; the ledger's readers keep them exact."""
    from ledger.kernel.eventlog import decode

    state = {"timestamp": datetime(2025, 1, 1, tzinfo=UTC), "big": -(2**70), "n": 2**64}
    stored = FAST.encode(state)
    assert FAST.decode(stored) == LIBRARY.decode(stored)
    assert FAST.decode(stored)["big"] == -(2**70)
    event = decode(None, 1, uuid4(), 1, "ledger.aggregates.town:Town.Registered", stored)
    assert (event.data["big"], event.data["n"]) == (-(2**70), 2**64)
