"""case.supervision@1: the ladder remind → 督办 → 通报 after a grace period (issue 17, item 2)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.rules import get_rule, parse_overrides, reproduce
from ledger.rules.supervision import (
    LADDER,
    OverdueItem,
    SupervisionInputs,
    SupervisionParameters,
    reached_level,
)

RULE = get_rule("case.supervision@1")
AS_OF = date(2025, 6, 30)


def item(days_overdue: int, current: str = "none", key: str = "ZQ-2025-000001") -> OverdueItem:
    return OverdueItem.model_validate({
        "kind": "case", "key": key, "step": "inspecting@2025-06-01T09:00:00+08:00",
        "community": "ZQ-001", "due": AS_OF - timedelta(days=days_overdue),
        "current_level": current})


@pytest.mark.parametrize(("days", "level"), [
    (-3, "none"), (0, "none"), (1, "remind"), (2, "remind"), (3, "supervise"), (6, "supervise"),
    (7, "notify"), (40, "notify"),
])
def test_the_default_ladder(days: int, level: str) -> None:
    assert reached_level(days, SupervisionParameters()) == level


def test_the_grace_period_delays_every_rung() -> None:
    params = parse_overrides(RULE, ["grace_days=2"])
    assert reached_level(2, params) == "none"
    assert reached_level(3, params) == "remind"
    assert reached_level(9, params) == "notify"


def test_a_ladder_that_does_not_climb_is_refused() -> None:
    with pytest.raises(ValueError, match="the ladder must climb"):
        parse_overrides(RULE, ["supervise_after_days=10"])


def test_an_item_already_at_its_level_is_not_escalated_again() -> None:
    inputs = SupervisionInputs(town="ZQ", as_of=AS_OF, items=[item(4, "supervise"),
                                                             item(8, "supervise", "ZQ-2")])
    decision = RULE.decide(inputs)
    assert [(e.key, e.previous_level, e.level) for e in decision.escalations] == [
        ("ZQ-2", "supervise", "notify")]
    assert decision.escalations[0].reason.zh.startswith("超期8天")


levels = st.sampled_from(LADDER)
params_st = st.tuples(st.integers(0, 5), st.integers(1, 5), st.integers(0, 5),
                      st.integers(0, 10)).map(
    lambda t: SupervisionParameters(grace_days=t[0], remind_after_days=t[1],
                                    supervise_after_days=t[1] + t[2],
                                    notify_after_days=t[1] + t[2] + t[3]))


@given(st.lists(st.tuples(st.integers(-10, 60), levels), max_size=8), params_st)
def test_applying_a_decision_and_deciding_again_escalates_nothing(
        spec: list[tuple[int, str]], params: SupervisionParameters) -> None:
    items = [item(d, cur, key=f"ZQ-2025-{i:06d}") for i, (d, cur) in enumerate(spec)]
    first = RULE.decide(SupervisionInputs(town="ZQ", as_of=AS_OF, items=items), params)
    reached = {e.key: e.level for e in first.escalations}
    after = [i.model_copy(update={"current_level": reached.get(i.key, i.current_level)})
             for i in items]
    second = RULE.decide(SupervisionInputs(town="ZQ", as_of=AS_OF, items=after), params)
    assert second.escalations == []


@given(st.integers(-10, 60), st.integers(0, 30), params_st)
def test_more_days_overdue_never_lower_the_level(days: int, more: int,
                                                 params: SupervisionParameters) -> None:
    assert LADDER.index(reached_level(days + more, params)) >= \
        LADDER.index(reached_level(days, params))


@given(st.lists(st.integers(-5, 30), max_size=6))
def test_every_decision_reproduces_from_its_record(days: list[int]) -> None:
    items = [item(d, key=f"ZQ-2025-{i:06d}") for i, d in enumerate(days)]
    record = RULE.evaluate(SupervisionInputs(town="ZQ", as_of=AS_OF, items=list(reversed(items))))
    assert reproduce(record) is not None
    # The inputs are canonical: their order does not change the digest.
    other = RULE.evaluate(SupervisionInputs(town="ZQ", as_of=AS_OF, items=items))
    assert other.inputs_digest == record.inputs_digest
