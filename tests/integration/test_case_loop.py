"""The case loop as the town practises it (GB/T 30428: 受理 → 立案 → 派遣 → 处置 → 反馈 → 核查 →
结案 → 回访): return after acknowledging within a window, the callback at the step the town
chooses, reopening after a satisfied callback as a linked new cycle, refusals that name the
steps allowed, and working days counted as China does (issue 17, build item 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.aggregates.case import Case, CaseTransitionError
from ledger.application import GovernanceLedger
from ledger.casesteps import case_next
from ledger.cli import cli
from tests.case_world import (
    ADMIN,
    HOUSING,
    JEO,
    PEACE,
    PEACE_STAFF,
    SUPERVISOR,
    URBAN,
    run,
    world,
)
from tests.conftest import store_snapshot

REF = "ZQ-2025-000777"


def _town(led: GovernanceLedger, **params: Any) -> None:
    for name, value in params.items():
        led.execute({"type": "town.set_parameter", **ADMIN, "town": "ZQ",
                     "name": name.replace("__", "."), "value": value,
                     "occurred_at": "2025-01-10"})


def _to_acknowledged(led: GovernanceLedger, at: str = "2025-09-29") -> None:
    """Received, accepted, assessed single, dispatched to urban management, acknowledged."""
    run(led, "case.receive", PEACE_STAFF, f"{at}T09:00", ref=REF, community="ZQ-001",
        channel="hotline", problem_type="illegal_construction", location="阳光花园12号楼屋顶",
        description="屋顶违法搭建")
    run(led, "case.accept", PEACE_STAFF, f"{at}T09:30", ref=REF)
    run(led, "case.assess", JEO, f"{at}T10:00", ref=REF, mode="single", reason="城管职责")
    run(led, "case.dispatch", PEACE, f"{at}T10:30", ref=REF, departments=["urban_management"])
    run(led, "case.acknowledge", URBAN, f"{at}T11:00", ref=REF)


def _status(led: GovernanceLedger) -> str:
    case = led.load(Case.id_for(REF))
    assert isinstance(case, Case)
    return case.status


def test_the_whole_loop_return_redispatch_callback_close_and_reopen_after_satisfaction(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    # The town calls back before closing, and counts limits as China does.
    _town(ledger, case__callback_step="before_close", case__calendar="china")
    _to_acknowledged(ledger)
    # 退单 after 签收: urban management finds it is housing's; back to the dispatcher.
    returned = run(ledger, "case.return", URBAN, "2025-09-29T15:00", ref=REF,
                   reason="系房屋结构改建,属房管职责")
    assert returned.detail["status"] == "assessed"
    # Re-dispatch to housing, who acknowledges, inspects, plans the rectification, reports.
    run(ledger, "case.dispatch", PEACE, "2025-09-29T16:00", ref=REF, departments=["housing"])
    run(ledger, "case.acknowledge", HOUSING, "2025-09-30T09:00", ref=REF)
    run(ledger, "case.inspect", HOUSING, "2025-09-30T10:00", ref=REF, findings="确认搭建")
    run(ledger, "case.rectify", HOUSING, "2025-09-30T11:00", ref=REF, plan="限期拆除",
        deadline="2025-10-20")
    run(ledger, "case.feedback", HOUSING, "2025-10-15T09:00", ref=REF, result="已拆除")
    # Verification by the supervision team; the callback comes before closing.
    verified = run(ledger, "case.verify", SUPERVISOR, "2025-10-16T09:00", ref=REF)
    # 2 working days from Thu 16 Oct: Fri 17, Mon 20.
    assert verified.detail["due"] == "2025-10-20"
    before = store_snapshot(ledger)
    with pytest.raises(CaseTransitionError, match=r"callback comes before closing.*allowed "
                       r"now: callback, supervise"):
        run(ledger, "case.close", PEACE, "2025-10-16T10:00", ref=REF)
    assert store_snapshot(ledger) == before
    run(ledger, "case.callback", PEACE_STAFF, "2025-10-17T09:00", ref=REF, satisfied=True)
    closed = run(ledger, "case.close", PEACE, "2025-10-17T10:00", ref=REF)
    assert closed.detail["status"] == "closed"
    # The problem returns a month later: reopened after the satisfied callback.
    reopened = run(ledger, "case.reopen", PEACE, "2025-11-20T09:00", ref=REF,
                   reason="原址再次搭建")
    assert reopened.detail["status"] == "reopened"
    case = ledger.load(Case.id_for(REF))
    assert isinstance(case, Case)
    assert case.cycle == 2 and case.returns == 1 and case.reopens == 1
    [first] = case.cycles
    assert first["cycle"] == 1 and first["callback_satisfied"] is True
    assert first["closed_at"] == "2025-10-17T10:00:00+08:00"
    assert first["reason"] == "原址再次搭建"
    # The reopening is linked to the event that started the new cycle.
    event = ledger.history(REF)[first["reopen_event_version"] - 1]
    assert event.type == "Case.Reopened"
    # The calendar that counted the limits is named in the case and in its events.
    assert case.calendar is not None and "China statutory holidays" in case.calendar
    assert event.data["calendar"] == case.calendar


def test_a_return_after_the_window_is_refused_naming_the_allowed_steps(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    _town(ledger, case__return_window_days=1)
    _to_acknowledged(ledger, "2025-03-03")
    before = store_snapshot(ledger)
    with pytest.raises(CaseTransitionError, match=(
            r"case ZQ-2025-000777 is acknowledged: it was acknowledged at "
            r"2025-03-03T11:00:00\+08:00 and the return window of 1 day\(s\) "
            r"\(case.return_window_days\) has passed; allowed now: inspect, supervise")):
        run(ledger, "case.return", URBAN, "2025-03-05T09:00", ref=REF, reason="不属本部门")
    assert store_snapshot(ledger) == before
    # Within the window it goes back to the dispatcher.
    assert run(ledger, "case.return", URBAN, "2025-03-04T09:00", ref=REF,
               reason="不属本部门").detail["status"] == "assessed"


def test_with_the_callback_after_closing_a_dissatisfied_callback_leads_to_a_reopen(
        ledger: GovernanceLedger) -> None:
    from tests.case_world import single_to_closed

    world(ledger)
    single_to_closed(ledger, REF)
    before = store_snapshot(ledger)
    with pytest.raises(CaseTransitionError, match="allowed now: callback, reopen"):
        run(ledger, "case.close", PEACE, "2025-03-30", ref=REF)
    assert store_snapshot(ledger) == before
    run(ledger, "case.callback", PEACE_STAFF, "2025-03-30", ref=REF, satisfied=False)
    assert run(ledger, "case.reopen", PEACE, "2025-03-31", ref=REF,
               reason="回访不满意").detail["status"] == "reopened"


def test_a_dissatisfied_callback_before_closing_sends_the_case_back_to_the_handlers(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    _town(ledger, case__callback_step="before_close")
    _to_acknowledged(ledger, "2025-03-03")
    run(ledger, "case.inspect", URBAN, "2025-03-03T12:00", ref=REF, findings="确认")
    run(ledger, "case.rectify", URBAN, "2025-03-03T13:00", ref=REF, plan="拆除",
        deadline="2025-03-10")
    run(ledger, "case.feedback", URBAN, "2025-03-08T09:00", ref=REF, result="已拆除")
    run(ledger, "case.verify", SUPERVISOR, "2025-03-08T10:00", ref=REF)
    back = run(ledger, "case.callback", PEACE_STAFF, "2025-03-09", ref=REF, satisfied=False)
    assert back.detail["status"] == "rectifying"
    run(ledger, "case.feedback", URBAN, "2025-03-10T09:00", ref=REF, result="彻底清除")
    run(ledger, "case.verify", SUPERVISOR, "2025-03-10T10:00", ref=REF)
    run(ledger, "case.callback", PEACE_STAFF, "2025-03-11", ref=REF, satisfied=True)
    assert run(ledger, "case.close", PEACE, "2025-03-11T10:00", ref=REF).detail["status"] \
        == "closed"


def test_case_next_lists_the_steps_the_lifecycle_allows(ledger: GovernanceLedger) -> None:
    world(ledger)
    _to_acknowledged(ledger, "2025-03-03")
    data = case_next(ledger, REF, when=None)
    assert data["status"] == "acknowledged"
    # Long after acknowledging, the return window has closed.
    assert [s["command"] for s in data["next"]] == ["inspect", "supervise"]
    from datetime import datetime

    from ledger.kernel.config import localize

    early = case_next(ledger, REF, when=localize(datetime(2025, 3, 3, 12)))
    assert {s["command"]: s["to"] for s in early["next"]} == {
        "inspect": "inspecting", "return": "assessed", "supervise": "acknowledged"}


def test_ledger_case_next_prints_the_steps(ledger: GovernanceLedger, db_url: str) -> None:
    world(ledger)
    _to_acknowledged(ledger, "2025-03-03")
    result = CliRunner().invoke(cli, ["--db", db_url, "--lang", "en", "case", "next", REF,
                                      "--as-of", "2025-03-03T12:00"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ZQ-2025-000777: acknowledged (acknowledged)" in result.output
    for step in ("inspect", "return", "supervise"):
        assert step in result.output
    as_json = CliRunner().invoke(cli, ["--db", db_url, "case", "next", REF, "--json"],
                                 catch_exceptions=False)
    assert json.loads(as_json.output)["next"] == [
        {"command": "inspect", "to": "inspecting"},
        {"command": "supervise", "to": "acknowledged"}]


def test_every_refusal_of_a_case_step_names_the_steps_allowed(
        ledger: GovernanceLedger) -> None:
    from ledger.aggregates.case import CaseNotAssignedError
    from ledger.kernel.errors import AuthorityError

    world(ledger)
    _to_acknowledged(ledger, "2025-03-03")
    before = store_snapshot(ledger)
    # A department the case was not dispatched to.
    with pytest.raises(CaseNotAssignedError, match=r"not dispatched to department:housing.*"
                       r"case ZQ-2025-000777 is acknowledged, allowed now: inspect, return, "
                       r"supervise \(ledger case next ZQ-2025-000777\)"):
        run(ledger, "case.inspect", HOUSING, "2025-03-03T12:00", ref=REF, findings="x")
    run(ledger, "case.inspect", URBAN, "2025-03-03T12:00", ref=REF, findings="确认")
    run(ledger, "case.rectify", URBAN, "2025-03-03T13:00", ref=REF, plan="拆除",
        deadline="2025-03-10")
    run(ledger, "case.feedback", URBAN, "2025-03-08T09:00", ref=REF, result="已拆除")
    before = store_snapshot(ledger)
    # The handling department verifying its own result.
    with pytest.raises(AuthorityError, match=r"no authority for case.verify.*"
                       r"allowed now: supervise, verify"):
        run(ledger, "case.verify", URBAN, "2025-03-08T10:00", ref=REF)
    assert store_snapshot(ledger) == before
