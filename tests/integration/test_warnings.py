"""Three-colour warnings: decisions with evidence, the suggestion they accept or override, and the
measures each colour mandates, due, fulfilled or missed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ledger.aggregates.warning import (
    MeasureRuleError,
    WarningEvidenceRequiredError,
    WarningTransitionError,
)
from ledger.application import GovernanceLedger
from ledger.kernel.config import localize
from ledger.projections.cases import warning_board
from tests.case_world import PEACE, RC, SUPERVISOR, SUPERVISOR2, receive, run, world
from tests.conftest import store_snapshot

MAYOR = {"actor": "P-0003", "post": "town.government.mayor@ZQ"}


def board(led: GovernanceLedger, when: str, **kw: Any) -> list[dict[str, Any]]:
    at = localize(datetime.fromisoformat(when))
    return list(warning_board(led, as_of=at, **kw)["warnings"])


def measures(entry: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {m["code"]: (m["status"], m["due"]) for m in entry["measures"]}


def raise_(led: GovernanceLedger, level: str, at: str, action: str = "raise",
           community: str = "ZQ-001", problem_type: str = "group_renting",
           who: dict[str, str] = PEACE, **extra: Any) -> Any:
    fields: dict[str, Any] = {"community": community, "problem_type": problem_type,
                              "reason": "群租问题突出", "evidence": ["report:2025-05"], **extra}
    if action != "lift":
        fields["level"] = level
    return run(led, f"warning.{action}", who, at, **fields)


def test_a_red_warning_whose_rectification_plan_is_missing_after_its_deadline_shows_as_missed(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    raise_(ledger, "red", "2025-05-01T09:00:00")
    # On-site supervision staff are sent on day 2; the rectification plan never comes.
    run(ledger, "warning.measure", SUPERVISOR, "2025-05-03", community="ZQ-001",
        problem_type="group_renting", measure="onsite_supervision", person="P-0009",
        evidence=["visit:0503"])
    before = measures(board(ledger, "2025-05-06")[0])
    assert before["rectification_plan"] == ("due", "2025-05-08")
    after = board(ledger, "2025-05-09")[0]
    assert measures(after) == {
        "key_focus_listing": ("fulfilled", None),
        "onsite_supervision": ("fulfilled", None),
        "rectification_plan": ("missed", "2025-05-08"),
    }
    assert after["missed"] == 1
    # Filing the plan late makes it fulfilled from then on, but not before.
    run(ledger, "warning.measure", RC, "2025-05-12", community="ZQ-001",
        problem_type="group_renting", measure="rectification_plan", evidence=["plan:0512"])
    assert measures(board(ledger, "2025-05-10")[0])["rectification_plan"][0] == "missed"
    assert measures(board(ledger, "2025-05-13")[0])["rectification_plan"][0] == "fulfilled"


def test_a_black_warning_without_improvement_at_review_engages_third_party_patrol_control(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    raise_(ledger, "black", "2025-06-01", who=SUPERVISOR)
    run(ledger, "warning.measure", SUPERVISOR, "2025-06-02", community="ZQ-001",
        problem_type="group_renting", measure="supervision_team_stationed", person="P-0009",
        evidence=["station:0602"])
    entry = board(ledger, "2025-06-15")[0]
    assert measures(entry)["improvement_review"] == ("due", "2025-07-01")
    assert measures(entry)["third_party_patrol_control"][0] == "conditional"
    # Without naming the third party, "not improved" is refused and nothing is written.
    before = store_snapshot(ledger)
    with pytest.raises(MeasureRuleError, match="name the third party"):
        run(ledger, "warning.measure", SUPERVISOR, "2025-07-01", community="ZQ-001",
            problem_type="group_renting", measure="improvement_review",
            outcome="not_improved", evidence=["review:0701"])
    assert store_snapshot(ledger) == before
    result = run(ledger, "warning.measure", SUPERVISOR, "2025-07-01", community="ZQ-001",
                 problem_type="group_renting", measure="improvement_review",
                 outcome="not_improved", third_party="上海安保巡查服务公司",
                 evidence=["review:0701"])
    assert result.events == ["CommunityWarning.MeasureFulfilled",
                             "CommunityWarning.ThirdPartyPatrolEngaged"]
    engaged = ledger.history("warning:ZQ-001/group_renting")[-1]
    assert engaged.data["third_party"] == "上海安保巡查服务公司"
    assert engaged.envelope["actor"] == "P-0008"
    third = next(m for m in board(ledger, "2025-07-02")[0]["measures"]
                 if m["code"] == "third_party_patrol_control")
    assert (third["status"], third["third_party"]) == ("fulfilled", "上海安保巡查服务公司")


def test_a_black_warning_with_clear_improvement_needs_no_third_party(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    raise_(ledger, "black", "2025-06-01", who=SUPERVISOR)
    run(ledger, "warning.measure", SUPERVISOR2, "2025-07-01", community="ZQ-001",
        problem_type="group_renting", measure="improvement_review", outcome="improved",
        evidence=["review:0701"])
    assert measures(board(ledger, "2025-07-02")[0])["third_party_patrol_control"] == (
        "not_required", None)


def test_a_black_warning_without_evidence_is_refused(ledger: GovernanceLedger) -> None:
    world(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(WarningEvidenceRequiredError, match="to black needs evidence"):
        raise_(ledger, "black", "2025-06-01", who=SUPERVISOR, evidence=[])
    assert store_snapshot(ledger) == before
    raise_(ledger, "red", "2025-06-01")
    before = store_snapshot(ledger)
    with pytest.raises(WarningEvidenceRequiredError, match="escalate to black needs evidence"):
        raise_(ledger, "black", "2025-06-05", action="escalate", evidence=[])
    assert store_snapshot(ledger) == before


def test_illegal_level_changes_are_refused_naming_the_level_in_force(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    for action, level in (("escalate", "red"), ("lift", "none")):
        before = store_snapshot(ledger)
        with pytest.raises(WarningTransitionError, match="is none: cannot"):
            raise_(ledger, level, "2025-06-01", action=action)
        assert store_snapshot(ledger) == before
    raise_(ledger, "red", "2025-06-01")
    before = store_snapshot(ledger)
    with pytest.raises(WarningTransitionError, match="is red: cannot escalate to orange"):
        raise_(ledger, "orange", "2025-06-02", action="escalate")
    assert store_snapshot(ledger) == before


def test_the_decision_records_the_suggestion_it_accepted_or_overrode(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    # Three open group-renting cases in Sunny Garden: warning.suggest@1 says orange.
    for n in (1, 2, 3):
        receive(ledger, f"ZQ-2025-00010{n}", "2025-05-01T09:00", problem_type="group_renting")
    accepted = raise_(ledger, "orange", "2025-05-01T12:00")
    assert accepted.detail["suggested"] == "orange"
    raised = ledger.history("warning:ZQ-001/group_renting")[-1]
    assert raised.data["accepted_suggestion"] is True
    assert raised.data["suggestion"]["rule"] == "warning.suggest@1"
    assert raised.data["suggestion"]["inputs"]["open_cases"] == 3
    assert raised.data["measures_rule"]["rule"] == "warning.measures@1"
    # Escalating to red overrides the suggestion (still orange); the event says so.
    raise_(ledger, "red", "2025-05-01T15:00", action="escalate")
    escalated = ledger.history("warning:ZQ-001/group_renting")[-1]
    assert (escalated.data["accepted_suggestion"], escalated.data["level"]) == (False, "red")
    assert escalated.data["superseded"] == ["1.spot_check_patrol"]


def test_orange_spot_checks_recur_at_the_cadence_the_town_sets(ledger: GovernanceLedger) -> None:
    world(ledger)
    run(ledger, "town.set_parameter", MAYOR, "2025-04-01", town="ZQ",
        name="warning.measures.orange_spot_check_every_days", value=7)
    raise_(ledger, "orange", "2025-05-01")
    assert measures(board(ledger, "2025-05-05")[0])["spot_check_patrol"] == ("due", "2025-05-08")
    run(ledger, "warning.measure", SUPERVISOR2, "2025-05-07", community="ZQ-001",
        problem_type="group_renting", measure="spot_check_patrol", evidence=["check:0507"])
    assert measures(board(ledger, "2025-05-10")[0])["spot_check_patrol"] == ("due", "2025-05-14")
    assert measures(board(ledger, "2025-05-15")[0])["spot_check_patrol"] == (
        "missed", "2025-05-14")
    # Lifting ends the warning: the board no longer lists it.
    raise_(ledger, "none", "2025-05-20", action="lift")
    assert board(ledger, "2025-05-21") == []
    assert [w["level"] for w in board(ledger, "2025-05-19")] == ["orange"]
