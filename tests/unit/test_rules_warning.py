"""The three-level, three-colour warning: suggested level and mandated measures."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.rules import Evaluation, InvalidParameterError, parse_overrides, reproduce
from ledger.rules.warning import (
    LEVELS,
    WARNING_MEASURES,
    WARNING_SUGGEST,
    CaseCounts,
    Level,
    MeasuresInputs,
    MeasuresParameters,
    SuggestParameters,
)

METRICS = ["open_cases", "overdue_cases", "reopened_cases", "duty_failures"]


def suggest(counts: Mapping[str, int], params: SuggestParameters | None = None) -> Level:
    inputs = CaseCounts.model_validate(
        {"community": "ZQ-001", "problem_type": "group_renting", **counts}
    )
    return WARNING_SUGGEST.decide(inputs, params).level


def test_a_community_without_cases_gets_no_warning() -> None:
    decision = WARNING_SUGGEST.decide(CaseCounts(community="ZQ-001", problem_type="other"))
    assert (decision.level, decision.triggers) == ("none", ())
    assert decision.reason.code == "warning_level_none"


@pytest.mark.parametrize(
    ("counts", "level"),
    [
        ({"open_cases": 2}, "none"),
        ({"open_cases": 3}, "orange"),
        ({"overdue_cases": 1}, "orange"),
        ({"duty_failures": 1}, "orange"),
        ({"open_cases": 6}, "red"),
        ({"overdue_cases": 3}, "red"),
        ({"reopened_cases": 1}, "red"),
        ({"duty_failures": 2}, "red"),
        ({"open_cases": 10}, "black"),
        ({"overdue_cases": 5}, "black"),
        ({"reopened_cases": 2}, "black"),
        ({"duty_failures": 4}, "black"),
        ({"open_cases": 9, "overdue_cases": 4, "reopened_cases": 1, "duty_failures": 3}, "red"),
    ],
)
def test_the_default_thresholds_suggest_the_documented_level(
    counts: dict[str, int], level: str
) -> None:
    assert suggest(counts) == level


def test_the_suggestion_names_the_counts_that_reached_the_level() -> None:
    inputs = CaseCounts(
        community="ZQ-001", problem_type="illegal_construction", open_cases=7, overdue_cases=3
    )
    decision = WARNING_SUGGEST.decide(inputs)
    assert decision.level == "red"
    assert [(t.metric, t.count, t.threshold) for t in decision.triggers] == [
        ("open_cases", 7, 6),
        ("overdue_cases", 3, 3),
    ]
    assert decision.reason.zh == "红色预警(警告级)：未结案件7件(≥6)、超期案件3件(≥3)"
    assert decision.reason.en == (
        "red warning (warning level): 7 open cases (>= 6), 3 overdue cases (>= 3)"
    )


def test_a_threshold_can_be_disabled_with_none() -> None:
    params = parse_overrides(WARNING_SUGGEST, ["black.reopened_cases=none"])
    assert params.black.reopened_cases is None
    assert suggest({"reopened_cases": 5}, params) == "red"


def test_a_more_severe_level_may_not_have_a_lower_threshold() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"red\.open_cases=2 is below orange\.open_cases=3"
    ):
        parse_overrides(WARNING_SUGGEST, ["red.open_cases=2"])
    with pytest.raises(ValidationError):
        SuggestParameters.model_validate({"orange": {"open_cases": 0}})


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValidationError):
        CaseCounts(community="ZQ-001", problem_type="other", open_cases=-1)


thresholds = st.one_of(st.none(), st.integers(1, 12))


@st.composite
def suggest_parameters(draw: st.DrawFn) -> SuggestParameters:
    levels = {
        level: {metric: draw(thresholds) for metric in METRICS}
        for level in ("orange", "red", "black")
    }
    try:
        return SuggestParameters.model_validate(levels)
    except ValidationError:
        assume(False)
        raise


counts = st.fixed_dictionaries({metric: st.integers(0, 15) for metric in METRICS})


@settings(database=None, deadline=None, max_examples=300)
@given(
    st.one_of(st.just(SuggestParameters()), suggest_parameters()),
    counts,
    st.sampled_from(METRICS),
    st.integers(1, 10),
)
def test_the_suggestion_never_falls_when_a_count_rises(
    params: SuggestParameters, before: dict[str, int], metric: str, rise: int
) -> None:
    after = {**before, metric: before[metric] + rise}
    low, high = suggest(before, params), suggest(after, params)
    assert LEVELS.index(high) >= LEVELS.index(low)


@settings(database=None, deadline=None, max_examples=100)
@given(counts)
def test_the_suggestion_reproduces_from_the_json_of_its_record(values: dict[str, int]) -> None:
    inputs = CaseCounts(community="ZQ-001", problem_type="unlicensed_business", **values)
    record = WARNING_SUGGEST.evaluate(inputs)
    stored = Evaluation.model_validate(json.loads(json.dumps(record.model_dump(mode="json"))))
    assert reproduce(stored) == WARNING_SUGGEST.decide(inputs)


# --- measures -------------------------------------------------------------------------------


def measures(level: str, params: MeasuresParameters | None = None) -> list[tuple[object, ...]]:
    decision = WARNING_MEASURES.decide(MeasuresInputs.model_validate({"level": level}), params)
    return [(m.code, m.due_in_days, m.repeat_every_days, m.condition) for m in decision.measures]


def test_no_warning_mandates_nothing() -> None:
    assert measures("none") == []


def test_orange_mandates_spot_checks_every_fourteen_days() -> None:
    assert measures("orange") == [("spot_check_patrol", 14, 14, None)]


def test_red_mandates_key_focus_on_site_supervision_and_a_rectification_plan() -> None:
    assert measures("red") == [
        ("key_focus_listing", 0, None, None),
        ("onsite_supervision", 3, None, None),
        ("rectification_plan", 7, None, None),
    ]


def test_black_mandates_a_stationed_team_then_third_parties_if_no_improvement() -> None:
    assert measures("black") == [
        ("key_rectification_listing", 0, None, None),
        ("supervision_team_stationed", 1, None, None),
        ("improvement_review", 30, None, None),
        ("third_party_patrol_control", 30, None, "no_clear_improvement"),
    ]
    decision = WARNING_MEASURES.decide(MeasuresInputs(level="black"))
    assert decision.measures[1].name_zh == "督导组蹲点开展督查指导整改"


def test_measure_deadlines_follow_the_parameters() -> None:
    params = parse_overrides(
        WARNING_MEASURES,
        [
            "orange_spot_check_every_days=7",
            "red_rectification_plan_within_days=10",
            "black_review_after_days=45",
        ],
    )
    assert measures("orange", params) == [("spot_check_patrol", 7, 7, None)]
    assert ("rectification_plan", 10, None, None) in measures("red", params)
    assert measures("black", params)[-1] == (
        "third_party_patrol_control",
        45,
        None,
        "no_clear_improvement",
    )


def test_lower_levels_measures_can_be_carried_up() -> None:
    params = MeasuresParameters(include_lower_levels=True)
    codes = [code for code, *_ in measures("black", params)]
    assert codes == [
        "spot_check_patrol",
        "key_focus_listing",
        "onsite_supervision",
        "rectification_plan",
        "key_rectification_listing",
        "supervision_team_stationed",
        "improvement_review",
        "third_party_patrol_control",
    ]
