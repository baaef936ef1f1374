"""The bundled sample year's cases and warnings load without a rejected line and show what the
boards are for: every colour, a missed measure, a black warning's review, overdue cases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from ledger.application import GovernanceLedger
from ledger.cli import sample_files
from ledger.kernel.config import localize
from ledger.projections.cases import case_board, duty_failure_counts, warning_board

YEAR_END = localize(datetime(2025, 12, 31, 18))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovernanceLedger]:
    path = tmp_path_factory.mktemp("sample") / "zq.db"
    led = GovernanceLedger(f"sqlite:///{path}")
    for f in sample_files():
        if f.name.startswith(("00-", "20-")):
            with Path(f).open(encoding="utf-8") as fh:
                for outcome in led.apply(fh):
                    assert outcome.ok, f"{f.name} line {outcome.line}: {outcome.error}"
    yield led
    led.close()


@pytest.mark.slow
def test_the_sample_year_has_every_colour_and_a_black_review_with_third_party_control(
        sample: GovernanceLedger) -> None:
    warnings = {w["key"]: w for w in warning_board(sample, as_of=YEAR_END)["warnings"]}
    assert {w["level"] for w in warnings.values()} == {"orange", "red", "black"}
    red = warnings["ZQ-003/group_renting"]
    assert {m["code"]: m["status"] for m in red["measures"]}["rectification_plan"] == "missed"
    black = {m["code"]: m for m in warnings["ZQ-005/illegal_construction"]["measures"]}
    assert black["improvement_review"]["outcome"] == "not_improved"
    assert black["third_party_patrol_control"]["status"] == "fulfilled"
    assert black["third_party_patrol_control"]["third_party"]
    # Earlier in the year the board looked different: ZQ-004 was red in April.
    april = warning_board(sample, as_of=localize(datetime(2025, 4, 1)))["warnings"]
    assert [(w["key"], w["level"]) for w in april] == [("ZQ-004/unlicensed_business", "red")]


@pytest.mark.slow
def test_the_sample_year_has_joint_returned_reopened_merged_and_overdue_cases(
        sample: GovernanceLedger) -> None:
    cases = case_board(sample, as_of=YEAR_END)["cases"]
    assert len(cases) >= 30
    assert {c["channel"] for c in cases} == {"hotline", "street_patrol", "rc_report"}
    assert any(c["mode"] == "multi" for c in cases)
    assert any(c["returns"] for c in cases)
    assert any(c["reopens"] for c in cases)
    assert any(c["status"] == "merged" for c in cases)
    assert any(c["overdue"] and c["supervisions"] for c in cases)
    parties = {p["party"] for p in duty_failure_counts(sample, 2025)["parties"]}
    assert parties == {"residents_committee", "department:housing", "department:demolition"}


@pytest.mark.slow
def test_the_demo_shows_the_warnings_board_and_the_overdue_cases(
        sample: GovernanceLedger, capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.commandline.cases import demo_section
    from ledger.render import Renderer

    demo_section(sample, Renderer(lang="en", json=False))
    out = capsys.readouterr().out
    assert "Three-colour warnings — as of 2025-12-31 18:00" in out
    assert "black (severe)" in out and "MISSED" in out
    assert "Overdue cases — as of 2025-12-31 18:00" in out
