"""The year-end appraisal through the store: every edge of the rules, the records they leave on
the appraisal year and on the firms, corrections after closing, objections, what-if, and the
refusals that leave the store unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import audit
from ledger.aggregates.appraisal_year import (
    AppraisalYearStateError,
    IndicatorError,
    ObjectionError,
)
from ledger.aggregates.property_firm import PropertyFirm
from ledger.application import GovernanceLedger
from ledger.handlers.appraisal import AppraisalParameterError, simulate
from ledger.indicators import indicator_table
from ledger.kernel.config import localize
from ledger.kernel.errors import CommandValidationError, PostNotHeldError
from ledger.projections.appraisal import firm_table, follow_up_list, oc_table
from ledger.projections.owners import blacklist
from tests.appraisal_world import FIRMS, PEACE, SECRETARY, grade, types, world
from tests.conftest import ADMIN, store_snapshot
from tests.owners_world import HOUSING, run

EIGHT = {"golden": ("92", "90"), "chunshen": ("85", "80"), "delta": ("78", "70"),
         "eagle": ("74", "66"), "falcon": ("70", "65"), "grove": ("66", "60"),
         "harbour": ("64", "58"), "evergreen": ("62", "55")}


def _firm(led: GovernanceLedger, name: str) -> PropertyFirm:
    agg = led.load(PropertyFirm.id_for(FIRMS[name]))
    assert isinstance(agg, PropertyFirm)
    return agg


def _rows(led: GovernanceLedger, year: int) -> dict[str, dict[str, Any]]:
    code_to_name = {v: k for k, v in FIRMS.items()}
    return {code_to_name[r["firm"]]: r for r in firm_table(led, f"ZQ/{year}")}


# ---------------------------------------------------------------------------- the edges
def test_with_exactly_three_firms_graded_there_is_no_bottom_three_and_nobody_is_warned(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    result = grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("70", "70"),
                                  "evergreen": ("61", "51")}, "2025-12-01")
    assert result.detail["bottom_three"] == []
    assert "PropertyFirm.InterviewRequired" not in result.events
    assert "PropertyFirm.WrittenWarningIssued" not in result.events
    assert all(r["bottom_three"] is False for r in _rows(ledger, 2025).values())


def test_firms_tied_at_the_third_place_from_the_bottom_are_all_interviewed_and_warned(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    # Falcon and Grove tie (68/60) across the third place from the bottom of six.
    result = grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("80", "80"),
                                  "falcon": ("68", "60"), "grove": ("68", "60"),
                                  "harbour": ("65", "58"), "delta": ("62", "55")}, "2025-12-01")
    warned = {FIRMS[n] for n in ("falcon", "grove", "harbour", "delta")}
    assert set(result.detail["bottom_three"]) == warned
    assert result.events.count("PropertyFirm.InterviewRequired") == 4
    assert result.events.count("PropertyFirm.WrittenWarningIssued") == 4
    rows = _rows(ledger, 2025)
    assert rows["falcon"]["rank"] == rows["grove"]["rank"] == 3
    assert "PropertyFirm.InterviewRequired" in types(ledger, f"firm:{FIRMS['grove']}")


def test_a_score_of_exactly_60_or_a_satisfaction_of_exactly_50_percent_is_not_eliminated(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("60.00", "45"),
                         "delta": ("55", "50.00"), "eagle": ("59.99", "49.99")}, "2025-12-01")
    rows = _rows(ledger, 2025)
    assert rows["chunshen"]["eliminated"] is False
    assert rows["delta"]["eliminated"] is False
    assert rows["eagle"]["eliminated"] is True
    assert [r["code"] for r in rows["eagle"]["reasons"]] == [
        "bottom_three", "score_and_satisfaction_below"]
    assert not _firm(ledger, "chunshen").eliminated
    assert _firm(ledger, "eagle").eliminated


def test_bottom_three_in_years_one_and_three_but_not_two_is_not_two_years_running(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    low = dict(EIGHT, evergreen=("62", "55"))
    grade(ledger, 2023, low, "2025-02-01")
    grade(ledger, 2024, dict(EIGHT, evergreen=("80", "75")), "2025-03-01")
    grade(ledger, 2025, low, "2025-12-01")
    row = _rows(ledger, 2025)["evergreen"]
    assert row["bottom_three"] is True
    assert row["consecutive_bottom_three_years"] == 1
    assert row["eliminated"] is False


def test_a_firm_not_graded_in_the_previous_year_starts_a_new_run(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2023, EIGHT, "2025-02-01")  # Evergreen in the bottom three
    grade(ledger, 2024, {k: v for k, v in EIGHT.items() if k != "evergreen"}, "2025-03-01")
    grade(ledger, 2025, EIGHT, "2025-12-01")  # bottom three again, but 2024 not graded
    row = _rows(ledger, 2025)["evergreen"]
    assert (row["bottom_three"], row["consecutive_bottom_three_years"], row["eliminated"]) == (
        True, 1, False)


def test_a_year_never_appraised_before_breaks_the_run(ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2023, EIGHT, "2025-02-01")
    grade(ledger, 2025, EIGHT, "2025-12-01")  # 2024 never opened
    assert _rows(ledger, 2025)["evergreen"]["consecutive_bottom_three_years"] == 1


def test_bottom_three_two_years_running_puts_the_firm_on_the_list_with_task_ban_and_report(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2024, EIGHT, "2025-02-01")
    result = grade(ledger, 2025, EIGHT, "2025-12-01")
    row = _rows(ledger, 2025)["evergreen"]
    assert (row["consecutive_bottom_three_years"], row["eliminated"]) == (2, True)
    assert [r["code"] for r in row["reasons"]] == ["bottom_three", "bottom_three_consecutive"]
    evergreen = _firm(ledger, "evergreen")
    ban = evergreen.ban_at(localize(__import__("datetime").datetime(2025, 12, 2)))
    assert ban is not None and ban["kind"] == "elimination"
    tasks = follow_up_list(ledger, "ZQ/2025")
    assert [(t["firm"], t["communities"][0]["community"], t["legal_counsel"], t["status"])
            for t in tasks] == [(FIRMS["evergreen"], "ZQ-001", ["P-0011"], "open")]
    tasks_by_firm = {e["firm"]: e["follow_up"] for e in result.detail["eliminated"]}
    # Grove and Harbour were in the bottom three both years too, but serve no community.
    assert tasks_by_firm == {FIRMS["grove"]: None, FIRMS["harbour"]: None,
                             FIRMS["evergreen"]: "FU-2025-1"}


def test_the_history_of_an_eliminated_firm_shows_the_whole_chain(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2024, EIGHT, "2025-02-01")
    grade(ledger, 2025, EIGHT, "2025-12-01")
    events = ledger.history(f"firm:{FIRMS['evergreen']}")
    chain = [e.type for e in events if e.envelope.get("command") == "appraisal.close_year"
             and "2025-12-01" in e.envelope["occurred_at"]]
    assert chain == ["PropertyFirm.AppraisalOutcomeRecorded", "PropertyFirm.InterviewRequired",
                     "PropertyFirm.WrittenWarningIssued", "PropertyFirm.PutOnEliminationList",
                     "PropertyFirm.CreditRecorded", "PropertyFirm.BiddingBanned",
                     "PropertyFirm.ReportedToDistrict"]
    outcome = next(e for e in reversed(events)
                   if e.type == "PropertyFirm.AppraisalOutcomeRecorded")
    # Who entered each score, in the firm's own history.
    assert [(x["input"], x["value"], x["actor"], x["post"]) for x in outcome.data["entered_by"]] \
        == [("score", "62.00", "P-0010", "town.housing_office.director@ZQ"),
            ("satisfaction", "55.00", "P-0010", "town.housing_office.director@ZQ")]
    # The rule and its parameters.
    assert outcome.data["rule"]["key"] == "firm.appraisal@1"
    assert outcome.data["rule"]["parameters"]["elimination"]["score_below"] == "60.00"
    listed = next(e for e in events if e.type == "PropertyFirm.PutOnEliminationList")
    assert listed.data["rule"] == "firm.appraisal@1"
    assert listed.data["reason"] == "连续2年考核居末三位"
    # The auditor's view of the outcome resolves every input event to its author.
    answer = audit.decision(ledger, outcome.position)
    assert answer["rule"]["key"] == "firm.appraisal@1"
    assert [(i["type"], i["actor"]) for i in answer["inputs"]] == [
        ("AppraisalYear.FirmScoreRecorded", "P-0010"),
        ("AppraisalYear.SatisfactionRecorded", "P-0010")]


def test_the_closing_record_reproduces_its_decision(ledger: GovernanceLedger) -> None:
    from ledger.rules import Evaluation, reproduce

    world(ledger)
    grade(ledger, 2024, EIGHT, "2025-02-01")
    grade(ledger, 2025, EIGHT, "2025-12-01")
    closed = next(e for e in ledger.history("ZQ/2025") if e.type == "AppraisalYear.Closed")
    decision: Any = reproduce(Evaluation.model_validate(closed.data["evaluation"]))
    assert decision.elimination.eliminated == (FIRMS["grove"], FIRMS["harbour"],
                                               FIRMS["evergreen"])
    assert len(closed.data["input_events"]) == 16


def test_a_town_parameter_changes_the_threshold_and_the_record_says_so(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "town.set_parameter", ADMIN, "2025-11-01", town="ZQ",
        name="firm.elimination.score_below", value="65")
    grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("62", "45")}, "2025-12-01")
    assert _rows(ledger, 2025)["chunshen"]["eliminated"] is True
    closed = next(e for e in ledger.history("ZQ/2025") if e.type == "AppraisalYear.Closed")
    assert closed.data["rule"]["parameters"]["elimination"]["score_below"] == "65.00"


# ---------------------------------------------------------------------------- corrections
def test_a_score_corrected_after_closing_needs_a_reopening_and_the_rerun_records_the_change(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("58", "45")}, "2025-12-01")
    assert _firm(ledger, "chunshen").eliminated
    # A correction to a closed year is refused and writes nothing.
    before = store_snapshot(ledger)
    with pytest.raises(AppraisalYearStateError, match="reopen"):
        run(ledger, "appraisal.record_firm_score", HOUSING, "2025-12-05", year=2025,
            firm=FIRMS["chunshen"], score="68", appraising_body="镇房管办考核组")
    assert store_snapshot(ledger) == before
    # Reopen with a reason, correct, close again.
    run(ledger, "appraisal.reopen", HOUSING, "2025-12-05", year=2025,
        reason="评分表录入错误,更正春申物业得分")
    run(ledger, "appraisal.record_firm_score", HOUSING, "2025-12-05", year=2025,
        firm=FIRMS["chunshen"], score="68", appraising_body="镇房管办考核组")
    result = run(ledger, "appraisal.close_year", HOUSING, "2025-12-06", year=2025)
    assert result.detail["run"] == 2
    assert result.detail["changed"] == [FIRMS["chunshen"]]
    changed = [e for e in ledger.history("ZQ/2025") if e.type == "AppraisalYear.OutcomeChanged"]
    assert [(e.data["added"], e.data["withdrawn"]) for e in changed] == [
        ([], ["elimination_list"])]
    chunshen = _firm(ledger, "chunshen")
    assert not chunshen.eliminated
    assert chunshen.ban_at(localize(__import__("datetime").datetime(2025, 12, 7))) is None
    assert chunshen.ban_at(localize(__import__("datetime").datetime(2025, 12, 3))) is not None
    tail = types(ledger, f"firm:{FIRMS['chunshen']}")[-4:]
    assert tail == ["PropertyFirm.AppraisalOutcomeRecorded", "PropertyFirm.EliminationWithdrawn",
                    "PropertyFirm.BanLifted", "PropertyFirm.ReportedToDistrict"]
    assert FIRMS["chunshen"] not in {b["firm"] for b in blacklist(ledger)}
    assert _rows(ledger, 2025)["chunshen"]["score"] == "68.00"
    assert _rows(ledger, 2025)["chunshen"]["run"] == 2


def test_a_rerun_that_newly_eliminates_a_firm_lists_it_then(ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("68", "45")}, "2025-12-01")
    run(ledger, "appraisal.reopen", HOUSING, "2025-12-05", year=2025, reason="更正")
    grade(ledger, 2025, {"chunshen": ("58", "45")}, "2025-12-05")
    changed = [e.data for e in ledger.history("ZQ/2025")
               if e.type == "AppraisalYear.OutcomeChanged"]
    assert [c["added"] for c in changed] == [["elimination_list"]]
    assert _firm(ledger, "chunshen").eliminated


def test_a_follow_up_is_cancelled_when_the_elimination_is_withdrawn(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90"), "evergreen": ("50", "40")}, "2025-12-01")
    assert follow_up_list(ledger, "ZQ/2025")[0]["status"] == "open"
    run(ledger, "appraisal.reopen", HOUSING, "2025-12-05", year=2025, reason="更正满意度")
    grade(ledger, 2025, {"evergreen": ("50", "60")}, "2025-12-05")
    assert follow_up_list(ledger, "ZQ/2025")[0]["status"] == "cancelled"


# ---------------------------------------------------------------------------- objections
def test_objections_are_filed_in_the_period_answered_and_then_the_year_is_finalised(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "town.set_parameter", ADMIN, "2025-11-01", town="ZQ",
        name="appraisal.objection_days", value=5)
    grade(ledger, 2025, {"golden": ("90", "90"), "evergreen": ("58", "45")}, "2025-12-01",
          close_at="2025-12-01T18:00")
    ref = run(ledger, "appraisal.file_objection", HOUSING, "2025-12-03", year=2025,
              firm=FIRMS["evergreen"], text="请求复核满意度").detail["objection"]
    before = store_snapshot(ledger)
    with pytest.raises(ObjectionError, match="ended"):
        run(ledger, "appraisal.file_objection", HOUSING, "2025-12-08", year=2025,
            firm=FIRMS["evergreen"], text="迟到的异议")
    assert store_snapshot(ledger) == before
    run(ledger, "post.appoint", ADMIN, "2025-01-02",
        target_post="town.party_committee.secretary@ZQ", person="P-0002", person_name="赵静")
    boss = {"actor": "P-0002", "post": "town.party_committee.secretary@ZQ"}
    before = store_snapshot(ledger)
    with pytest.raises(AppraisalYearStateError, match="runs until"):
        run(ledger, "appraisal.finalise", boss, "2025-12-04", year=2025)
    assert store_snapshot(ledger) == before
    with pytest.raises(AppraisalYearStateError, match="not answered"):
        run(ledger, "appraisal.finalise", boss, "2025-12-09", year=2025)
    run(ledger, "appraisal.answer_objection", HOUSING, "2025-12-05", year=2025, objection=ref,
        decision="dismissed", answer="维持原结果")
    assert run(ledger, "appraisal.finalise", boss, "2025-12-09",
               year=2025).detail["status"] == "finalised"


def test_a_project_manager_may_object_only_for_the_firm_serving_their_community(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90"), "evergreen": ("58", "45")}, "2025-12-01")
    manager = {"actor": "P-M101", "post": "property_firm.manager@ZQ-001"}
    before = store_snapshot(ledger)
    with pytest.raises(ObjectionError, match="does not serve"):
        run(ledger, "appraisal.file_objection", manager, "2025-12-03", year=2025,
            firm=FIRMS["golden"], community="ZQ-001", text="异议")
    assert store_snapshot(ledger) == before
    run(ledger, "appraisal.file_objection", manager, "2025-12-03", year=2025,
        firm=FIRMS["evergreen"], community="ZQ-001", text="异议")


# ---------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("score", ["100.01", "-1", "abc", "60.001"])
def test_a_score_out_of_range_is_refused_and_nothing_is_written(ledger: GovernanceLedger,
                                                                 score: str) -> None:
    world(ledger)
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError, match="score"):
        run(ledger, "appraisal.record_firm_score", HOUSING, "2025-12-02", year=2025,
            firm=FIRMS["golden"], score=score, appraising_body="镇房管办")
    assert store_snapshot(ledger) == before


def test_an_appraiser_not_holding_the_representative_post_is_refused(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    before = store_snapshot(ledger)
    with pytest.raises(PostNotHeldError, match="P-0999 did not hold resident_representative"):
        run(ledger, "appraisal.resident_appraisal", SECRETARY, "2025-12-02", year=2025,
            community="ZQ-001", party="property_firm",
            ratings=[{"appraiser": "P-0301", "rating": "good"},
                     {"appraiser": "P-0999", "rating": "poor"}])
    assert store_snapshot(ledger) == before
    run(ledger, "appraisal.resident_appraisal", SECRETARY, "2025-12-02", year=2025,
        community="ZQ-001", party="property_firm",
        ratings=[{"appraiser": "P-0301", "rating": "good"},
                 {"appraiser": "P-0302", "rating": "poor"}])


def test_closing_with_a_firm_missing_its_satisfaction_is_refused(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90")}, "2025-12-01", close=False)
    run(ledger, "appraisal.record_firm_score", HOUSING, "2025-12-01", year=2025,
        firm=FIRMS["evergreen"], score="70", appraising_body="镇房管办")
    before = store_snapshot(ledger)
    with pytest.raises(AppraisalYearStateError, match="satisfaction"):
        run(ledger, "appraisal.close_year", HOUSING, "2025-12-02", year=2025)
    assert store_snapshot(ledger) == before


# ---------------------------------------------------------------------------- what-if
def test_simulate_shows_the_differences_and_writes_nothing(ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90"), "chunshen": ("62", "45"),
                         "delta": ("70", "70")}, "2025-12-01")
    before = store_snapshot(ledger)
    data = simulate(ledger, "ZQ/2025", ["firm.elimination.score_below=65"])
    assert store_snapshot(ledger) == before
    assert data["eliminated"] == [FIRMS["chunshen"]]
    assert [(c["firm"], c["added"]) for c in data["changes"]] == [
        (FIRMS["chunshen"], ["elimination_list"])]
    assert not _firm(ledger, "chunshen").eliminated


def test_simulate_with_an_unknown_parameter_is_refused_and_writes_nothing(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, {"golden": ("90", "90")}, "2025-12-01")
    before = store_snapshot(ledger)
    with pytest.raises(AppraisalParameterError, match="no parameter 'elimination.score_under'"):
        simulate(ledger, "ZQ/2025", ["firm.elimination.score_under=65"])
    assert store_snapshot(ledger) == before


# ---------------------------------------------------------------------------- evaluations
def test_owners_committees_are_evaluated_on_the_five_criteria(ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    run(ledger, "appraisal.evaluate_oc", HOUSING, "2025-12-02", year=2025, oc="ZQ-001/2025",
        criteria={"safe_community_cooperation": "90", "maintenance_fund_use": "85",
                  "public_revenue_use": "80", "firm_supervision": "75",
                  "dispute_mediation": "71"})
    rows = oc_table(ledger, "ZQ/2025")
    assert [(r["oc"], r["overall"]) for r in rows] == [("ZQ-001/2025", "80.20")]


def test_a_commendation_goes_only_to_a_three_heads_post_holder(ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    run(ledger, "post.appoint", ADMIN, "2025-01-05", target_post="building_leader@ZQ-001/B1",
        person="P-0401", person_name="闫玉兰")
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError, match="three-heads"):
        run(ledger, "appraisal.commend", SECRETARY, "2025-12-02", year=2025,
            community="ZQ-001", person="P-0301", head_post="resident_representative@ZQ-001",
            title="优秀")
    with pytest.raises(PostNotHeldError):
        run(ledger, "appraisal.commend", SECRETARY, "2025-12-02", year=2025,
            community="ZQ-001", person="P-0301", head_post="building_leader@ZQ-001/B1",
            title="优秀楼组长")
    assert store_snapshot(ledger) == before
    run(ledger, "appraisal.commend", SECRETARY, "2025-12-02", year=2025, community="ZQ-001",
        person="P-0401", head_post="building_leader@ZQ-001/B1", title="优秀楼组长")


def test_indicators_are_measured_from_the_ledger_or_entered(ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    run(ledger, "appraisal.define_indicator", PEACE, "2025-12-02", year=2025,
        code="i01_meetings", name_zh="四位一体会议召开次数", name_en="four-in-one meetings",
        unit="次", weight="10", source="ledger", measure="four_in_one_meetings")
    run(ledger, "appraisal.define_indicator", PEACE, "2025-12-02", year=2025,
        code="i05_patrols", name_zh="平安巡查次数", name_en="patrols", unit="次", weight="5",
        source="entered")
    before = store_snapshot(ledger)
    with pytest.raises(IndicatorError, match="no calculator"):
        run(ledger, "appraisal.define_indicator", PEACE, "2025-12-02", year=2025,
            code="i06_cases", name_zh="结案率", name_en="cases closed", unit="%", weight="5",
            source="ledger", measure="case_closure_rate_v9")
    with pytest.raises(IndicatorError, match="measured from the ledger"):
        run(ledger, "appraisal.record_indicator", PEACE, "2025-12-03", year=2025,
            code="i01_meetings", community="ZQ-001", value="12")
    assert store_snapshot(ledger) == before
    run(ledger, "appraisal.record_indicator", PEACE, "2025-12-03", year=2025,
        code="i05_patrols", community="ZQ-001", value="48")
    rows = {r["code"]: r["value"] for r in indicator_table(ledger, "ZQ/2025")}
    assert rows == {"i01_meetings": "0", "i05_patrols": "48"}
