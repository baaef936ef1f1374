"""Property: the appraisal tables rebuilt from zero equal the tables kept incrementally, whatever
sequence of scores, satisfaction rates, closings, reopenings and corrections produced them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import GovernanceLedger
from ledger.kernel.errors import LedgerError
from ledger.projections.appraisal import all_tables
from tests.appraisal_world import FIRMS, world
from tests.conftest import ADMIN
from tests.owners_world import HOUSING

NAMES = sorted(FIRMS)
YEARS = (2024, 2025)
decimals = st.integers(min_value=0, max_value=10000).map(lambda n: f"{n / 100:.2f}")
steps = st.lists(st.one_of(
    st.tuples(st.just("grade"), st.sampled_from(YEARS), st.sampled_from(NAMES), decimals),
    st.tuples(st.just("score"), st.sampled_from(YEARS), st.sampled_from(NAMES), decimals),
    st.tuples(st.just("satisfaction"), st.sampled_from(YEARS), st.sampled_from(NAMES), decimals),
    st.tuples(st.just("close"), st.sampled_from(YEARS), st.just(""), st.just("")),
    st.tuples(st.just("reopen"), st.sampled_from(YEARS), st.just(""), st.just("")),
), min_size=1, max_size=25)

_BASE: dict[str, Path] = {}


def _base_world(tmp: Path) -> Path:
    """A world file made once and copied per example (keeps the property test fast)."""
    if "path" not in _BASE:
        path = tmp / "world.db"
        led = GovernanceLedger(f"sqlite:///{path}")
        world(led)
        for year in YEARS:
            led.execute({"type": "appraisal.open_year", **ADMIN, "year": year,
                         "occurred_at": "2025-06-01"})
        led.close()
        _BASE["path"] = path
    return _BASE["path"]


def _apply(led: GovernanceLedger, step: tuple[str, int, str, str], day: int) -> None:
    kind, year, name, value = step
    at = f"2025-07-{1 + day % 28:02d}T{8 + day // 28:02d}:00"
    cmd: dict[str, Any] = {"year": year, **HOUSING, "occurred_at": at}
    if kind == "grade":  # score and satisfaction together, so that closings often succeed
        _apply(led, ("score", year, name, value), day)
        kind = "satisfaction"
    if kind == "score":
        cmd |= {"type": "appraisal.record_firm_score", "firm": FIRMS[name], "score": value,
                "appraising_body": "镇房管办"}
    elif kind == "satisfaction":
        cmd |= {"type": "appraisal.record_satisfaction", "firm": FIRMS[name], "percent": value,
                "sample_size": 100, "survey": "测评"}
    elif kind == "close":
        cmd |= {"type": "appraisal.close_year"}
    else:
        cmd |= {"type": "appraisal.reopen", "reason": "更正"}
    # Refused steps (closing an incomplete year, reopening an open one) write nothing.
    with contextlib.suppress(LedgerError):
        led.execute(cmd)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_appraisal_tables_rebuilt_from_zero_equal_the_tables_kept_incrementally(
        tmp_path_factory: Any, steps: list[tuple[str, int, str, str]]) -> None:
    import shutil

    base = _base_world(tmp_path_factory.mktemp("base"))
    path = tmp_path_factory.mktemp("ex") / "ledger.db"
    shutil.copy(base, path)
    led = GovernanceLedger(f"sqlite:///{path}")
    try:
        for day, step in enumerate(steps):
            _apply(led, step, day)
            led.catch_up("appraisal")  # kept incrementally, one command at a time
        incremental = all_tables(led)
        led.rebuild("appraisal")
        assert all_tables(led) == incremental
    finally:
        led.close()
