"""Elimination follow-ups end: the committee's termination completes the task, linked by
event; an overdue task is flagged on the board and in the district report; a contested
termination is recorded by its own command (issue 17, build item 4)."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.errors import AuthorityError
from ledger.projections.appraisal import district_report, follow_up_list
from tests.appraisal_world import FIRMS, grade, world
from tests.conftest import store_snapshot
from tests.owners_world import DIRECTOR, OC, run

EVERGREEN = FIRMS["evergreen"]


def _eliminated(led: GovernanceLedger) -> None:
    """Evergreen (serving ZQ-001 under HT-1) is eliminated when 2025 closes on 1 December:
    the committee, with the legal counsel, has 30 days (due 2025-12-31)."""
    world(led)
    grade(led, 2025, {"golden": ("90", "90"), "evergreen": ("50", "40")}, "2025-12-01")


def _terminate(led: GovernanceLedger, at: str) -> None:
    run(led, "contract.terminate", DIRECTOR, at, oc=OC, contract="HT-1", firm=EVERGREEN,
        kind="elimination", reason="列入淘汰名单,依法解除合同", legal_counsel="P-0011",
        effective=at)


def test_the_committees_termination_completes_the_follow_up_linked_by_event(
        ledger: GovernanceLedger) -> None:
    _eliminated(ledger)
    [task] = follow_up_list(ledger, "ZQ/2025", date(2025, 12, 10))
    assert (task["task"], task["status"], task["due"], task["overdue"]) == (
        "FU-2025-1", "open", "2025-12-31", False)
    _terminate(ledger, "2025-12-20")
    [task] = follow_up_list(ledger, "ZQ/2025", date(2026, 2, 1))
    assert (task["status"], task["overdue"]) == ("completed", False)
    [step] = task["steps"]
    assert (step["step"], step["community"], step["contract"], step["on_time"]) == (
        "completed", "ZQ-001", "HT-1", True)
    # The link is the firm's ContractTerminated event, written by the same command.
    key, version = step["event"].rsplit("@", 1)
    terminated = ledger.history(key)[int(version) - 1]
    assert terminated.type == "PropertyFirm.ContractTerminated"
    assert terminated.data["contract"] == "HT-1"
    completed = [e for e in ledger.history("appraisal:ZQ/2025")
                 if e.type == "AppraisalYear.FollowUpCompleted"]
    assert completed[0].envelope["command_id"] == terminated.envelope["command_id"]


def test_an_overdue_follow_up_is_flagged_on_the_board_and_in_the_district_report(
        ledger: GovernanceLedger, db_url: str) -> None:
    _eliminated(ledger)
    [task] = follow_up_list(ledger, "ZQ/2025", date(2026, 1, 5))
    assert (task["overdue"], task["days_overdue"]) == (True, 5)
    report = district_report(ledger, "ZQ", date(2026, 1, 5))
    assert report["overdue_follow_ups"] == 1
    assert [b["firm"] for b in report["bans"]] == [EVERGREEN]
    out = CliRunner().invoke(cli, ["--db", db_url, "--lang", "en", "district-report",
                                   "--as-of", "2026-01-05"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "FU-2025-1" in out.output and "overdue by 5 day(s)" in out.output
    assert "overdue tasks: 1" in out.output
    table = CliRunner().invoke(cli, ["--db", db_url, "--lang", "en", "appraisal", "table",
                                     "--year", "2025", "--kind", "follow_ups"],
                               catch_exceptions=False)
    assert "overdue by" in table.output
    # Terminated late, the task is completed but the lateness stays on record.
    _terminate(ledger, "2026-01-10")
    [task] = follow_up_list(ledger, "ZQ/2025", date(2026, 1, 15))
    assert (task["status"], task["overdue"], task["steps"][0]["on_time"]) == (
        "completed", False, False)


def test_a_contested_termination_is_recorded_by_its_own_command(
        ledger: GovernanceLedger) -> None:
    _eliminated(ledger)
    _terminate(ledger, "2025-12-20")
    run(ledger, "contract.contest_termination", DIRECTOR, "2025-12-28", oc=OC,
        contract="HT-1", firm=EVERGREEN, contested_by="常青物业 (Evergreen Property)",
        grounds="认为考核程序有瑕疵,已提起诉讼", document="(2025)沪0112民初1234号")
    [task] = follow_up_list(ledger, "ZQ/2025", date(2026, 1, 5))
    assert task["contested"] is True
    assert [s["step"] for s in task["steps"]] == ["completed", "contested"]
    contested = [e for e in ledger.history(EVERGREEN)
                 if e.type == "PropertyFirm.TerminationContested"]
    assert contested[0].data["document"] == "(2025)沪0112民初1234号"
    assert district_report(ledger, "ZQ", date(2026, 1, 5))["contested_follow_ups"] == 1


def test_contesting_a_contract_in_force_or_without_authority_is_refused(
        ledger: GovernanceLedger) -> None:
    from ledger.aggregates.property_firm import ContractStateError

    _eliminated(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(ContractStateError, match="only a terminated contract"):
        run(ledger, "contract.contest_termination", DIRECTOR, "2025-12-28", oc=OC,
            contract="HT-1", firm=EVERGREEN, contested_by="常青物业", grounds="不服")
    with pytest.raises(AuthorityError, match="contract.contest_termination"):
        run(ledger, "contract.contest_termination",
            {"actor": "P-M101", "post": "property_firm.manager@ZQ-001"}, "2025-12-28",
            oc=OC, contract="HT-1", firm=EVERGREEN, contested_by="常青物业", grounds="不服")
    assert store_snapshot(ledger) == before
