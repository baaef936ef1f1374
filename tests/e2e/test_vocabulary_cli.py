"""The words a clerk needs, findable from the command line (click's CliRunner): posts,
departments, measures and problem types, each with its code and both names."""

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
from ledger.kernel.posts import CATALOGUE
from tests.case_world import world


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'words.db'}"
    led = GovernanceLedger(url)
    world(led)
    led.close()
    return url


def ok(*args: str) -> click.testing.Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_posts_lists_every_post_of_the_catalogue_with_both_names_and_who_may_hold_it(
        tmp_path: Path) -> None:
    rows = json.loads(ok("--db", f"sqlite:///{tmp_path / 'none.db'}", "posts", "--json").output)
    assert [r["code"] for r in rows] == [k.pattern for k in CATALOGUE]
    director = next(r for r in rows if r["code"] == "owners_committee.director")
    assert (director["name_zh"], director["name_en"]) == ("业委会主任", "owners' committee director")
    assert (director["level"], director["body"], director["multi"], director["filled_by"]) == (
        "community", "owners_committee", False, "election")
    table = ok("posts").output
    assert "party_org.secretary" in table and "居民区党组织书记" in table
    assert "owners' election" in table


def test_posts_of_a_community_are_post_ids_with_their_holders(db: str) -> None:
    rows = json.loads(ok("--db", db, "posts", "--community", "ZQ-001", "--json").output)
    ids = {r["post"] for r in rows}
    assert "party_org.secretary@ZQ-001" in ids
    assert "department.police.liaison@ZQ-001" in ids
    held = {r["post"]: r["held_by"] for r in rows}
    status = json.loads(ok("--db", db, "status", "ZQ-001", "--json").output)
    for p in status["communities"][0]["posts"]:
        if p["post"] in held:
            assert any(h.startswith(p["person"]) for h in held[p["post"]])


def test_departments_come_from_the_ledger_and_else_are_the_standard_ones(
        db: str, tmp_path: Path) -> None:
    listed = json.loads(ok("--db", db, "departments", "--json").output)
    assert {d["source"] for d in listed} == {"ledger"}
    housing = next(d for d in listed if d["code"] == "housing")
    assert housing["town"] == "ZQ" and housing["name_en"] == "housing office"
    standard = ok("--db", f"sqlite:///{tmp_path / 'none.db'}", "departments",
                  "--format", "csv").output
    rows = list(csv.reader(io.StringIO(standard)))
    assert rows[0] == ["code", "zh", "en", "town", "example"]
    assert ["police", "公安派出所", "police station", "", "department.police.head@ZQ"] in rows
    assert not (tmp_path / "none.db").exists()  # listing words creates no ledger


def test_measures_name_each_code_with_its_level_and_due_date() -> None:
    rows = json.loads(ok("measures", "--json").output)
    codes = [m["code"] for m in rows]
    assert codes[0] == "spot_check_patrol" and "third_party_patrol_control" in codes
    table = ok("measures").output
    assert "within 3 days" in table and "red (warning)" in table
    assert "派员现场督导" in table


def test_problem_types_are_the_codes_the_case_commands_take() -> None:
    out = ok("problem-types", "--format", "tsv").output.splitlines()
    assert out[0] == "code\tzh\ten\twarning_levels"
    assert "group_renting\t群租\tgroup renting\tyes" in out


@pytest.mark.zh_default
def test_the_words_are_headed_in_chinese_by_default() -> None:
    out = ok("problem-types", "--format", "table").output
    assert "代码" in out and "中文名" in out and "英文名" in out and "违法建筑" in out
