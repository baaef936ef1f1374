"""Problem cases end to end: the lifecycle, its refusals, the boards as they were."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from ledger.aggregates.case import (
    CaseNotAssignedError,
    CaseTransitionError,
    HandlerCannotVerifyError,
)
from ledger.application import GovernanceLedger
from ledger.kernel import privacy
from ledger.kernel.config import localize
from ledger.kernel.errors import DepartmentNotFoundError
from ledger.projections.cases import (
    case_board,
    case_documents,
    duty_failure_counts,
    duty_lists,
)
from tests.case_world import (
    HOUSING,
    JEO,
    JEO_STAFF,
    MARKET,
    PEACE,
    PEACE_STAFF,
    SUPERVISOR,
    SUPERVISOR2,
    URBAN,
    receive,
    run,
    single_to_closed,
    world,
)
from tests.conftest import store_snapshot

JOINT = "ZQ-2025-000007"


def joint_case(led: GovernanceLedger) -> None:
    """A group-renting case that needs housing and market supervision together."""
    # 3 March: a neighbour calls the hotline.
    receive(led, JOINT, "2025-03-03T09:00:00", problem_type="group_renting",
            caller={"name": "赵先生", "phone": "13800000000"})
    run(led, "case.accept", PEACE_STAFF, "2025-03-03T10:00:00", ref=JOINT)
    # The joint-enforcement office assesses it as a multi-department case.
    run(led, "case.assess", JEO, "2025-03-03T15:00:00", ref=JOINT, mode="multi",
        reason="群租兼无照经营")
    run(led, "case.dispatch", PEACE, "2025-03-04T09:00:00", ref=JOINT,
        departments=["housing", "market_supervision"])
    run(led, "case.acknowledge", JEO_STAFF, "2025-03-04T10:00:00", ref=JOINT)
    run(led, "case.plan", JEO, "2025-03-05T09:00:00", ref=JOINT,
        subtasks={"housing": "核查租赁与隔断", "market_supervision": "查处无照经营"})
    # Each department inspects its part.
    run(led, "case.inspect", HOUSING, "2025-03-06T10:00:00", ref=JOINT,
        findings="一套房隔成8间", evidence=["photo:0306-1"])
    run(led, "case.inspect", MARKET, "2025-03-06T14:00:00", ref=JOINT,
        findings="一楼无照小吃店", evidence=["photo:0306-2"])
    run(led, "case.rectify", JEO_STAFF, "2025-03-07T09:00:00", ref=JOINT,
        plan="拆除隔断，关停无照经营", deadline="2025-04-07")
    run(led, "case.feedback", JEO_STAFF, "2025-04-03T09:00:00", ref=JOINT,
        result="隔断已拆除，小吃店已关停", evidence=["photo:0403-1"])
    run(led, "case.verify", SUPERVISOR, "2025-04-05T09:00:00", ref=JOINT, note="现场复核属实")
    run(led, "case.close", PEACE, "2025-04-06T09:00:00", ref=JOINT)
    run(led, "case.callback", PEACE_STAFF, "2025-04-10T09:00:00", ref=JOINT, satisfied=True)


def test_history_of_a_joint_case_tells_its_story_in_order_with_every_actor_and_post(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    joint_case(ledger)
    story = [(e.type, e.envelope["actor"], e.envelope["post"]) for e in ledger.history(JOINT)]
    assert story == [
        ("Case.Received", "P-0005", "town.peace_office.staff@ZQ"),
        ("Case.Accepted", "P-0005", "town.peace_office.staff@ZQ"),
        ("Case.Assessed", "P-0006", "town.joint_enforcement_office.director@ZQ"),
        ("Case.Dispatched", "P-0004", "town.peace_office.director@ZQ"),
        ("Case.Acknowledged", "P-0007", "town.joint_enforcement_office.staff@ZQ"),
        ("Case.JointPlanDrawnUp", "P-0006", "town.joint_enforcement_office.director@ZQ"),
        ("Case.Inspected", "P-0042", "department.housing.staff@ZQ"),
        ("Case.Inspected", "P-0044", "department.market_supervision.staff@ZQ"),
        ("Case.RectificationPlanned", "P-0007", "town.joint_enforcement_office.staff@ZQ"),
        ("Case.FeedbackReported", "P-0007", "town.joint_enforcement_office.staff@ZQ"),
        ("Case.Verified", "P-0008", "town.supervision_team.leader@ZQ"),
        ("Case.Closed", "P-0004", "town.peace_office.director@ZQ"),
        ("Case.CalledBack", "P-0005", "town.peace_office.staff@ZQ"),
    ]
    events = ledger.history(JOINT)
    assert [e.data.get("status") for e in events][-1] == "called_back"
    times = [e.envelope["occurred_at"] for e in events]
    assert times == sorted(times)
    # The caller's personal data lives in one sub-dict, sealed under the caller's own key.
    sealed = events[0].data["caller"]
    assert sealed["subject"] == f"S-{JOINT}"
    assert "13800000000" not in json.dumps(events[0].data, ensure_ascii=False)
    with ledger.engine.connect() as conn:
        assert privacy.unseal(conn, sealed) == {"name": "赵先生", "phone": "13800000000"}
    assert events[5].data["subtasks"] == {"housing": "核查租赁与隔断",
                                          "market_supervision": "查处无照经营"}


def test_cases_as_of_a_past_date_shows_the_board_as_it_was(ledger: GovernanceLedger) -> None:
    world(ledger)
    joint_case(ledger)

    def board(when: str) -> dict[str, Any]:
        at = localize(datetime.fromisoformat(when))
        return {c["ref"]: c for c in case_board(ledger, as_of=at)["cases"]}

    assert board("2025-03-02") == {}
    assert board("2025-03-03T12:00")[JOINT]["status"] == "accepted"
    on_5th = board("2025-03-05T12:00")[JOINT]
    assert (on_5th["status"], on_5th["mode"]) == ("planned", "multi")
    assert on_5th["departments"] == ["housing", "market_supervision"]
    assert board("2025-03-20")[JOINT]["status"] == "rectifying"
    assert board("2025-03-20")[JOINT]["due"] == "2025-04-07"
    assert board("2025-04-20")[JOINT]["status"] == "called_back"
    # The present board agrees with the last past one.
    assert case_board(ledger)["cases"][0]["status"] == "called_back"


def test_an_overdue_case_shows_on_the_overdue_board_and_is_supervised(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "town.set_parameter", {"actor": "P-0003", "post": "town.government.mayor@ZQ"},
        "2025-02-01", town="ZQ", name="case.limit.dispatched_days", value=2)
    single_to_closed(ledger, "ZQ-2025-000002", stop="case.dispatch")
    at = localize(datetime(2025, 3, 6, 12))
    overdue = case_board(ledger, overdue=True, as_of=at)["cases"]
    assert [(c["ref"], c["status"], c["due"], c["days_overdue"]) for c in overdue] == [
        ("ZQ-2025-000002", "dispatched", "2025-03-03", 3)]
    run(ledger, "case.supervise", SUPERVISOR, "2025-03-06T12:00:00", ref="ZQ-2025-000002",
        instruction="限期签收", deadline="2025-03-08")
    supervised = ledger.history("ZQ-2025-000002")[-1]
    assert supervised.type == "Case.Supervised"
    assert supervised.data["overdue_days"] == 3
    assert supervised.data["overdue_state"] == "dispatched"
    later = case_board(ledger, as_of=localize(datetime(2025, 3, 7)))
    assert later["cases"][0]["overdue"] is False
    assert later["cases"][0]["supervisions"] == 1


def _refused(led: GovernanceLedger, error: type[Exception], match: str, *args: Any,
             **fields: Any) -> None:
    before = store_snapshot(led)
    with pytest.raises(error, match=match):
        run(led, *args, **fields)
    assert store_snapshot(led) == before


def test_closing_an_unverified_case_is_refused_naming_its_state(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    single_to_closed(ledger, "ZQ-2025-000003", stop="case.feedback")
    _refused(ledger, CaseTransitionError, "is feedback_reported: 'close' is not allowed",
             "case.close", PEACE, "2025-03-01T20:00:00", ref="ZQ-2025-000003")


def test_the_handler_verifying_their_own_work_is_refused(ledger: GovernanceLedger) -> None:
    world(ledger)
    # The joint-enforcement office director acknowledged, planned, rectified and reported
    # this joint case: his post may verify cases, but not this one.
    joint_case_until_feedback(ledger)
    _refused(ledger, HandlerCannotVerifyError, "P-0006 handled case",
             "case.verify", JEO, "2025-04-04T09:00:00", ref=JOINT)


def joint_case_until_feedback(led: GovernanceLedger) -> None:
    receive(led, JOINT, "2025-03-03T09:00:00", problem_type="group_renting")
    run(led, "case.accept", PEACE_STAFF, "2025-03-03T10:00:00", ref=JOINT)
    run(led, "case.assess", JEO, "2025-03-03T15:00:00", ref=JOINT, mode="multi")
    run(led, "case.dispatch", PEACE, "2025-03-04T09:00:00", ref=JOINT,
        departments=["housing", "market_supervision"])
    run(led, "case.acknowledge", JEO, "2025-03-04T10:00:00", ref=JOINT)
    run(led, "case.plan", JEO, "2025-03-05T09:00:00", ref=JOINT,
        subtasks={"housing": "核查", "market_supervision": "查处"})
    run(led, "case.inspect", HOUSING, "2025-03-06T10:00:00", ref=JOINT, findings="隔断")
    run(led, "case.rectify", JEO, "2025-03-07T09:00:00", ref=JOINT, plan="拆除",
        deadline="2025-04-07")
    run(led, "case.feedback", JEO, "2025-04-03T09:00:00", ref=JOINT, result="已拆除")


def test_dispatching_to_a_department_that_does_not_exist_is_refused(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    single_to_closed(ledger, "ZQ-2025-000004", stop="case.assess")
    _refused(ledger, DepartmentNotFoundError, "department 'fire_brigade' does not exist",
             "case.dispatch", PEACE, "2025-03-01T20:00:00", ref="ZQ-2025-000004",
             departments=["fire_brigade"])


def test_a_department_acting_on_a_case_not_dispatched_to_it_is_refused(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    single_to_closed(ledger, "ZQ-2025-000005", stop="case.dispatch")
    # Dispatched to urban management; housing tries to acknowledge and to inspect it.
    _refused(ledger, CaseNotAssignedError, "not dispatched to department:housing",
             "case.acknowledge", HOUSING, "2025-03-01T20:00:00", ref="ZQ-2025-000005")
    run(ledger, "case.acknowledge", URBAN, "2025-03-01T20:00:00", ref="ZQ-2025-000005")
    _refused(ledger, CaseNotAssignedError, "not dispatched to department:housing",
             "case.inspect", HOUSING, "2025-03-01T21:00:00", ref="ZQ-2025-000005",
             findings="越权核查")


def test_a_department_returns_a_case_and_it_goes_back_to_assessment(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    single_to_closed(ledger, "ZQ-2025-000006", stop="case.dispatch")
    run(ledger, "case.return", URBAN, "2025-03-02T09:00:00", ref="ZQ-2025-000006",
        reason="属房管职责")
    row = case_board(ledger)["cases"][0]
    assert (row["status"], row["returns"], row["departments"]) == ("accepted", 1, [])
    run(ledger, "case.assess", JEO, "2025-03-02T10:00:00", ref="ZQ-2025-000006", mode="single")
    run(ledger, "case.dispatch", PEACE, "2025-03-02T11:00:00", ref="ZQ-2025-000006",
        departments=["housing"])
    run(ledger, "case.acknowledge", HOUSING, "2025-03-02T12:00:00", ref="ZQ-2025-000006")


def test_a_dissatisfied_callback_reopens_the_case(ledger: GovernanceLedger) -> None:
    world(ledger)
    single_to_closed(ledger, "ZQ-2025-000008")
    run(ledger, "case.callback", PEACE_STAFF, "2025-03-05", ref="ZQ-2025-000008",
        satisfied=False, note="又搭起来了")
    run(ledger, "case.reopen", SUPERVISOR2, "2025-03-06", ref="ZQ-2025-000008",
        reason="回访不满意")
    row = case_board(ledger)["cases"][0]
    assert (row["status"], row["reopens"]) == ("reopened", 1)
    # The reopened case goes back to assessment.
    run(ledger, "case.assess", JEO, "2025-03-06T10:00", ref="ZQ-2025-000008", mode="single")
    assert ledger.history("ZQ-2025-000008")[-1].data["status"] == "assessed"


def test_a_case_is_reopened_when_the_problem_returns_even_after_a_satisfied_callback(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    single_to_closed(ledger, "ZQ-2025-000009")
    run(ledger, "case.callback", PEACE_STAFF, "2025-03-05", ref="ZQ-2025-000009",
        satisfied=True)
    # The problem returns a month later: the same case starts its second cycle.
    result = run(ledger, "case.reopen", PEACE, "2025-04-06", ref="ZQ-2025-000009",
                 reason="违建复发")
    assert result.detail["status"] == "reopened"
    reopened = ledger.history("ZQ-2025-000009")[-1]
    assert reopened.type == "Case.Reopened" and reopened.data["reason"] == "违建复发"


def test_duplicate_reports_merge_into_one_case(ledger: GovernanceLedger) -> None:
    world(ledger)
    receive(ledger, "ZQ-2025-000010", "2025-03-01T09:00")
    receive(ledger, "ZQ-2025-000011", "2025-03-01T11:00", channel="rc_report")
    run(ledger, "case.merge", PEACE_STAFF, "2025-03-01T12:00", ref="ZQ-2025-000011",
        into="ZQ-2025-000010")
    assert ledger.history("ZQ-2025-000010")[-1].type == "Case.DuplicateMerged"
    board = {c["ref"]: c["status"] for c in case_board(ledger)["cases"]}
    assert board == {"ZQ-2025-000010": "received", "ZQ-2025-000011": "merged"}
    _refused(ledger, CaseTransitionError, "is merged", "case.accept", PEACE_STAFF,
             "2025-03-01T13:00", ref="ZQ-2025-000011")


def test_responsibility_lists_are_versioned_and_duty_failures_count_against_the_party(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    mayor = {"actor": "P-0003", "post": "town.government.mayor@ZQ"}
    entries = [
        {"problem_type": "group_renting", "stage": "source_control",
         "party": "residents_committee",
         "duties": [{"code": "rental_registration", "text": "出租房屋登记"}]},
        {"problem_type": "group_renting", "stage": "classified_management",
         "party": "department:housing",
         "duties": [{"code": "partition_check", "text": "核查违规隔断"}]},
    ]
    run(ledger, "duty.issue", mayor, "2025-02-01", town="ZQ", entries=entries[:1])
    run(ledger, "duty.issue", mayor, "2025-02-15", town="ZQ", entries=entries)
    lists = duty_lists(ledger)["lists"]
    assert [(x["town"], x["version"], len(x["entries"])) for x in lists] == [("ZQ", 2, 2)]
    run(ledger, "duty.record_failure", SUPERVISOR, "2025-05-01", party="residents_committee",
        community="ZQ-001", problem_type="group_renting", stage="source_control",
        duty="rental_registration", description="未登记出租房屋")
    counts = duty_failure_counts(ledger, 2025)
    assert counts["parties"] == [{"party": "residents_committee", "year": 2025, "failures": 1}]
    assert counts["failures"][0]["duty_text"] == "出租房屋登记"
    assert counts["failures"][0]["list_version"] == 2
    # A duty the list does not hold cannot be cited.
    _refused(ledger, Exception, "no duty 'patrol'", "duty.record_failure", SUPERVISOR,
             "2025-05-02", party="residents_committee", community="ZQ-001",
             problem_type="group_renting", stage="source_control", duty="patrol",
             description="x")


def test_template_documents_attach_to_a_case_or_a_community_with_their_required_fields(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    receive(ledger, "ZQ-2025-000012")
    run(ledger, "document.file", SUPERVISOR, "2025-03-02", template="coordination_supervision",
        case="ZQ-2025-000012",
        fields={"supervised_party": "department:urban_management", "matter": "超期未处置",
                "requirement": "三日内处置", "deadline": "2025-03-05"})
    run(ledger, "document.file", PEACE, "2025-03-03", template="analysis_review",
        community="ZQ-001", problem_type="illegal_construction",
        fields={"period": "2025Q1", "situation": "新增违建3处", "analysis": "集中在顶楼",
                "comments": "居委巡查不到位"})
    docs = case_documents(ledger)
    assert [(d["target"], d["template"]) for d in docs] == [
        ("ZQ-2025-000012", "coordination_supervision"), ("ZQ-001", "analysis_review")]
    before = store_snapshot(ledger)
    with pytest.raises(Exception, match="assessment_warning fields: .*recommendation"):
        run(ledger, "document.file", PEACE, "2025-03-04", template="assessment_warning",
            community="ZQ-001",
            fields={"problem_type": "group_renting", "assessment": "x",
                    "suggested_level": "red"})
    assert store_snapshot(ledger) == before


def test_only_a_hotline_case_records_a_caller(ledger: GovernanceLedger) -> None:
    world(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(Exception, match="only hotline cases record a caller"):
        receive(ledger, "ZQ-2025-000013", channel="street_patrol", caller={"name": "路人"})
    assert store_snapshot(ledger) == before
