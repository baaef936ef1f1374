"""Cascading reruns: rerunning year Y marks every later closed year stale, and reading a stale
year says so; ``appraisal rerun --cascade`` reruns the later years in order and records what
changed in each (issue 17, build item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from ledger.aggregates.appraisal_year import AppraisalYearStateError
from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.projections.appraisal import firm_table, follow_up_list, rerun_history, year_row
from tests.appraisal_world import FIRMS, grade, world
from tests.conftest import store_snapshot
from tests.owners_world import HOUSING, run

#: Five firms; Evergreen, Delta and Eagle are the bottom three.
GRADES = {"golden": ("90", "80"), "chunshen": ("85", "80"), "delta": ("80", "80"),
          "evergreen": ("70", "80"), "eagle": ("65", "80")}
NAMES = {v: k for k, v in FIRMS.items()}


def _three_years(led: GovernanceLedger) -> None:
    """2024, 2025 and 2026 graded alike: Evergreen is in the bottom three every year, so it
    is eliminated in 2025 (two years running) and again in 2026."""
    world(led)
    grade(led, 2024, GRADES, "2025-02-01")
    grade(led, 2025, GRADES, "2025-12-01")
    grade(led, 2026, GRADES, "2026-12-01")


def _correct_2024(led: GovernanceLedger) -> None:
    """An upheld objection: Evergreen's 2024 score was 95, not 70."""
    run(led, "appraisal.reopen", HOUSING, "2026-12-02", year=2024, reason="异议成立,更正得分")
    run(led, "appraisal.record_firm_score", HOUSING, "2026-12-02", year=2024,
        firm=FIRMS["evergreen"], score="95", appraising_body="镇房管办考核组")


def _row(led: GovernanceLedger, year: int, name: str) -> dict[str, Any]:
    return next(r for r in firm_table(led, f"ZQ/{year}") if NAMES[r["firm"]] == name)


def test_rerunning_a_year_marks_every_later_closed_year_stale_and_reading_says_so(
        ledger: GovernanceLedger, db_url: str) -> None:
    _three_years(ledger)
    _correct_2024(ledger)
    closed = run(ledger, "appraisal.close_year", HOUSING, "2026-12-03", year=2024)
    assert closed.detail["stale"] == ["ZQ/2025", "ZQ/2026"]
    assert year_row(ledger, "ZQ/2025")["stale"] == {
        "because": "ZQ/2024", "run": 2, "at": "2026-12-03T00:00:00+08:00"}
    assert year_row(ledger, "ZQ/2024")["stale"] is None
    out = CliRunner().invoke(cli, ["--db", db_url, "--lang", "en", "appraisal", "table",
                                   "--year", "2025"], catch_exceptions=False)
    assert "note: ZQ/2024 was rerun after ZQ/2025 was closed" in out.output
    as_json = CliRunner().invoke(cli, ["--db", db_url, "appraisal", "table", "--year", "2026",
                                       "--json"], catch_exceptions=False)
    assert '"because": "ZQ/2024"' in as_json.output


def test_a_cascading_rerun_over_three_years_records_what_changed_in_each(
        ledger: GovernanceLedger) -> None:
    _three_years(ledger)
    assert _row(ledger, 2025, "evergreen")["eliminated"] is True
    assert _row(ledger, 2026, "evergreen")["consecutive_bottom_three_years"] == 3
    _correct_2024(ledger)
    result = run(ledger, "appraisal.rerun", HOUSING, "2026-12-03", year=2024,
                 reason="2024年得分更正", cascade=True)
    detail = result.detail
    # 2024, run 2: Evergreen leaves the bottom three and Chunshen enters it (Golden and
    # Delta change rank only).
    changed_2024 = {NAMES[c["firm"]]: (c["added"], c["withdrawn"]) for c in detail["changes"]}
    assert changed_2024 == {"evergreen": ([], ["interview", "written_warning"]),
                            "chunshen": (["interview", "written_warning"], []),
                            "golden": ([], []), "delta": ([], [])}
    [c2025, c2026] = detail["cascade"]
    # 2025, rerun: Evergreen was not in the bottom three two years running after all.
    assert c2025["appraisal"] == "ZQ/2025" and c2025["run"] == 2
    assert {NAMES[c["firm"]]: c["withdrawn"] for c in c2025["changes"]} == {
        "evergreen": ["elimination_list"]}
    assert _row(ledger, 2025, "evergreen")["eliminated"] is False
    [task] = follow_up_list(ledger, "ZQ/2025")
    assert task["status"] == "cancelled"
    # 2026, rerun: still eliminated (2025 and 2026), but the run is now two years, not three.
    assert c2026["appraisal"] == "ZQ/2026" and c2026["changes"] == [
        {"firm": FIRMS["evergreen"], "added": [], "withdrawn": []}]
    assert _row(ledger, 2026, "evergreen")["consecutive_bottom_three_years"] == 2
    # Each later year records the cascade, and none is stale any more.
    for key in ("ZQ/2025", "ZQ/2026"):
        history = rerun_history(ledger, key)
        assert [h["kind"] for h in history][-1] == "cascade"
        assert history[-1]["because"] == "ZQ/2024"
        assert year_row(ledger, key)["stale"] is None
    cascade = [e for e in ledger.history("appraisal:ZQ/2025") if e.type ==
               "AppraisalYear.CascadeRerun"]
    assert cascade[0].data["changed"] == [{"firm": FIRMS["evergreen"], "added": [],
                                           "withdrawn": ["elimination_list"]}]
    reopened = [e for e in ledger.history("appraisal:ZQ/2026")
                if e.type == "AppraisalYear.Reopened"]
    assert reopened[-1].data["reason"].startswith("cascade after ZQ/2024 run 2")


def test_rerunning_a_year_never_closed_is_refused(ledger: GovernanceLedger) -> None:
    world(ledger)
    grade(ledger, 2025, GRADES, "2025-12-01", close=False)
    before = store_snapshot(ledger)
    with pytest.raises(AppraisalYearStateError, match="was never closed"):
        run(ledger, "appraisal.rerun", HOUSING, "2025-12-03", year=2025, reason="x")
    assert store_snapshot(ledger) == before


def test_ledger_appraisal_rerun_cascade_prints_each_year(ledger: GovernanceLedger,
                                                         db_url: str) -> None:
    _three_years(ledger)
    _correct_2024(ledger)
    out = CliRunner().invoke(cli, [
        "--db", db_url, "--lang", "en", "appraisal", "rerun", "--year", "2024", "--reason",
        "更正", "--cascade", "--actor", "P-0010", "--post", "town.housing_office.director@ZQ",
        "--at", "2026-12-03"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "ZQ/2024 run 2:" in out.output
    assert f"ZQ/2025 run 2: {FIRMS['evergreen']} +- -elimination_list" in out.output
    assert "ZQ/2026 run 2:" in out.output
