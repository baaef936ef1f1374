"""Automatic supervision (督办): overdue case steps, lapsed warning measures and overdue
resolution items are escalated remind → 督办 → 通报 by ``ledger supervise``; a second run over
the same state writes nothing; escalations show on the boards and in the 通报反馈 document
(issue 17, build item 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.config import localize
from ledger.projections.cases import case_board, case_documents, warning_board
from ledger.projections.supervision import escalation_list
from ledger.rules import Evaluation, reproduce
from ledger.supervision import run
from tests.case_world import ADMIN, JEO, PEACE, PEACE_STAFF, receive, world
from tests.case_world import run as do
from tests.conftest import store_snapshot

CASE = "ZQ-2025-000301"


def _at(text: str) -> datetime:
    return localize(datetime.fromisoformat(text))


def _overdue_work(led: GovernanceLedger) -> None:
    """A case assessed on 2 June and never dispatched (due 3 June); a red warning raised on
    1 June whose rectification plan (due 8 June) never comes."""
    world(led)
    receive(led, CASE, "2025-06-02T09:00:00")
    do(led, "case.accept", PEACE_STAFF, "2025-06-02T09:30", ref=CASE)
    do(led, "case.assess", JEO, "2025-06-02T10:00", ref=CASE, mode="single", reason="城管")
    do(led, "warning.raise", PEACE, "2025-06-01T09:00", community="ZQ-001",
       problem_type="group_renting", level="red", reason="群租问题突出",
       evidence=["report:2025-05"])


def _levels(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["kind"], e["key"], e["level"]) for e in data["escalations"]]


def test_a_second_run_over_the_same_state_writes_nothing(ledger: GovernanceLedger) -> None:
    _overdue_work(ledger)
    # 5 June: the case step (due 3 June) and on-site supervision (due 4 June) are overdue.
    first = run(ledger, "ZQ", _at("2025-06-05T18:00"))
    assert first["written"] is True
    assert _levels(first) == [("case", CASE, "remind"),
                              ("measure", "ZQ-001/group_renting", "remind")]
    before = store_snapshot(ledger)
    again = run(ledger, "ZQ", _at("2025-06-05T18:00"))
    assert again["written"] is False and again["escalations"] == []
    assert store_snapshot(ledger) == before
    # Later the same work climbs the ladder: 督办, then 通报, each recorded once.
    assert _levels(run(ledger, "ZQ", _at("2025-06-07T18:00"))) == [
        ("case", CASE, "supervise"), ("measure", "ZQ-001/group_renting", "supervise")]
    # 16 June: both at 通报, and the rectification plan (due 8 June) straight to 通报.
    later = run(ledger, "ZQ", _at("2025-06-16T18:00"))
    assert [(e["step"].split("@")[0], e["level"]) for e in later["escalations"]] == [
        ("assessed", "notify"), ("1.onsite_supervision", "notify"),
        ("1.rectification_plan", "notify")]
    before = store_snapshot(ledger)
    assert run(ledger, "ZQ", _at("2025-06-16T19:00"))["written"] is False
    assert store_snapshot(ledger) == before


def test_each_escalation_is_an_event_with_the_rules_inputs_that_reproduces(
        ledger: GovernanceLedger) -> None:
    _overdue_work(ledger)
    run(ledger, "ZQ", _at("2025-06-07T18:00"))
    [event] = [e for e in ledger.history(CASE) if e.type == "Case.Escalated"]
    assert event.data["level"] == "supervise" and event.data["days_overdue"] == 4
    assert event.envelope["actor"] == "system:rules"
    record = Evaluation.model_validate(event.data["rule"])
    assert record.rule == "case.supervision@1"
    assert record.inputs["items"][0]["due"] == "2025-06-03"
    assert record.parameters["supervise_after_days"] == 3
    reproduce(record)


def test_escalations_appear_on_the_boards_and_in_the_notification_document(
        ledger: GovernanceLedger) -> None:
    _overdue_work(ledger)
    run(ledger, "ZQ", _at("2025-06-16T18:00"))
    [row] = case_board(ledger, as_of=_at("2025-06-17T09:00"))["cases"]
    assert row["escalation"] == "notify"
    [warning] = warning_board(ledger, as_of=_at("2025-06-17T09:00"))["warnings"]
    escalated = {m["code"]: m["escalation"] for m in warning["measures"]}
    assert escalated["rectification_plan"] == "notify"
    assert escalated["onsite_supervision"] == "notify"
    listed = escalation_list(ledger, community="ZQ-001")
    assert listed["counts"]["notify"] == 3
    [notice] = [d for d in case_documents(ledger, "ZQ-001")
                if d["template"] == "notification_feedback"]
    assert notice["actor"] == "system:rules"
    content = notice["fields"]["content"]
    assert "通报(case.supervision@1,2025-06-16)" in content
    assert f"案件 {CASE}" in content and "预警措施 ZQ-001/group_renting" in content


def test_the_town_sets_the_grace_period_and_the_ladder(ledger: GovernanceLedger) -> None:
    _overdue_work(ledger)
    ledger.execute({"type": "town.set_parameter", **ADMIN, "town": "ZQ",
                    "name": "case.supervision.grace_days", "value": 3,
                    "occurred_at": "2025-06-01"})
    assert run(ledger, "ZQ", _at("2025-06-05T18:00"))["written"] is False
    assert _levels(run(ledger, "ZQ", _at("2025-06-07T18:00"))) == [
        ("case", CASE, "remind")]


def test_ledger_supervise_and_escalations_through_the_cli(ledger: GovernanceLedger,
                                                          db_url: str) -> None:
    _overdue_work(ledger)

    def cli_run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--db", db_url, "--lang", "en", *args],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    dry = cli_run("supervise", "--as-of", "2025-06-07T18:00", "--dry-run")
    assert CASE in dry and "supervise" in dry
    assert ledger.history(CASE)[-1].type == "Case.Assessed"  # the dry run wrote nothing
    out = cli_run("supervise", "--as-of", "2025-06-07T18:00")
    assert "accepted: supervision.run [supervision-ZQ-2025-06-07-" in out
    assert "nothing to escalate" in cli_run("supervise", "--as-of", "2025-06-07T18:00")
    board = cli_run("escalations", "--kind", "case")
    assert CASE in board and "4 day(s) overdue" in board
    cases = cli_run("cases", "--as-of", "2025-06-08")
    assert "supervise" in cases
    warnings = cli_run("warnings", "--as-of", "2025-06-08")
    assert "(supervise)" in warnings


def test_the_servers_scheduler_runs_supervision_and_repeats_harmlessly(
        ledger: GovernanceLedger) -> None:
    from ledger.supervision import Scheduler

    _overdue_work(ledger)
    scheduler = Scheduler(ledger, ["ZQ", "NOPE"], every_seconds=3600)
    [first] = scheduler.tick()  # the unknown town is logged and skipped
    assert first["town"] == "ZQ" and first["written"] is True and first["escalations"] == 3
    before = store_snapshot(ledger)
    [second] = scheduler.tick()
    assert second["written"] is False
    assert store_snapshot(ledger) == before
