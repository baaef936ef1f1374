"""The year-end property-firm rules: ranking, bottom three, elimination list."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.rules import Evaluation, get_rule, inputs_digest, parse_overrides, reproduce
from ledger.rules.firm import (
    FIRM_APPRAISAL,
    FIRM_BOTTOM_THREE,
    FIRM_ELIMINATION,
    FIRM_RANKING,
    AppraisalInputs,
    BottomThreeParameters,
    FirmAppraisalParameters,
    FirmGrade,
    FirmGrades,
    FirmHistory,
    FirmOutcome,
    PastYear,
    appraise_year,
)

PROPERTY = settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)


def grade(firm_id: str, score: str, satisfaction: str = "80") -> FirmGrade:
    return FirmGrade(firm_id=firm_id, score=Decimal(score), satisfaction=Decimal(satisfaction))


def appraisal(
    year: int,
    grades: list[FirmGrade],
    history: dict[str, dict[int, str]] | None = None,
) -> AppraisalInputs:
    return AppraisalInputs.model_validate(
        {
            "year": year,
            "grades": [g.model_dump() for g in grades],
            "history": [
                {"firm_id": firm, "years": [{"year": y, "outcome": o} for y, o in years.items()]}
                for firm, years in (history or {}).items()
            ],
        }
    )


def outcome(inputs: AppraisalInputs, firm_id: str, **params: object) -> FirmOutcome:
    decision = appraise_year(inputs, FirmAppraisalParameters.model_validate(params))
    return next(firm for firm in decision.elimination.firms if firm.firm_id == firm_id)


# A town with five firms; Evergreen Property is last, Harbour Lights fourth, Bamboo Court third.
FIVE = [
    grade("Sunny Garden Services", "92"),
    grade("Jade River Property", "85"),
    grade("Bamboo Court Management", "75"),
    grade("Harbour Lights Property", "70"),
    grade("Evergreen Property", "65"),
]


# --- ranking --------------------------------------------------------------------------------


def test_firms_are_ranked_by_score_then_by_satisfaction() -> None:
    grades = FirmGrades(
        year=2025,
        grades=(
            grade("A", "80", "70"),
            grade("B", "90", "10"),
            grade("C", "80", "60"),
            grade("D", "70", "99"),
        ),
    )
    ranking = FIRM_RANKING.decide(grades).ranking
    assert [(firm.firm_id, firm.rank) for firm in ranking] == [
        ("B", 1),
        ("A", 2),
        ("C", 3),
        ("D", 4),
    ]


def test_firms_equal_on_score_and_satisfaction_share_a_rank_and_the_next_rank_is_skipped() -> None:
    grades = FirmGrades(
        year=2025,
        grades=(grade("A", "90"), grade("B", "80"), grade("C", "80"), grade("D", "70")),
    )
    ranks = [firm.rank for firm in FIRM_RANKING.decide(grades).ranking]
    assert ranks == [1, 2, 2, 4]


def test_a_firm_graded_twice_in_one_year_is_refused() -> None:
    with pytest.raises(ValidationError, match="graded more than once: A"):
        FirmGrades(year=2025, grades=(grade("A", "90"), grade("A", "80")))


def test_scores_given_as_floats_are_refused() -> None:
    with pytest.raises(ValidationError, match="exact decimals"):
        FirmGrade(firm_id="A", score=59.99, satisfaction=Decimal(50))  # type: ignore[arg-type]


def test_scores_are_kept_exact_with_two_decimals() -> None:
    firm = FirmGrade.model_validate({"firm_id": "A", "score": "60", "satisfaction": "49.990"})
    assert firm.model_dump(mode="json") == {
        "firm_id": "A",
        "score": "60.00",
        "satisfaction": "49.99",
    }
    with pytest.raises(ValidationError):
        FirmGrade.model_validate({"firm_id": "A", "score": "59.999", "satisfaction": "50"})
    with pytest.raises(ValidationError):
        FirmGrade.model_validate({"firm_id": "A", "score": "100.01", "satisfaction": "50"})


# --- bottom three ---------------------------------------------------------------------------


def test_with_exactly_three_firms_graded_there_is_no_bottom_three() -> None:
    decision = FIRM_BOTTOM_THREE.decide(FirmGrades(year=2025, grades=tuple(FIVE[:3])))
    assert decision.applies is False
    assert decision.firm_ids == ()
    assert decision.boundary_rank is None


def test_with_four_firms_graded_the_bottom_three_are_the_last_three() -> None:
    decision = FIRM_BOTTOM_THREE.decide(FirmGrades(year=2025, grades=tuple(FIVE[:4])))
    assert decision.applies is True
    assert decision.firm_ids == (
        "Jade River Property",
        "Bamboo Court Management",
        "Harbour Lights Property",
    )


def test_firms_tied_at_the_third_place_from_the_bottom_are_all_in_the_bottom_three() -> None:
    # Jade River and Bamboo Court tie on score and satisfaction at third place from the bottom.
    grades = [*FIVE[:2], grade("Bamboo Court Management", "85"), *FIVE[3:]]
    decision = FIRM_BOTTOM_THREE.decide(FirmGrades(year=2025, grades=tuple(grades)))
    assert decision.boundary_rank == 2
    assert set(decision.firm_ids) == {
        "Jade River Property",
        "Bamboo Court Management",
        "Harbour Lights Property",
        "Evergreen Property",
    }


def test_a_tie_on_score_is_broken_by_lower_satisfaction_at_the_boundary() -> None:
    grades = [
        grade("Sunny Garden Services", "92"),
        grade("Jade River Property", "85", "70"),
        grade("Bamboo Court Management", "85", "69.99"),
        grade("Harbour Lights Property", "70"),
        grade("Evergreen Property", "65"),
    ]
    decision = FIRM_BOTTOM_THREE.decide(FirmGrades(year=2025, grades=tuple(grades)))
    assert decision.firm_ids == (
        "Bamboo Court Management",
        "Harbour Lights Property",
        "Evergreen Property",
    )


def test_bottom_three_parameters_change_the_size_and_the_minimum() -> None:
    grades = FirmGrades(year=2025, grades=tuple(FIVE))
    two = FIRM_BOTTOM_THREE.decide(grades, BottomThreeParameters(size=2))
    assert two.firm_ids == ("Harbour Lights Property", "Evergreen Property")
    none = FIRM_BOTTOM_THREE.decide(grades, BottomThreeParameters(min_graded_exclusive=5))
    assert none.applies is False


# --- elimination ----------------------------------------------------------------------------


def test_score_exactly_60_with_satisfaction_below_50_is_not_eliminated() -> None:
    inputs = appraisal(2025, [grade("Evergreen Property", "60", "49.99")])
    assert outcome(inputs, "Evergreen Property").eliminated is False


def test_satisfaction_exactly_50_with_score_below_60_is_not_eliminated() -> None:
    inputs = appraisal(2025, [grade("Evergreen Property", "59.99", "50")])
    assert outcome(inputs, "Evergreen Property").eliminated is False


def test_score_59_99_and_satisfaction_49_99_is_eliminated() -> None:
    inputs = appraisal(2025, [grade("Evergreen Property", "59.99", "49.99")])
    firm = outcome(inputs, "Evergreen Property")
    assert firm.eliminated is True
    assert firm.actions == ("elimination_list",)
    assert [(r.code, r.zh) for r in firm.reasons] == [
        ("score_and_satisfaction_below", "得分低于60分且满意度低于50%")
    ]
    assert firm.reasons[0].en == "score below 60 and owners' satisfaction below 50%"


def test_firm_in_bottom_three_two_years_running_is_eliminated() -> None:
    inputs = appraisal(2025, FIVE, {"Evergreen Property": {2024: "bottom_three"}})
    firm = outcome(inputs, "Evergreen Property")
    assert firm.bottom_three is True
    assert firm.consecutive_bottom_three_years == 2
    assert firm.eliminated is True
    assert firm.actions == ("interview", "written_warning", "elimination_list")
    assert [r.code for r in firm.reasons] == ["bottom_three", "bottom_three_consecutive"]
    assert firm.reasons[1].zh == "连续2年考核居末三位"


def test_firm_in_bottom_three_this_year_only_gets_interview_and_written_warning() -> None:
    inputs = appraisal(2025, FIVE, {"Evergreen Property": {2024: "not_bottom_three"}})
    firm = outcome(inputs, "Evergreen Property")
    assert (firm.bottom_three, firm.eliminated) == (True, False)
    assert firm.actions == ("interview", "written_warning")
    assert firm.reasons[0].zh == "2025年度考核居末三位，约谈企业负责人并提出书面警告"


def test_bottom_three_in_years_one_and_three_but_not_two_is_not_consecutive() -> None:
    history = {"Evergreen Property": {2023: "bottom_three", 2024: "not_bottom_three"}}
    firm = outcome(appraisal(2025, FIVE, history), "Evergreen Property")
    assert firm.consecutive_bottom_three_years == 1
    assert firm.eliminated is False


def test_a_firm_not_graded_in_the_previous_year_breaks_the_run() -> None:
    # Graded and in the bottom three in 2023, not graded in 2024 (listed, or simply absent).
    for years in ({2023: "bottom_three", 2024: "not_graded"}, {2023: "bottom_three"}):
        firm = outcome(appraisal(2025, FIVE, {"Evergreen Property": years}), "Evergreen Property")
        assert firm.consecutive_bottom_three_years == 1
        assert firm.eliminated is False


def test_a_year_with_only_three_firms_graded_breaks_the_run() -> None:
    history = {"Evergreen Property": {2023: "bottom_three", 2024: "not_applicable"}}
    firm = outcome(appraisal(2025, FIVE, history), "Evergreen Property")
    assert firm.consecutive_bottom_three_years == 1
    assert firm.eliminated is False


def test_a_year_with_only_three_firms_graded_has_no_consecutive_elimination() -> None:
    inputs = appraisal(2025, FIVE[2:], {"Evergreen Property": {2024: "bottom_three"}})
    firm = outcome(inputs, "Evergreen Property")
    assert (firm.bottom_three, firm.consecutive_bottom_three_years, firm.eliminated) == (
        False,
        0,
        False,
    )


def test_three_years_running_counts_three_and_says_so() -> None:
    history = {"Evergreen Property": {2023: "bottom_three", 2024: "bottom_three"}}
    firm = outcome(appraisal(2025, FIVE, history), "Evergreen Property")
    assert firm.consecutive_bottom_three_years == 3
    assert firm.reasons[-1].zh == "连续3年考核居末三位"
    assert firm.reasons[-1].en == "in the bottom 3 for 3 consecutive appraisal years (2023-2025)"


def test_a_firm_can_be_eliminated_for_both_reasons_at_once() -> None:
    grades = [*FIVE[:4], grade("Evergreen Property", "40", "30")]
    firm = outcome(
        appraisal(2025, grades, {"Evergreen Property": {2024: "bottom_three"}}),
        "Evergreen Property",
    )
    assert [r.code for r in firm.reasons] == [
        "bottom_three",
        "score_and_satisfaction_below",
        "bottom_three_consecutive",
    ]


def test_elimination_thresholds_follow_the_parameters() -> None:
    inputs = appraisal(2025, [grade("Evergreen Property", "62", "45")])
    assert outcome(inputs, "Evergreen Property").eliminated is False
    params = parse_overrides(FIRM_APPRAISAL, ["elimination.score_below=65"])
    decision = FIRM_APPRAISAL.decide(inputs, params)
    assert decision.elimination.eliminated == ("Evergreen Property",)
    assert decision.elimination.firms[0].reasons[0].zh == "得分低于65分且满意度低于50%"


def test_three_consecutive_years_can_be_required_instead_of_two() -> None:
    inputs = appraisal(2025, FIVE, {"Evergreen Property": {2024: "bottom_three"}})
    firm = outcome(inputs, "Evergreen Property", elimination={"consecutive_years": 3})
    assert firm.eliminated is False


def test_history_for_a_firm_not_graded_this_year_is_refused() -> None:
    with pytest.raises(ValidationError, match="not graded in 2025: Evergreen Propery"):
        appraisal(2025, FIVE, {"Evergreen Propery": {2024: "bottom_three"}})


def test_history_must_be_of_earlier_years_listed_once() -> None:
    with pytest.raises(ValidationError, match="not before the appraisal year 2025"):
        appraisal(2025, FIVE, {"Evergreen Property": {2025: "bottom_three"}})
    with pytest.raises(ValidationError, match="listed more than once: 2024"):
        FirmHistory(
            firm_id="Evergreen Property",
            years=(
                PastYear(year=2024, outcome="bottom_three"),
                PastYear(year=2024, outcome="not_graded"),
            ),
        )


def test_the_elimination_rule_and_the_appraisal_agree() -> None:
    inputs = appraisal(2025, FIVE, {"Evergreen Property": {2024: "bottom_three"}})
    assert FIRM_ELIMINATION.decide(inputs) == FIRM_APPRAISAL.decide(inputs).elimination
    assert appraise_year(inputs) == FIRM_APPRAISAL.decide(inputs)


def test_the_order_grades_are_given_in_changes_neither_digest_nor_decision() -> None:
    forward = appraisal(2025, FIVE, {"Evergreen Property": {2024: "bottom_three"}})
    backward = appraisal(2025, FIVE[::-1], {"Evergreen Property": {2024: "bottom_three"}})
    assert inputs_digest(forward) == inputs_digest(backward)
    assert appraise_year(forward) == appraise_year(backward)


# --- properties -----------------------------------------------------------------------------

# Few distinct values make ties common; the boundary values of the rule are among them.
decimals = st.one_of(
    st.sampled_from(["0", "49.99", "50", "59.99", "60", "75", "100"]).map(Decimal),
    st.integers(0, 10_000).map(lambda n: Decimal(n) / 100),
)

OUTCOMES = ["bottom_three", "not_bottom_three", "not_graded", "not_applicable"]


@st.composite
def appraisal_inputs(draw: st.DrawFn) -> AppraisalInputs:
    count = draw(st.integers(0, 9))
    ids = [f"firm-{n}" for n in range(count)]
    grades = [
        FirmGrade(firm_id=firm_id, score=draw(decimals), satisfaction=draw(decimals))
        for firm_id in ids
    ]
    history = {
        firm_id: draw(
            st.dictionaries(st.integers(2021, 2024), st.sampled_from(OUTCOMES), max_size=4)
        )
        for firm_id in draw(st.lists(st.sampled_from(ids), unique=True) if ids else st.just([]))
    }
    return appraisal(2025, draw(st.permutations(grades)), history)


@PROPERTY
@given(appraisal_inputs())
def test_ranking_is_a_total_preorder_by_score_then_satisfaction(inputs: AppraisalInputs) -> None:
    ranking = FIRM_RANKING.decide(inputs.firm_grades()).ranking
    assert sorted(firm.firm_id for firm in ranking) == sorted(g.firm_id for g in inputs.grades)
    for a in ranking:
        better = [b for b in ranking if (b.score, b.satisfaction) > (a.score, a.satisfaction)]
        assert a.rank == 1 + len(better)
        for b in ranking:
            key_a, key_b = (a.score, a.satisfaction), (b.score, b.satisfaction)
            assert (a.rank < b.rank) == (key_a > key_b)
            assert (a.rank == b.rank) == (key_a == key_b)
    assert [firm.rank for firm in ranking] == sorted(firm.rank for firm in ranking)


@PROPERTY
@given(appraisal_inputs())
def test_bottom_three_is_empty_exactly_when_three_or_fewer_firms_are_graded(
    inputs: AppraisalInputs,
) -> None:
    decision = FIRM_BOTTOM_THREE.decide(inputs.firm_grades())
    assert (decision.firm_ids == ()) == (len(inputs.grades) <= 3)
    assert decision.applies == (len(inputs.grades) > 3)
    if decision.applies:
        assert len(decision.firm_ids) >= 3


@PROPERTY
@given(appraisal_inputs())
def test_bottom_three_holds_every_firm_tied_with_the_third_from_bottom(
    inputs: AppraisalInputs,
) -> None:
    assume(len(inputs.grades) > 3)
    ranking = FIRM_RANKING.decide(inputs.firm_grades()).ranking
    members = set(FIRM_BOTTOM_THREE.decide(inputs.firm_grades()).firm_ids)
    third_from_bottom = ranking[-3]
    for firm in ranking:
        tied = (firm.score, firm.satisfaction) == (
            third_from_bottom.score,
            third_from_bottom.satisfaction,
        )
        worse = firm.rank > third_from_bottom.rank
        assert (firm.firm_id in members) == (tied or worse)


@PROPERTY
@given(appraisal_inputs(), st.data())
def test_lowering_a_firms_score_never_takes_it_off_the_elimination_list(
    inputs: AppraisalInputs, data: st.DataObject
) -> None:
    assume(inputs.grades)
    target = data.draw(st.sampled_from(inputs.grades))
    lower = data.draw(st.integers(0, int(target.score * 100)).map(lambda n: Decimal(n) / 100))
    lowered = inputs.model_copy(
        update={
            "grades": tuple(
                g.model_copy(update={"score": lower}) if g.firm_id == target.firm_id else g
                for g in inputs.grades
            )
        }
    )
    before = outcome(inputs, target.firm_id)
    after = outcome(AppraisalInputs.model_validate(lowered.model_dump()), target.firm_id)
    assert after.rank >= before.rank
    if before.eliminated:
        assert after.eliminated
    if before.bottom_three:
        assert after.bottom_three


@PROPERTY
@given(
    appraisal_inputs(),
    st.integers(1, 5),
    st.integers(0, 6),
    decimals,
    decimals,
    st.integers(1, 4),
)
def test_the_appraisal_reproduces_exactly_from_the_json_of_its_record(
    inputs: AppraisalInputs,
    size: int,
    minimum: int,
    score_below: Decimal,
    satisfaction_below: Decimal,
    years: int,
) -> None:
    params = FirmAppraisalParameters.model_validate(
        {
            "bottom_three": {"size": size, "min_graded_exclusive": minimum},
            "elimination": {
                "score_below": score_below,
                "satisfaction_below": satisfaction_below,
                "consecutive_years": years,
            },
        }
    )
    for rule in (FIRM_APPRAISAL, FIRM_ELIMINATION):
        record = rule.evaluate(inputs, params)
        stored = json.loads(json.dumps(record.model_dump(mode="json"), ensure_ascii=False))
        again = Evaluation.model_validate(stored)
        assert reproduce(again) == rule.decide(inputs, params)
        assert get_rule(again.rule).Decision.model_validate(again.decision) == rule.decide(
            inputs, params
        )


@PROPERTY
@given(appraisal_inputs(), st.data())
def test_the_decision_does_not_depend_on_the_order_of_the_grades(
    inputs: AppraisalInputs, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(inputs.grades))
    again = AppraisalInputs(year=inputs.year, grades=tuple(shuffled), history=inputs.history)
    assert appraise_year(again) == appraise_year(inputs)
