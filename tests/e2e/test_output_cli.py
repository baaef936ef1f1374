"""Output for people and for programs (click's CliRunner): --format table|csv|tsv|json|jsonl,
--json as --format json, TSV when piped, COLUMNS honoured, and ids, codes and dates never
split across lines in a table."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.render import Renderer, column_widths, is_token
from tests.case_world import world


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'out.db'}"
    led = GovernanceLedger(url)
    world(led)
    led.close()
    return url


def ok(db: str, *args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    result = CliRunner().invoke(cli, ["--db", db, *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def posts_in(db: str) -> list[str]:
    data = json.loads(ok(db, "status", "--json").output)
    return [p["post"] for group in ("towns", "communities") for c in data[group]
            for p in c["posts"]]


def test_csv_has_one_header_of_column_keys_and_one_row_per_post(db: str) -> None:
    out = ok(db, "status", "ZQ-001", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out.split("\n\n")[-1])))
    assert rows[0] == ["role", "post", "person", "person_name", "since", "until", "also_holds"]
    assert {r[1] for r in rows[1:]} <= set(posts_in(db))
    assert all(len(r) == 7 for r in rows)


def test_piped_output_is_tab_separated_with_a_header_unless_a_format_is_chosen(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_FORMAT")
    out = ok(db, "status", "ZQ-001").stdout
    lines = out.splitlines()
    assert lines[0].split("\t") == ["role", "post", "person", "person_name", "since", "until",
                                    "also_holds"]
    assert all(len(line.split("\t")) == 7 for line in lines if line)
    assert "┃" not in out
    # LEDGER_FORMAT chooses for every invocation; --format for one.
    assert "┃" in ok(db, "status", "ZQ-001", env={"LEDGER_FORMAT": "table"}).stdout
    assert "┃" in ok(db, "status", "ZQ-001", "--format", "table").stdout


def test_json_is_the_same_as_format_json_and_jsonl_prints_one_value_a_line(db: str) -> None:
    as_json = json.loads(ok(db, "status", "--json").stdout)
    as_format = json.loads(ok(db, "status", "--format", "json").stdout)
    assert as_format.keys() == as_json.keys()
    assert as_format["communities"] == as_json["communities"]
    lines = ok(db, "projections", "status", "--format", "jsonl").stdout.splitlines()
    assert len(lines) > 1
    assert all("name" in json.loads(line) for line in lines)


def test_an_unknown_format_is_refused_with_the_choices(db: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db, "status", "--format", "xml"])
    assert result.exit_code == 2
    assert "'table', 'csv', 'tsv', 'json', 'jsonl'" in result.output


def test_history_notes_go_to_stderr_when_the_output_is_for_programs(db: str) -> None:
    result = ok(db, "history", "town:ZQ", "--in-effect-on", "2030-01-01", "--format", "csv")
    assert next(iter(csv.reader(io.StringIO(result.stdout))))[:3] == ["position", "version",
                                                                   "event"]
    assert "in effect on" in result.stderr and "in effect on" not in result.stdout


@pytest.mark.parametrize("columns", [60, 100, 120, 200])
def test_post_ids_and_dates_stay_whole_in_a_table_at_any_width(db: str, columns: int) -> None:
    out = ok(db, "status", env={"COLUMNS": str(columns)}).stdout
    for post in posts_in(db):
        assert post in out, post
    dates = re.findall(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2})?", out)
    assert dates
    widest = max(len(line) for line in out.splitlines())
    if columns >= 120:
        assert widest <= columns  # the tokens fit: the terminal's width is honoured


def test_a_piped_table_is_160_columns_wide_unless_columns_says_otherwise(db: str) -> None:
    wide = ok(db, "status", "ZQ-001").stdout
    assert max(len(line) for line in wide.splitlines()) <= 160
    narrow = ok(db, "status", "ZQ-001", env={"COLUMNS": "100"}).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 100


def test_free_text_wraps_and_tokens_do_not(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    note = "清明节前完成全部楼道的堆物清理工作并接受居民监督 the work is checked by residents"
    Renderer("en", False).table_labelled(
        "cases", ["case", "post", "note", "amount"],
        [["ZQ-2025-000123", "town.housing_office.director@ZQ", note, "1,250.00"]])
    out = capsys.readouterr().out
    for token in ("ZQ-2025-000123", "town.housing_office.director@ZQ", "1,250.00"):
        assert token in out
    assert note not in out  # wrapped
    assert max(len(line) for line in out.splitlines()) <= 80


def test_tokens_are_ids_codes_dates_amounts_and_short_chinese_words() -> None:
    for text in ("ZQ-2025-000123", "party_org.secretary@ZQ-001", "2025-03-01 09:30",
                 "-35.50", "已制定联合方案", ""):
        assert is_token(text), text
    for text in ("four-in-one meeting", "清明节前完成全部楼道的堆物清理工作"):
        assert not is_token(text), text


def test_a_table_too_narrow_for_its_tokens_is_printed_wider_rather_than_cut() -> None:
    _fixed, widths, width = column_widths(["a", "b"], [["x" * 40, "y" * 40]], 50)
    assert widths == [40, 40] and width == 87


def test_history_and_audit_show_what_an_event_recorded_as_labelled_fields(tmp_path: Path) -> None:
    from tests.conftest import sunny_garden

    db = f"sqlite:///{tmp_path / 'fields.db'}"
    led = GovernanceLedger(db)
    sunny_garden(led)
    led.close()
    en = CliRunner().invoke(cli, ["--db", db, "--lang", "en", "history", "ZQ-001",
                                  "--format", "tsv"])
    assert en.exit_code == 0, en.output
    assert "post: party_org.secretary@ZQ-001; person: P-0101; name: 李华" in en.output
    assert '"target_post"' not in en.output and "{" not in en.output
    zh = CliRunner().invoke(cli, ["--db", db, "--lang", "zh", "history", "ZQ-001",
                                  "--format", "tsv"])
    assert "岗位: party_org.secretary@ZQ-001; 人员: P-0101; 姓名: 李华" in zh.output
    position = en.output.strip().splitlines()[-1].split("\t")[0]
    audit = CliRunner().invoke(cli, ["--db", db, "--lang", "zh", "audit", "decision", position])
    assert audit.exit_code == 0, audit.output
    assert "人员: P-0102; 姓名: 张敏" in audit.output


def test_a_field_of_sealed_personal_data_shows_as_sealed() -> None:
    from ledger.kernel.fields import payload_text

    text = payload_text({"ref": "ZQ-2025-000001", "caller": {"subject": "S-1", "nonce": "x"},
                         "note": None}, "en")
    assert text == "reference: ZQ-2025-000001; caller: (sealed personal data)"
