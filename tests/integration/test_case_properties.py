"""Property: random sequences of case commands never leave the lifecycle table, and every refused
command leaves the store exactly as it was. SQLite only, few examples (each runs real commands)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.aggregates.case import STATES, TRANSITIONS, Case
from ledger.application import GovernanceLedger
from ledger.kernel.errors import LedgerError
from tests.case_world import (
    HOUSING,
    JEO,
    JEO_STAFF,
    MARKET,
    PEACE,
    PEACE_STAFF,
    SUPERVISOR,
    URBAN,
    world,
)
from tests.conftest import store_snapshot

REFS = ("ZQ-2025-000001", "ZQ-2025-000002")
KINDS = sorted({c for (_s, c) in TRANSITIONS})
ACTORS = (PEACE, PEACE_STAFF, JEO, JEO_STAFF, SUPERVISOR, URBAN, HOUSING, MARKET)
HANDLER = {"urban_management": URBAN, "housing": HOUSING}
USUAL = {"receive": PEACE_STAFF, "accept": PEACE_STAFF, "reject": PEACE_STAFF, "assess": JEO,
         "dispatch": PEACE, "plan": JEO, "verify": SUPERVISOR, "close": PEACE,
         "callback": PEACE_STAFF, "reopen": SUPERVISOR, "merge": PEACE_STAFF,
         "supervise": SUPERVISOR}


#: The usual next command from each state (the happy path), to reach deep states often.
NEXT = {None: "receive", "received": "accept", "accepted": "assess", "reopened": "assess",
        "assessed": "dispatch", "dispatched": "acknowledge", "acknowledged": "plan",
        "planned": "inspect", "inspecting": "rectify", "rectifying": "feedback",
        "feedback_reported": "verify", "verified": "close", "closed": "callback",
        "called_back": "reopen"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger holding the small world, copied for each example."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    led = GovernanceLedger(f"sqlite:///{path}")
    world(led)
    led.close()
    return path


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Iterator[Any]:
    made: list[GovernanceLedger] = []

    def make() -> GovernanceLedger:
        copy = tmp_path / f"ex{len(made)}.db"
        shutil.copy(template, copy)
        led = GovernanceLedger(f"sqlite:///{copy}")
        made.append(led)
        return led

    yield make
    for led in made:
        led.close()


def status(led: GovernanceLedger, ref: str) -> str | None:
    case = led.load(Case.id_for(ref))
    return case.status if isinstance(case, Case) else None


def payload(kind: str, ref: str, data: st.DataObject, led: GovernanceLedger) -> dict[str, Any]:
    other = REFS[1] if ref == REFS[0] else REFS[0]
    case = led.load(Case.id_for(ref))
    fields: dict[str, Any] = {
        "receive": {"community": "ZQ-001", "channel": "hotline",
                    "problem_type": "group_renting", "description": "疑似群租"},
        "reject": {"reason": "重复"},
        "assess": {"mode": data.draw(st.sampled_from(["single", "multi"]))},
        "dispatch": {"departments": data.draw(st.sampled_from(
            [["urban_management"], ["housing"], ["fire_brigade"],
             ["housing", "market_supervision"]]))
            if data.draw(st.integers(0, 3)) == 0 or not isinstance(case, Case)
            else (["housing", "market_supervision"] if case.mode == "multi"
                  else [data.draw(st.sampled_from(["urban_management", "housing"]))])},
        "return": {"reason": "非本部门职责"},
        "plan": {"subtasks": {"housing": "核查", "market_supervision": "查处"}},
        "inspect": {"findings": "现场核查"},
        "rectify": {"plan": "整改", "deadline": "2025-12-31"},
        "feedback": {"result": "已整改"},
        "callback": {"satisfied": data.draw(st.booleans())},
        "reopen": {"reason": "问题反弹"},
        "merge": {"into": other},
        "supervise": {"instruction": "督办"},
    }.get(kind, {})
    if data.draw(st.integers(0, 4)) == 0:
        who = data.draw(st.sampled_from(ACTORS))
    elif kind in USUAL:
        who = USUAL[kind]
    elif isinstance(case, Case) and case.mode == "single" and case.departments:
        who = HANDLER.get(case.departments[0], URBAN)
    else:
        who = JEO_STAFF
    return {"type": f"case.{kind}", **who, "ref": ref, **fields}


@settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_case_commands_stay_in_the_lifecycle_and_refusals_change_nothing(
        fresh: Any, data: st.DataObject) -> None:
    led = fresh()
    steps = data.draw(st.integers(1, 36))
    for step in range(steps):
        ref = REFS[1] if data.draw(st.integers(0, 4)) == 0 else REFS[0]
        before = {r: status(led, r) for r in REFS}
        allowed = sorted(c for (s, c) in TRANSITIONS if s == before[ref])
        choice = data.draw(st.integers(0, 9))
        if choice <= 6 and before[ref] in NEXT:
            kind = NEXT[before[ref]]
            if kind == "plan" and data.draw(st.booleans()):
                kind = "inspect"
        else:
            kind = data.draw(st.sampled_from(allowed if choice <= 8 and allowed else KINDS))
        command = payload(kind, ref, data, led)
        command["occurred_at"] = f"2025-03-{1 + step // 12:02d}T{8 + step % 12:02d}:00:00"
        snapshot = store_snapshot(led)
        try:
            led.execute(command)
        except LedgerError:
            # Refused: nothing written, no case moved.
            assert store_snapshot(led) == snapshot
            assert {r: status(led, r) for r in REFS} == before
            continue
        after = {r: status(led, r) for r in REFS}
        # Accepted: the move is exactly the one the table allows.
        assert (before[ref], kind) in TRANSITIONS, (before[ref], kind)
        assert after[ref] == TRANSITIONS[(before[ref], kind)]
        assert after[ref] in STATES
        event(f"reached {after[ref]}")
        other = REFS[1] if ref == REFS[0] else REFS[0]
        assert after[other] == before[other]
