"""Cases, warnings, duties and documents through the command line (click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from tests.case_world import world

PEACE = ["--actor", "P-0004", "--post", "town.peace_office.director@ZQ"]
PEACE_STAFF = ["--actor", "P-0005", "--post", "town.peace_office.staff@ZQ"]
JEO = ["--actor", "P-0006", "--post", "town.joint_enforcement_office.director@ZQ"]
JEO_STAFF = ["--actor", "P-0007", "--post", "town.joint_enforcement_office.staff@ZQ"]
HOUSING = ["--actor", "P-0042", "--post", "department.housing.staff@ZQ"]
MARKET = ["--actor", "P-0044", "--post", "department.market_supervision.staff@ZQ"]
SUPERVISOR = ["--actor", "P-0008", "--post", "town.supervision_team.leader@ZQ"]
REF = "ZQ-2025-000042"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    led = GovernanceLedger(url)
    world(led)
    led.close()
    return url


def run(db: str, *args: str) -> click.testing.Result:
    result = CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)
    return result


def ok(db: str, *args: str) -> click.testing.Result:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result


def joint_case(db: str) -> None:
    ok(db, "case", "receive", REF, "--community", "ZQ-001", "--channel", "hotline",
       "--problem-type", "group_renting", "--description", "疑似群租", "--caller-name", "赵先生",
       *PEACE_STAFF, "--at", "2025-03-03T09:00")
    ok(db, "case", "accept", REF, *PEACE_STAFF, "--at", "2025-03-03T10:00")
    ok(db, "case", "assess", REF, "--mode", "multi", "--reason", "群租兼无照经营", *JEO,
       "--at", "2025-03-03T15:00")
    ok(db, "case", "dispatch", REF, "--department", "housing", "--department",
       "market_supervision", *PEACE, "--at", "2025-03-04T09:00")
    ok(db, "case", "acknowledge", REF, *JEO_STAFF, "--at", "2025-03-04T10:00")
    ok(db, "case", "plan", REF, "--task", "housing=核查隔断", "--task",
       "market_supervision=查处无照经营", *JEO, "--at", "2025-03-05T09:00")
    ok(db, "case", "inspect", REF, "--findings", "一套房隔成8间", "--evidence", "photo:1",
       *HOUSING, "--at", "2025-03-06T10:00")
    ok(db, "case", "inspect", REF, "--findings", "无照小吃店", *MARKET, "--at", "2025-03-06T14:00")
    ok(db, "case", "rectify", REF, "--plan", "拆除隔断", "--deadline", "2025-04-07", *JEO_STAFF,
       "--at", "2025-03-07T09:00")
    ok(db, "case", "feedback", REF, "--result", "已整改", *JEO_STAFF, "--at", "2025-04-03T09:00")
    ok(db, "case", "verify", REF, *SUPERVISOR, "--at", "2025-04-05T09:00")
    ok(db, "case", "close", REF, *PEACE, "--at", "2025-04-06T09:00")


def test_a_joint_case_through_the_cli_and_its_history_in_order(db: str) -> None:
    joint_case(db)
    out = ok(db, "--lang", "en", "history", REF).output
    order = ["Case.Received", "Case.Accepted", "Case.Assessed", "Case.Dispatched",
             "Case.Acknowledged", "Case.JointPlanDrawnUp", "Case.Inspected",
             "Case.Rectification", "Case.FeedbackReported", "Case.Verified",
             "Case.Closed"]
    positions = [out.index(name) for name in order]
    assert positions == sorted(positions)
    events = json.loads(ok(db, "history", REF, "--json").output)
    assert [(e["envelope"]["actor"], e["envelope"]["post"]) for e in events][5:8] == [
        ("P-0006", "town.joint_enforcement_office.director@ZQ"),
        ("P-0042", "department.housing.staff@ZQ"),
        ("P-0044", "department.market_supervision.staff@ZQ"),
    ]


@pytest.mark.zh_default
def test_cases_as_of_shows_the_board_as_it_was_in_both_languages(db: str) -> None:
    joint_case(db)
    past = json.loads(ok(db, "cases", "--as-of", "2025-03-05T12:00", "--json").output)
    assert [(c["ref"], c["status"]) for c in past["cases"]] == [(REF, "planned")]
    now = json.loads(ok(db, "cases", "--json").output)
    assert now["cases"][0]["status"] == "closed"
    zh = ok(db, "cases", "--as-of", "2025-03-05T12:00").output
    assert "已制定联合方案" in zh and "多部门联合处置" in zh
    en = ok(db, "--lang", "en", "cases", "--as-of", "2025-03-05T12:00").output
    assert "Case board" in en and "joint" in en


def test_refused_case_command_exits_1_naming_the_state(db: str) -> None:
    joint_case(db)
    result = run(db, "case", "close", REF, *PEACE, "--at", "2025-04-07")
    assert result.exit_code == 1
    assert "is closed: 'close' is not allowed" in result.output


def test_warnings_board_shows_missed_measures_in_the_cli(db: str) -> None:
    ok(db, "warning", "raise", "ZQ-001", "group_renting", "--level", "red", "--reason",
       "群租反复", "--evidence", "report:1", *PEACE, "--at", "2025-05-01")
    ok(db, "warning", "measure", "ZQ-001", "group_renting", "onsite_supervision", "--person",
       "P-0009", "--evidence", "visit:1", *SUPERVISOR, "--at", "2025-05-02")
    data = json.loads(ok(db, "warnings", "--as-of", "2025-05-20", "--json").output)
    codes = {m["code"]: m["status"] for m in data["warnings"][0]["measures"]}
    assert codes["rectification_plan"] == "missed"
    assert codes["onsite_supervision"] == "fulfilled"
    out = ok(db, "--lang", "en", "warnings", "--as-of", "2025-05-20").output
    assert "MISSED" in out and "red (warning)" in out
    refused = run(db, "warning", "escalate", "ZQ-001", "group_renting", "--level", "black",
                  "--reason", "恶化", *PEACE, "--at", "2025-05-21")
    assert refused.exit_code == 1 and "needs evidence" in refused.output


@pytest.mark.zh_default
def test_duties_and_documents_in_the_cli(db: str, tmp_path: Path) -> None:
    entries = [{"problem_type": "group_renting", "stage": "source_control",
                "party": "residents_committee",
                "duties": [{"code": "rental_registration", "text": "出租房屋登记"}]}]
    path = tmp_path / "duties.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    ok(db, "duty", "issue", str(path), "--town", "ZQ", "--actor", "P-0003", "--post",
       "town.government.mayor@ZQ", "--at", "2025-02-01")
    ok(db, "duty", "fail", "residents_committee", "--community", "ZQ-001", "--problem-type",
       "group_renting", "--stage", "source_control", "--duty", "rental_registration",
       "--description", "未登记", *SUPERVISOR, "--at", "2025-03-01")
    data = json.loads(ok(db, "duties", "--year", "2025", "--json").output)
    assert data["failures"]["parties"] == [
        {"party": "residents_committee", "year": 2025, "failures": 1}]
    ok(db, "document", "file", "advice_guidance", "--community", "ZQ-001", "--field",
       "addressee=阳光花园居委会", "--field", "advice=建立出租房屋台账", *SUPERVISOR,
       "--at", "2025-03-02")
    docs = json.loads(ok(db, "documents", "ZQ-001", "--json").output)
    assert docs[0]["fields"]["advice"] == "建立出租房屋台账"
    assert "建议指导" in ok(db, "documents").output


def test_case_help_draws_the_lifecycle_from_the_transitions_table() -> None:
    from ledger.aggregates.case import TRANSITIONS

    shown = CliRunner().invoke(cli, ["--lang", "en", "case", "--help"])
    assert shown.exit_code == 0, shown.output
    text = shown.output[shown.output.index("Lifecycle"):]
    drawn = set()
    state: str | None = None
    for line in text.splitlines()[1:]:
        if line.startswith("      "):
            command, _arrow, after = line.strip().partition(" → ")
            drawn.add((state, command, after.split("(")[-1].rstrip(")")))
        elif line.startswith("  ") and not line.startswith("   ") and "(" not in line[:3]:
            name = line.strip()
            state = None if name == "(no case yet)" else name.split("(")[-1].rstrip(")")
    wanted = {(b, c, a) for (b, c), a in TRANSITIONS.items() if c != "supervise"}
    assert drawn == wanted
    assert "supervise" in text
    chinese = CliRunner().invoke(cli, ["--lang", "zh", "case", "--help"])
    assert "案件生命周期" in chinese.output and "已受理登记 (received)" in chinese.output
