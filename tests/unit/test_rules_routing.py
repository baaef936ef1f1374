"""Routing a matter: party-building joint meeting, residents' committee, or four-in-one meeting."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.rules import Evaluation, parse_overrides, reproduce
from ledger.rules.routing import (
    CLAUSES,
    MATTER_ROUTING,
    MatterAttributes,
    MatterField,
    RoutingDecision,
    RoutingParameters,
)

PARTIES = ["residents_committee", "owners_committee", "property_firm", "party_org"]
DEPARTMENTS = ["department:police", "department:urban_management", "department:housing"]
FIELDS: list[MatterField] = ["management", "building", "service", "public_order", "other"]
ROUTE_OF_REASON = {
    "overlapping_duties": "party_building_joint_meeting",
    "several_departments": "party_building_joint_meeting",
    "joint_handling": "four_in_one",
    "public_interest_of_all_residents": "rc_autonomous",
    "default": "four_in_one",
}


def route(**attributes: object) -> RoutingDecision:
    return MATTER_ROUTING.decide(MatterAttributes.model_validate(attributes))


def test_a_matter_of_overlapping_duties_goes_to_the_party_building_joint_meeting() -> None:
    decision = route(
        bodies_to_act=["residents_committee"],
        field="public_order",
        public_interest_all_residents=True,
        overlapping_duties=True,
    )
    assert decision.route == "party_building_joint_meeting"
    assert decision.reason.code == "overlapping_duties"
    assert decision.clause_zh == "对属于职责交叉、部门协作的事项,由居委会党建联建联席会议处置。"
    assert decision.also_matched == ("public_interest_of_all_residents",)


def test_a_matter_needing_two_departments_goes_to_the_party_building_joint_meeting() -> None:
    by_count = route(field="other", departments_involved=2)
    by_bodies = route(field="other", bodies_to_act=["department:police", "department:housing"])
    for decision in (by_count, by_bodies):
        assert decision.route == "party_building_joint_meeting"
        assert decision.reason.code == "several_departments"


def test_a_matter_of_one_department_is_not_one_of_departmental_cooperation() -> None:
    decision = route(
        field="public_order",
        public_interest_all_residents=True,
        bodies_to_act=["residents_committee", "department:police"],
        departments_involved=1,
    )
    assert decision.route == "rc_autonomous"


def test_public_interest_of_all_residents_is_decided_by_the_residents_committee() -> None:
    for field in ["management", "building", "service", "public_order"]:
        decision = route(
            field=field,
            public_interest_all_residents=True,
            bodies_to_act=["residents_committee", "party_org"],
        )
        assert decision.route == "rc_autonomous"
        assert decision.reason.code == "public_interest_of_all_residents"
        assert "按居委重大事项决策程序由居委自治处置" in decision.clause_zh


def test_public_interest_outside_the_committees_fields_goes_to_the_four_in_one_meeting() -> None:
    decision = route(field="other", public_interest_all_residents=True)
    assert (decision.route, decision.reason.code) == ("four_in_one", "default")


def test_a_matter_the_property_firm_must_act_on_goes_to_the_four_in_one_meeting() -> None:
    decision = route(
        field="management",
        public_interest_all_residents=True,
        bodies_to_act=["residents_committee", "property_firm"],
    )
    assert decision.route == "four_in_one"
    assert decision.reason.code == "joint_handling"
    assert decision.clause_zh.startswith("对应当由居委、物业公司或业委会共同处理的事项")
    assert decision.also_matched == ("public_interest_of_all_residents",)


def test_autonomy_can_be_set_to_precede_joint_handling() -> None:
    params = parse_overrides(MATTER_ROUTING, ["joint_handling_precedes_autonomy=false"])
    attributes = MatterAttributes(
        field="management",
        public_interest_all_residents=True,
        bodies_to_act=("residents_committee", "owners_committee"),
    )
    decision = MATTER_ROUTING.decide(attributes, params)
    assert decision.route == "rc_autonomous"
    assert decision.also_matched == ("joint_handling",)


def test_a_matter_no_sentence_claims_goes_to_the_four_in_one_meeting() -> None:
    decision = route(field="service", bodies_to_act=["residents_committee"])
    assert (decision.route, decision.reason.code, decision.also_matched) == (
        "four_in_one",
        "default",
        (),
    )


def test_the_number_of_departments_that_makes_cooperation_is_a_parameter() -> None:
    attributes = MatterAttributes(field="other", departments_involved=2)
    params = RoutingParameters(several_departments_from=3)
    assert MATTER_ROUTING.decide(attributes, params).route == "four_in_one"


def test_bodies_are_stored_sorted_and_once() -> None:
    attributes = MatterAttributes(
        field="other",
        bodies_to_act=("property_firm", "department:police", "property_firm"),
    )
    assert attributes.bodies_to_act == ("department:police", "property_firm")


def test_an_unknown_body_is_refused() -> None:
    for body in ["street_office", "department:", "department:Police", "Residents_Committee"]:
        with pytest.raises(ValidationError):
            MatterAttributes(field="other", bodies_to_act=(body,))
    with pytest.raises(ValidationError):
        MatterAttributes.model_validate({"field": "finance"})
    with pytest.raises(ValidationError):
        MatterAttributes(field="other", departments_involved=-1)


SEED = Path("/work/shared/seed/zhuanqiao-collaborative-governance.zh.txt")


@pytest.mark.skipif(not SEED.exists(), reason="the seed text is not on this machine")
def test_every_quoted_clause_is_verbatim_from_the_source_text() -> None:
    text = SEED.read_text(encoding="utf-8")
    for clause_zh, _ in CLAUSES.values():
        assert clause_zh in text


def every_matter() -> list[MatterAttributes]:
    bodies = PARTIES + DEPARTMENTS
    return [
        MatterAttributes(
            bodies_to_act=tuple(b for b, chosen in zip(bodies, mask, strict=True) if chosen),
            public_interest_all_residents=public,
            field=field,
            departments_involved=departments,
            overlapping_duties=overlapping,
        )
        for mask in itertools.product([False, True], repeat=len(bodies))
        for public in (False, True)
        for field in FIELDS
        for departments in range(4)
        for overlapping in (False, True)
    ]


def test_every_combination_of_attributes_yields_exactly_one_consistent_route() -> None:
    for precedes in (True, False):
        params = RoutingParameters(joint_handling_precedes_autonomy=precedes)
        for matter in every_matter():
            decision = MATTER_ROUTING.decide(matter, params)
            assert decision.route == ROUTE_OF_REASON[decision.reason.code]
            assert (decision.clause_zh, decision.clause_en) == CLAUSES[decision.reason.code]  # type: ignore[index]
            joint_meeting = matter.overlapping_duties or matter.department_count() >= 2
            assert (decision.route == "party_building_joint_meeting") == joint_meeting
            if not joint_meeting:
                public = matter.public_interest_all_residents and matter.field != "other"
                acts = {"property_firm", "owners_committee"} & set(matter.bodies_to_act)
                autonomous = public and not (precedes and acts)
                assert (decision.route == "rc_autonomous") == autonomous


matters = st.builds(
    MatterAttributes,
    bodies_to_act=st.lists(st.sampled_from(PARTIES + DEPARTMENTS)).map(tuple),
    public_interest_all_residents=st.booleans(),
    field=st.sampled_from(FIELDS),
    departments_involved=st.integers(0, 5),
    overlapping_duties=st.booleans(),
)


@settings(database=None, deadline=None, max_examples=200)
@given(matters, st.integers(1, 4), st.booleans())
def test_re_deciding_from_the_recorded_json_gives_the_same_decision(
    matter: MatterAttributes, several: int, precedes: bool
) -> None:
    params = RoutingParameters(
        several_departments_from=several, joint_handling_precedes_autonomy=precedes
    )
    record = MATTER_ROUTING.evaluate(matter, params)
    stored = Evaluation.model_validate(json.loads(json.dumps(record.model_dump(mode="json"))))
    assert reproduce(stored) == MATTER_ROUTING.decide(matter, params)
    assert stored.decision["route"] in {
        "party_building_joint_meeting",
        "rc_autonomous",
        "four_in_one",
    }
