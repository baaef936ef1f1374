"""The projection runner (one per view) and rebuilds into swapped tables, on both stores."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.application import GovernanceLedger
from ledger.projections.runner import (
    ProjectionRunningError,
    follow,
    lock_for,
    rebuild_swapped,
    runner_states,
    wait_for,
)
from ledger.projections.status import post_terms
from tests.conftest import ADMIN, sunny_garden


def rows(ledger: GovernanceLedger) -> list[dict[str, Any]]:
    with ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(post_terms).order_by(post_terms.c.appointed_event))]


def lag(ledger: GovernanceLedger, name: str) -> int:
    return next(int(p["lag"]) for p in ledger.projection_status() if p["name"] == name)


def appoint_building_leader(ledger: GovernanceLedger, n: int) -> int:
    result = ledger.execute({
        "type": "post.appoint", **ADMIN, "target_post": f"building_leader@ZQ-001/B{n}",
        "person": f"P-{2000 + n}", "person_name": f"楼组长{n}", "occurred_at": "2025-02-01"})
    return result.positions[-1]


def test_a_second_runner_of_a_projection_cannot_take_its_lock(ledger: GovernanceLedger) -> None:
    first, second = lock_for(ledger, "status"), lock_for(ledger, "status")
    assert first.acquire()
    try:
        assert not second.acquire()
        assert runner_states(ledger)["status"] is True
        with pytest.raises(ProjectionRunningError, match="already has a runner"):
            follow(ledger, ["status"], stop=threading.Event())
    finally:
        first.release()
    assert second.acquire()
    second.release()
    assert runner_states(ledger)["status"] is False


def test_the_runner_applies_new_events_as_they_are_written(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    stop = threading.Event()
    runner = threading.Thread(target=follow, args=(ledger, ["status"]),
                              kwargs={"stop": stop, "poll_max": 0.05})
    runner.start()
    try:
        last = appoint_building_leader(ledger, 1)
        assert wait_for(ledger, "status", last)
        assert any(r["post"] == "building_leader@ZQ-001/B1" for r in rows(ledger))
        assert runner_states(ledger)["status"] is True
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()


def test_a_rebuild_swaps_in_identical_rows_and_queries_keep_working_meanwhile(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    appoint_building_leader(ledger, 1)
    ledger.catch_up()
    before = rows(ledger)
    seen: dict[str, Any] = {}

    def meanwhile() -> None:
        # The new tables are built but not swapped in: the live ones still answer, and a
        # command written now reaches both (the rebuild catches up before the swap).
        seen["status"] = ledger.status("ZQ-001")
        seen["last"] = appoint_building_leader(ledger, 2)

    read = rebuild_swapped(ledger, ledger.projections["status"], batch=3, on_built=meanwhile)
    assert read == seen["last"]
    assert len(seen["status"]["communities"][0]["posts"]) == 3
    after = rows(ledger)
    assert after[:len(before)] == before
    assert after[-1]["post"] == "building_leader@ZQ-001/B2"
    assert lag(ledger, "status") == 0


def test_a_rebuild_keeps_the_tables_indexes(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.rebuild("status")
    ledger.rebuild("status")  # twice: no name left behind by the first gets in the way
    inspector = sa.inspect(ledger.engine)
    names = {ix["name"] for ix in inspector.get_indexes("rm_post_terms")}
    assert names == {ix.name for ix in post_terms.indexes}
    assert len(rows(ledger)) == 3
