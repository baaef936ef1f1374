"""The appraisal commands and tables through click's CliRunner: the firm table in Chinese and
English, JSON, CSV and a real .xlsx read back with openpyxl; simulate writes nothing; the
history of an eliminated firm; the demo prints the firm tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from tests.appraisal_world import FIRMS, grade, world
from tests.conftest import store_snapshot

HOUSING = ["--actor", "P-0010", "--post", "town.housing_office.director@ZQ"]
EIGHT = {"golden": ("92", "90"), "chunshen": ("85", "80"), "delta": ("78", "70"),
         "eagle": ("74", "66"), "falcon": ("70", "65"), "grove": ("66", "60"),
         "harbour": ("64", "58"), "evergreen": ("58", "45")}
FIRM_HEADERS_ZH = ["排名", "物业企业", "统一社会信用代码", "考核得分", "业主满意度%", "调查样本",
                   "末三位", "连续末三位年数", "列入淘汰名单", "原因"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'appraisal.db'}"
    led = GovernanceLedger(url)
    world(led)
    grade(led, 2025, EIGHT, "2025-12-01")
    led.close()
    return url


def run(db: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


def snapshot(db: str) -> tuple[int, list[str]]:
    led = GovernanceLedger(db)
    try:
        return store_snapshot(led)
    finally:
        led.close()


def test_the_firm_table_as_csv_has_chinese_headers_and_one_row_per_firm(db: str) -> None:
    result = run(db, "appraisal", "table", "--year", "2025", "--lang", "zh", "--csv")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == FIRM_HEADERS_ZH
    assert [r[2] for r in rows[1:]][-1] == FIRMS["evergreen"]
    last = rows[-1]
    assert last[0] == "8" and last[3] == "58.00" and last[4] == "45.00"
    assert last[6:9] == ["是", "1", "是"]
    assert last[9] == "2025年度考核居末三位，约谈企业负责人并提出书面警告；得分低于60分且满意度低于50%"


def test_the_firm_table_in_english_and_as_json(db: str) -> None:
    en = run(db, "appraisal", "table", "--year", "2025", "--lang", "en", "--csv")
    assert en.output.splitlines()[0] == (
        "rank,firm,credit code,score,satisfaction %,sample size,bottom three,"
        "consecutive bottom-three years,eliminated,reasons")
    data = json.loads(run(db, "appraisal", "table", "--year", "2025", "--json").output)
    assert data["kind"] == "firms"
    assert [r["rank"] for r in data["rows"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert data["rows"][-1]["eliminated"] is True


@pytest.mark.zh_default
def test_the_xlsx_is_a_real_spreadsheet(db: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "考核.xlsx"
    result = run(db, "appraisal", "table", "--year", "2025", "--xlsx", str(path))
    assert result.exit_code == 0, result.output
    ws = load_workbook(path).active
    assert ws is not None
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == FIRM_HEADERS_ZH
    assert len(values) == 9
    assert values[-1][1].startswith("常青物业")
    assert values[-1][8] == "是"


@pytest.mark.parametrize("kind", ["ocs", "communities", "indicators", "objections",
                                  "follow_ups"])
def test_every_table_kind_prints(db: str, kind: str) -> None:
    result = run(db, "--lang", "en", "appraisal", "table", "--year", "2025", "--kind", kind)
    assert result.exit_code == 0, result.output


def test_simulate_prints_the_differences_and_writes_nothing(db: str) -> None:
    before = snapshot(db)
    result = run(db, "--lang", "en", "appraisal", "simulate", "--year", "2025",
                 "--set", "firm.elimination.score_below=65",
                 "--set", "firm.elimination.satisfaction_below=59")
    assert result.exit_code == 0, result.output
    assert "What-if ZQ/2025" in result.output
    assert "harbour" in result.output  # 64/58 joins the list under the what-if
    assert snapshot(db) == before


def test_simulate_with_an_unknown_parameter_fails_and_writes_nothing(db: str) -> None:
    before = snapshot(db)
    result = run(db, "appraisal", "simulate", "--year", "2025", "--set", "firm.nonsense=1")
    assert result.exit_code == 1
    assert "has no parameter 'nonsense'" in result.output
    assert snapshot(db) == before


def test_recording_a_score_to_a_closed_year_fails_in_the_cli(db: str) -> None:
    before = snapshot(db)
    result = run(db, "appraisal", "score", FIRMS["golden"], "95", "--year", "2025",
                 "--body", "镇房管办", *HOUSING, "--at", "2025-12-05")
    assert result.exit_code == 1
    assert "is closed" in result.output and "appraisal reopen" in result.output
    assert snapshot(db) == before


def test_the_history_of_an_eliminated_firm_tells_the_chain(db: str) -> None:
    events = json.loads(run(db, "history", f"firm:{FIRMS['evergreen']}", "--json").output)
    chain = [e for e in events if e["envelope"]["command"] == "appraisal.close_year"]
    assert [e["type"] for e in chain] == [
        "PropertyFirm.AppraisalOutcomeRecorded", "PropertyFirm.InterviewRequired",
        "PropertyFirm.WrittenWarningIssued", "PropertyFirm.PutOnEliminationList",
        "PropertyFirm.CreditRecorded", "PropertyFirm.BiddingBanned",
        "PropertyFirm.ReportedToDistrict"]
    outcome = chain[0]["data"]
    assert {(x["input"], x["actor"]) for x in outcome["entered_by"]} == {
        ("score", "P-0010"), ("satisfaction", "P-0010")}
    assert outcome["rule"]["key"] == "firm.appraisal@1"
    assert chain[3]["data"]["parameters"]["elimination"]["score_below"] == "60.00"
    assert all(e["envelope"]["actor"] == "P-0010" for e in chain)


@pytest.mark.zh_default
def test_the_demo_prints_the_firm_tables_of_both_sample_years(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'demo.db'}", "demo",
                                      "--full"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "物业服务企业年度考核 ZQ/2024" in result.output
    assert "物业服务企业年度考核 ZQ/2025" in result.output
    tables = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'demo.db'}", "appraisal",
                                      "table", "--year", "2025", "--json"]).output
    rows = {r["firm"]: r for r in json.loads(tables)["rows"]}
    shencheng, anju, jinjiang = (rows["91310112MA1GH4U40X"], rows["91310112MA1GE5Q84D"],
                                 rows["91310112MA1GF8R09P"])
    assert (shencheng["consecutive_bottom_three_years"], shencheng["eliminated"]) == (2, True)
    assert (anju["score"], anju["satisfaction"], anju["eliminated"]) == ("60.00", "50.00", False)
    assert [r["code"] for r in jinjiang["reasons"]][-1] == "score_and_satisfaction_below"
    y2024 = json.loads(CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'demo.db'}",
                                                "appraisal", "table", "--year", "2024",
                                                "--json"]).output)["rows"]
    assert sum(1 for r in y2024 if r["bottom_three"]) == 4  # a tie at the third place
    indicators = json.loads(CliRunner().invoke(cli, [
        "--db", f"sqlite:///{tmp_path / 'demo.db'}", "appraisal", "table", "--year", "2025",
        "--kind", "indicators", "--json"]).output)["rows"]
    assert len({r["code"] for r in indicators}) == 14
    measured = {r["code"]: r["value"] for r in indicators if r["community"] == "ZQ-001"}
    assert measured["i04_four_in_one_meetings"] == "11"
    assert measured["i05_case_closure"] is not None
