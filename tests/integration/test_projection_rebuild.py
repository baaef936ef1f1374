"""A rebuild reads the log once for every read model and keeps working state in memory; the
tables it leaves are exactly those that catching up one event at a time leaves, on both stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import ledger.projections as projections
import ledger.projections.cases as cases_projections
from ledger.application import GovernanceLedger
from ledger.cli import sample_files
from ledger.kernel.eventlog import iter_log
from ledger.kernel.store import projection_tracking, write_intent
from ledger.projections import catch_up, catch_up_many, rebuild_many


def load_sample_year(led: GovernanceLedger) -> int:
    """Load the bundled Zhuanqiao sample year; return the log's head."""
    for f in sample_files():
        with Path(f).open(encoding="utf-8") as fh:
            for outcome in led.apply(fh):
                assert outcome.ok, f"{f.name} line {outcome.line}: {outcome.error}"
    return led.recorder.max_notification_id() or 0


def contents(led: GovernanceLedger) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in a stable order, and every tracking row."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with led.engine.connect() as conn:
        for p in led.projections.values():
            for table in p.tables:
                out[table.name] = sorted((tuple(r) for r in conn.execute(sa.select(table))),
                                         key=repr)
        out["tracking"] = sorted(tuple(r) for r in conn.execute(sa.select(
            projection_tracking.c.name, projection_tracking.c.position,
            projection_tracking.c.schema_version)))
    return out


def start_over(led: GovernanceLedger) -> None:
    """Empty every read model and forget its position (the next catch-up starts from zero)."""
    with write_intent(), led.engine.begin() as conn:
        for p in led.projections.values():
            p.reset(conn)
            conn.execute(sa.delete(projection_tracking))
    for p in led.projections.values():
        p.discard()


def test_a_one_pass_rebuild_leaves_the_rows_catching_up_event_by_event_leaves(
        ledger: GovernanceLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    head = load_sample_year(ledger)
    everything = list(ledger.projections.values())

    # One event per transaction, nothing remembered from one batch to the next: every event
    # reads what it needs back from the tables.
    start_over(ledger)
    monkeypatch.setattr(projections, "MEMO_LIMIT", 0)
    assert catch_up_many(ledger, everything, batch=1) == head
    one_by_one = contents(ledger)
    monkeypatch.undo()
    assert {r[1] for r in one_by_one["tracking"]} == {head}
    assert len(one_by_one["rm_audit_actions"]) == head
    assert one_by_one["rm_case_intervals"] and one_by_one["rm_delib_items"]

    # One pass for all of them, large batches, rows kept in memory and written at flush.
    counts = ledger.rebuild()
    assert counts == dict.fromkeys(ledger.projections, head)
    assert contents(ledger) == one_by_one

    # Small batches and a small memory: working state and remembered keys are evicted and
    # read back mid-rebuild.
    monkeypatch.setattr(projections, "MEMO_LIMIT", 4)
    monkeypatch.setattr(cases_projections, "KEY_LIMIT", 2)
    rebuild_many(ledger, everything, batch=37)
    assert contents(ledger) == one_by_one

    # Each read model caught up on its own, from zero, in ordinary batches; the keys a
    # key-table read model remembers stay within their limit.
    start_over(ledger)
    for p in everything:
        assert catch_up(ledger, p, batch=250) == head
        if isinstance(p, cases_projections._KeyedProjection):
            assert len(p.keys) <= 2
    assert contents(ledger) == one_by_one


def test_a_catch_up_after_another_process_moved_the_position_reads_the_tables_again(
        db_url: str) -> None:
    """Working state kept between batches is dropped when the tracked position is not where
    this process left it (another process applied events meanwhile)."""
    first, second = GovernanceLedger(db_url), GovernanceLedger(db_url)
    try:
        load_sample_year(first)
        start_over(first)
        head = first.recorder.max_notification_id() or 0
        # Split the log inside the life of one case: its first event, its second, the rest.
        by_case: dict[Any, list[int]] = {}
        with first.engine.connect() as conn:
            for e in iter_log(conn, first.events_table, first.mapper):
                if e.type.startswith("Case."):
                    by_case.setdefault(e.aggregate_id, []).append(e.position)
        longest = max(by_case.values(), key=len)
        one, two = longest[0], longest[1]
        cases_1, cases_2 = first.projections["cases"], second.projections["cases"]
        # The first process applies the first third, the second the next, the first the rest:
        # what the first remembers of the cases the second moved on is stale and must go.
        catch_up(first, cases_1, batch=100, stop=one)
        assert cases_1.synced == one
        catch_up(second, cases_2, batch=100, stop=two)
        assert catch_up(first, cases_1, batch=100) == head - two
        assert cases_1.synced == head
        by_parts = contents(first)["rm_case_intervals"]
        first.rebuild("cases")
        assert contents(first)["rm_case_intervals"] == by_parts
    finally:
        first.close()
        second.close()


def test_after_a_swap_every_connection_still_zeroes_what_it_frees(tmp_path: Path) -> None:
    """The swap drops the live read-model tables without zeroing their pages; the rebuilt
    rows are the same, and every connection afterwards zeroes what it frees again (erasure
    relies on it)."""
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        head = load_sample_year(led)
        assert catch_up_many(led, list(led.projections.values())) == head
        before = contents(led)
        led.rebuild()
        assert contents(led) == before
        conns = [led.engine.connect() for _ in range(3)]
        try:
            assert [c.exec_driver_sql("PRAGMA secure_delete").scalar() for c in conns] == [1] * 3
        finally:
            for c in conns:
                c.close()
    finally:
        led.close()
