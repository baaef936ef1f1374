"""Unit tests of the appraisal's pieces that need no database: town parameters to rule
parameters, earlier years' outcomes, and the aggregate's own refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ledger.aggregates.appraisal_year import AppraisalYear, AppraisalYearStateError
from ledger.handlers.appraisal import (
    AppraisalParameterError,
    build_inputs,
    firm_parameters,
    int_parameter,
    past_outcome,
)
from ledger.indicators import INDICATOR_CALCULATORS, percent


def _env(at: str = "2025-12-01T09:00:00+08:00") -> dict[str, Any]:
    return {"actor": "P-0010", "post": "town.housing_office.director@ZQ", "occurred_at": at,
            "command_id": "c", "command": "x", "basis": None, "authority": "a"}


def _year(year: int, grades: dict[str, tuple[str, str]]) -> AppraisalYear:
    agg = AppraisalYear(code=f"ZQ/{year}", town="ZQ", year=year, envelope=_env())
    for firm, (score, satisfaction) in grades.items():
        agg.record_score(firm, score, "镇房管办", "", _env())
        agg.record_satisfaction(firm, satisfaction, 100, "S", _env())
    return agg


def test_town_parameters_named_firm_set_the_rule_parameters_and_overrides_come_last() -> None:
    params = firm_parameters({"firm.elimination.score_below": "65",
                              "firm.bottom_three.size": 4, "meeting.x": 1},
                             ["elimination.satisfaction_below=55"])
    assert params.elimination.score_below == Decimal("65.00")
    assert params.elimination.satisfaction_below == Decimal("55.00")
    assert params.bottom_three.size == 4


def test_a_town_parameter_the_rule_does_not_have_is_refused_naming_it() -> None:
    with pytest.raises(AppraisalParameterError, match="no parameter 'elimination.score'"):
        firm_parameters({"firm.elimination.score": "65"})


def test_an_objection_period_that_is_not_a_number_is_refused() -> None:
    assert int_parameter({}, "appraisal.objection_days", 10) == 10
    with pytest.raises(AppraisalParameterError, match="whole number"):
        int_parameter({"appraisal.objection_days": "a week"}, "appraisal.objection_days", 10)


def test_earlier_years_give_each_firm_its_outcome_and_a_gap_ends_the_history() -> None:
    five = {"A": ("90", "90"), "B": ("80", "80"), "C": ("70", "70"), "D": ("60", "60"),
            "E": ("50", "50")}
    from ledger.rules.firm import FIRM_APPRAISAL

    y2023, y2024 = _year(2023, five), _year(2024, {k: v for k, v in five.items()
                                                     if k in "ABC"})
    for y in (y2023, y2024):
        inputs = build_inputs(y, lambda _k: None)
        evaluation = FIRM_APPRAISAL.evaluate(inputs).model_dump(mode="json")
        y.close(evaluation, {"key": FIRM_APPRAISAL.key}, [], 10, _env())
    assert past_outcome(y2023, "E") == "bottom_three"
    assert past_outcome(y2023, "A") == "not_bottom_three"
    assert past_outcome(y2024, "A") == "not_applicable"  # three graded: no bottom three
    assert past_outcome(y2024, "E") == "not_graded"
    assert past_outcome(None, "E") is None
    years = {"ZQ/2023": y2023, "ZQ/2024": y2024}
    inputs = build_inputs(_year(2025, five), years.get)
    history = {h.firm_id: [(p.year, p.outcome) for p in h.years] for h in inputs.history}
    assert history["E"] == [(2023, "bottom_three"), (2024, "not_graded")]


def test_a_closed_year_refuses_new_scores_and_reopening_needs_a_reason() -> None:
    y = _year(2025, {"A": ("90", "90")})
    from ledger.rules.firm import FIRM_APPRAISAL

    evaluation = FIRM_APPRAISAL.evaluate(build_inputs(y, lambda _k: None)).model_dump(mode="json")
    y.close(evaluation, {"key": FIRM_APPRAISAL.key}, [], 10, _env())
    with pytest.raises(AppraisalYearStateError, match="closed"):
        y.record_score("A", "95.00", "镇房管办", "", _env())
    with pytest.raises(AppraisalYearStateError, match="reason"):
        y.reopen("  ", _env())


def test_percentages_have_two_places_and_none_when_there_is_nothing_to_count() -> None:
    assert percent(2, 3) == Decimal("66.67")
    assert percent(0, 0) is None
    assert {"resolution_completion_rate", "four_in_one_cadence_kept", "case_closure_rate",
            "warnings_black"} <= set(INDICATOR_CALCULATORS)
