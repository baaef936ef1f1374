"""The case lifecycle table, time limits and warning measures, without a database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from ledger.aggregates.case import (
    FINISHED,
    STATES,
    TRANSITIONS,
    Case,
    CaseRuleError,
    CaseTransitionError,
    add_days,
    due_for,
    transitions_for,
)
from ledger.aggregates.warning import CommunityWarning, WarningTransitionError
from ledger.kernel.config import localize
from ledger.rules import get_rule

ENV: dict[str, Any] = {"actor": "P-0005", "post": "town.peace_office.staff@ZQ",
                       "occurred_at": "2025-03-03T09:00:00+08:00"}
MONDAY = localize(datetime(2025, 3, 3, 9))


def new_case() -> Case:
    return Case.receive(code="ZQ-2025-000001", town="ZQ", community="ZQ-001",
                        channel="hotline", problem_type="group_renting",
                        stage="classified_management", location="", description="群租",
                        caller=None, received_at=MONDAY, parameters={}, envelope=ENV)


def test_every_state_is_reachable_from_intake_through_the_table() -> None:
    seen: set[str | None] = {None}
    frontier: list[str | None] = [None]
    while frontier:
        state = frontier.pop()
        for (src, _cmd), dst in TRANSITIONS.items():
            if src == state and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen - {None} == set(STATES)


def test_rejected_and_merged_cases_accept_no_further_command() -> None:
    assert not [key for key in TRANSITIONS if key[0] in ("rejected", "merged")]
    # With the callback after closing (the default), a callback or a reopen follows only a
    # finished case; with the callback before closing, a callback follows verification.
    after = transitions_for({})
    assert {s for (s, c) in after if c in ("callback", "reopen")} <= FINISHED | {
        "closed", "called_back"}
    before = transitions_for({"case.callback_step": "before_close"})
    assert {s for (s, c) in before if c == "callback"} == {"verified"}


def test_an_illegal_command_names_the_current_state_and_what_is_allowed() -> None:
    case = new_case()
    with pytest.raises(CaseTransitionError,
                       match=r"is received: 'close' is not allowed.*accept, merge, reject"):
        case.close("P-0004", "", ENV)


def test_a_single_department_case_needs_exactly_one_department() -> None:
    case = new_case()
    case.accept("", MONDAY, {}, ENV)
    case.assess("single", "", MONDAY, {}, ENV)
    with pytest.raises(CaseRuleError, match="exactly one department, not 2"):
        case.dispatch(["housing", "police"], "", MONDAY, {}, ENV)


def test_time_limits_come_from_the_town_in_calendar_or_working_days() -> None:
    assert due_for("received", MONDAY, {}) == "2025-03-04"
    assert due_for("dispatched", MONDAY, {"case.limit.dispatched_days": 5}) == "2025-03-08"
    working = {"case.limit.dispatched_days": 5, "case.calendar": "working_days",
               "case.holidays": "2025-03-07"}
    # Mon 3 March + 5 working days, skipping the weekend and a holiday on Friday 7th.
    assert due_for("dispatched", MONDAY, working) == "2025-03-11"
    assert due_for("closed", MONDAY, {}) is None
    assert add_days(date(2025, 3, 7), 1, working_days=True) == date(2025, 3, 10)


def test_a_warning_decision_turns_the_measures_rule_into_obligations_with_dates() -> None:
    warning = CommunityWarning(code="ZQ-001/group_renting", town="ZQ", community="ZQ-001",
                               problem_type="group_renting", envelope=ENV)
    suggest = get_rule("warning.suggest@1").evaluate(
        get_rule("warning.suggest@1").Inputs(community="ZQ-001", problem_type="group_renting"))
    red = get_rule("warning.measures@1").evaluate(
        get_rule("warning.measures@1").Inputs(level="red"))
    warning.decide("raise", "red", "群租", ["report:1"], suggest.model_dump(mode="json"),
                   red.model_dump(mode="json"), MONDAY, ENV)
    assert [(m["code"], m["due"], m["status"]) for m in warning.measures] == [
        ("key_focus_listing", "2025-03-03", "fulfilled"),
        ("onsite_supervision", "2025-03-06", "open"),
        ("rectification_plan", "2025-03-10", "open"),
    ]
    with pytest.raises(WarningTransitionError, match="is red: cannot raise to black"):
        warning.check_decision("raise", "black", "x", ["e"])
