"""The fourteen indicators, all computed from events: which events feed each one, and, where
the seed gives no formula, the town's versioned parameter set (issue 17, build item 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.indicators import INDICATOR_CALCULATORS, indicator_table
from tests.appraisal_world import world
from tests.conftest import ADMIN
from tests.owners_world import DIRECTOR, OC, run

PEACE = {"actor": "P-0004", "post": "town.peace_office.director@ZQ"}
FOURTEEN = ("resolution_completion_rate", "resolution_overdue_rate", "four_in_one_cadence_kept",
            "four_in_one_meetings", "case_closure_rate", "case_overdue_rate", "warnings_red",
            "warnings_black", "safety_patrols", "cleared_illegal_construction",
            "cleared_group_renting", "volunteer_service_hours", "dispute_mediation_success",
            "sense_of_safety")


def test_every_calculator_says_which_events_feed_it() -> None:
    assert set(FOURTEEN) <= set(INDICATOR_CALCULATORS)
    for calc in INDICATOR_CALCULATORS.values():
        assert calc.events, calc.code
    # The six the seed gives no formula for have a town-set parameter set.
    for code in FOURTEEN[8:]:
        assert INDICATOR_CALCULATORS[code].parameters, code


def _define(led: GovernanceLedger, code: str, measure: str) -> None:
    run(led, "appraisal.define_indicator", PEACE, "2025-12-02", year=2025, code=code,
        name_zh=code, name_en=code, unit="%", weight="5", source="ledger", measure=measure)


def _values(led: GovernanceLedger) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in indicator_table(led, "ZQ/2025") if r["community"] == "ZQ-001"}


def test_mediation_success_is_measured_under_the_towns_versioned_formula(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    for ref, outcome in (("MD-1", "settled"), ("MD-2", "referred"), ("MD-3", "not_settled"),
                         ("MD-4", "settled")):
        run(ledger, "oc.mediate", DIRECTOR, "2025-07-20", oc=OC, dispute=ref,
            parties=["302室", "402室"], summary="漏水", outcome=outcome)
    # Mediated in the next year: not the 2025 figure's.
    run(ledger, "oc.mediate", DIRECTOR, "2026-01-05", oc=OC, dispute="MD-5",
        parties=["302室", "402室"], summary="噪音", outcome="not_settled")
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    _define(ledger, "i13_disputes", "dispute_mediation_success")
    row = _values(ledger)["i13_disputes"]
    assert row["value"] == "50.00"
    assert row["events"].startswith("OwnersCommittee.DisputeMediated")
    assert row["formula"] == ('indicator.dispute_mediation_success (defaults): '
                              '{"count_referred_as_success": false}')
    # The town counts a referral as a success: a new version of the formula, by event.
    result = run(ledger, "town.set_parameter", ADMIN, "2025-12-05", town="ZQ",
                 name="indicator.dispute_mediation_success.count_referred_as_success",
                 value=True)
    row = _values(ledger)["i13_disputes"]
    assert row["value"] == "75.00"
    assert row["formula"].startswith(
        f"indicator.dispute_mediation_success (town event #{result.positions[0]})")


def test_cases_feed_clearance_patrols_and_the_sense_of_safety(ledger: GovernanceLedger) -> None:
    from tests.case_world import single_to_closed
    from tests.case_world import world as case_world

    case_world(ledger)
    single_to_closed(ledger, "ZQ-2025-000001")
    single_to_closed(ledger, "ZQ-2025-000002", day=2)
    run(ledger, "case.callback", {"actor": "P-0005", "post": "town.peace_office.staff@ZQ"},
        "2025-03-30", ref="ZQ-2025-000001", satisfied=True)
    run(ledger, "case.callback", {"actor": "P-0005", "post": "town.peace_office.staff@ZQ"},
        "2025-03-30", ref="ZQ-2025-000002", satisfied=False)
    run(ledger, "appraisal.open_year", ADMIN, "2025-12-01", year=2025)
    for code, measure in (("i09", "safety_patrols"), ("i10", "cleared_illegal_construction"),
                          ("i11", "cleared_group_renting"), ("i14", "sense_of_safety")):
        run(ledger, "appraisal.define_indicator", PEACE, "2025-12-02", year=2025, code=code,
            name_zh=code, name_en=code, unit="%", weight="5", source="ledger", measure=measure)
    values = {k: v["value"] for k, v in _values(ledger).items()}
    # Two illegal-construction cases, each inspected once, both closed; one satisfied callback.
    assert values == {"i09": "2", "i10": "100.00", "i11": None, "i14": "50.00"}
    run(ledger, "town.set_parameter", ADMIN, "2025-12-05", town="ZQ",
        name="indicator.cleared_illegal_construction.require_satisfied_callback", value=True)
    assert _values(ledger)["i10"]["value"] == "50.00"


def test_all_fourteen_appear_in_the_demos_year_end_table_with_their_source(
        tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'demo.db'}", "--lang",
                                      "en", "demo", "--full"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Safe-community governance indicators ZQ/2025 (14)" in result.output
    rows = indicator_table(GovernanceLedger(f"sqlite:///{tmp_path / 'demo.db'}"), "ZQ/2025")
    codes = {r["code"]: r for r in rows if r["community"] == "ZQ-001"}
    assert len(codes) == 14
    assert all(r["source"] == "ledger" and r["events"] for r in codes.values())
    assert codes["i12_volunteers"]["formula"].startswith(
        "indicator.volunteer_service_hours (town event #")
