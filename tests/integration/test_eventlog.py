"""The log reader decodes every stored event exactly as the library's own mapper does."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.eventlog import decode, read_aggregate
from tests.conftest import load_sample_year

HIDDEN = ("originator_id", "originator_version", "timestamp", "originator_topic", "envelope")


def test_fast_decoding_matches_the_library_mapper_on_the_whole_sample_year(tmp_path: Path
                                                                           ) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert CliRunner().invoke(cli, ["--db", url, "demo"]).exit_code == 0
    led = GovernanceLedger(url)
    t = led.events_table
    with led.engine.connect() as conn:
        rows = conn.execute(select(t.c.id, t.c.originator_id, t.c.originator_version, t.c.topic,
                                   t.c.state)).all()
    assert len(rows) > 500
    for pos, agg, version, topic, state in rows:
        fast = decode(None, pos, agg, version, topic, bytes(state))
        ev = led.mapper.to_domain_event(StoredEvent(originator_id=agg, originator_version=version,
                                                    topic=topic, state=bytes(state)))
        assert fast.data == {k: v for k, v in ev.__dict__.items() if k not in HIDDEN}
        assert fast.envelope == ev.envelope
        assert fast.recorded_at == ev.timestamp
        assert fast.type == type(ev).__qualname__
    led.close()


def test_reading_an_aggregate_gives_what_decoding_each_row_gives(ledger: GovernanceLedger
                                                                 ) -> None:
    """``read_aggregate`` (the driver's cursor, a shorter decode) against ``decode`` of every
    row, for every aggregate of the sample year, on both stores."""
    load_sample_year(ledger)
    t = ledger.events_table
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(t.c.id, t.c.originator_id, t.c.originator_version, t.c.topic,
                                   t.c.state).order_by(t.c.originator_id,
                                                       t.c.originator_version)).all()
        by_aggregate: dict[object, list[object]] = {}
        for pos, agg, version, topic, state in rows:
            by_aggregate.setdefault(agg, []).append(
                decode(None, pos, agg, version, topic, bytes(state)))
        assert len(by_aggregate) > 100
        for agg, expected in by_aggregate.items():
            assert list(read_aggregate(conn, t, ledger.mapper, agg)) == expected
