"""The clerk's command line without traps and with less typing (click's CliRunner): a missing
ledger, a read-only copy, tracebacks, profiles, dry runs, automatic case numbers, apply with
a byte-order mark and --atomic."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger, _cannot_open
from ledger.cli import cli
from ledger.kernel.errors import CommandValidationError, LedgerNotFoundError, NotFoundError
from tests.case_world import world
from tests.conftest import store_snapshot

PEACE_STAFF = ["--actor", "P-0005", "--post", "town.peace_office.staff@ZQ"]
RECEIVE = ["case", "receive", "--community", "ZQ-001", "--channel", "hotline",
           "--problem-type", "group_renting", "--description", "疑似群租"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'clerk.db'}"
    led = GovernanceLedger(url)
    world(led)
    led.close()
    return url


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profiles in a directory of the test's own."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("LEDGER_PROFILE", raising=False)
    monkeypatch.delenv("LEDGER_ACTOR", raising=False)
    monkeypatch.delenv("LEDGER_POST", raising=False)
    return home


def run(db: str, *args: str, input: str | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args], input=input)


def ok(db: str, *args: str) -> click.testing.Result:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result


def counts(db: str) -> tuple[int, list[str]]:
    led = GovernanceLedger(db)
    try:
        return store_snapshot(led)
    finally:
        led.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- no traps
def test_a_db_that_does_not_exist_is_an_error_naming_the_path_and_init(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = run(f"sqlite:///{missing}", "status")
    assert result.exit_code == 2
    assert f"no ledger at {missing}" in result.output
    assert "ledger --db sqlite:///" in result.output and "init" in result.output
    assert not missing.exists()  # nothing was created


def test_init_creates_the_ledger_a_missing_path_names(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    ok(f"sqlite:///{path}", "init")
    assert path.exists()
    ok(f"sqlite:///{path}", "status")


def test_a_missing_postgresql_database_is_named_and_exits_2() -> None:
    error = _cannot_open("postgresql+psycopg://clerk@db.example:5433/zq_ledger", Exception(
        'connection failed: FATAL:  database "zq_ledger" does not exist'))
    assert isinstance(error, LedgerNotFoundError)
    assert error.exit_code == 2
    assert "'zq_ledger' does not exist on db.example:5433" in str(error)
    assert "createdb zq_ledger" in str(error)
    unreachable = _cannot_open("postgresql+psycopg://clerk@db.example/zq", Exception(
        "connection refused"))
    assert not isinstance(unreachable, LedgerNotFoundError)
    assert "cannot connect to the PostgreSQL ledger 'zq' on db.example:5432 as clerk" in str(
        unreachable)


def _read_only_backup(db: str, tmp_path: Path) -> Path:
    copy = tmp_path / "audit" / "copy.db"
    copy.parent.mkdir()
    ok(db, "backup", str(copy))
    copy.chmod(0o444)
    return copy


def test_a_read_only_backup_copy_reads_and_verifies_and_refuses_a_write_at_once(
        db: str, tmp_path: Path) -> None:
    ok(db, "init")  # the ledger's signing key, beside it
    ok(db, "checkpoint")
    published = tmp_path / "verifier-key.txt"
    published.write_text(ok(db, "key", "export").output, encoding="utf-8")
    copy = _read_only_backup(db, tmp_path)
    url = f"sqlite:///{copy}"
    before, listing = digest(copy), sorted(os.listdir(copy.parent))
    assert "ZQ-001 阳光花园" in ok(url, "status").output
    assert "verified" in ok(url, "verify", "--key", str(published)).output
    result = run(url, "community", "register", "ZQ-009", "新村", "--actor", "P-0001",
                 "--post", "town.ledger_admin@ZQ")
    assert result.exit_code == 1
    assert "read-only ledger" in result.output
    assert "concurrent" not in result.output
    result = run(url, "apply", "-", input=json.dumps({
        "type": "community.register", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
        "code": "ZQ-009", "name": "新村"}) + "\n")
    assert result.exit_code == 1 and "read-only ledger" in result.output
    # The copy, and the directory around it, are exactly as they were.
    assert digest(copy) == before
    assert sorted(os.listdir(copy.parent)) == listing


def test_a_dry_run_on_a_read_only_copy_is_a_read(db: str, tmp_path: Path) -> None:
    copy = _read_only_backup(db, tmp_path)
    result = ok(f"sqlite:///{copy}", "community", "register", "ZQ-009", "新村", "--actor",
                "P-0001", "--post", "town.ledger_admin@ZQ", "--dry-run")
    assert "Community.Registered" in result.output


def test_a_ledger_in_a_read_only_directory_opens_read_only_and_leaves_no_file_beside_it(
        db: str, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    live = Path(db.removeprefix("sqlite:///"))
    (folder / "clerk.db").write_bytes(live.read_bytes())  # a WAL-mode file, closed cleanly
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        url = f"sqlite:///{folder / 'clerk.db'}"
        assert "ZQ-001" in ok(url, "status").output
        result = run(url, "case", "receive", *RECEIVE[2:], *PEACE_STAFF)
        assert result.exit_code == 1 and "read-only ledger" in result.output
        assert os.listdir(folder) == ["clerk.db"]
    finally:
        folder.chmod(0o755)


def test_no_traceback_without_debug_and_one_with_it(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(GovernanceLedger, "status", broken)
    result = run(db, "status")
    assert result.exit_code == 1
    assert result.output == ("Error: unexpected failure (RuntimeError): disk on fire; run "
                             "again with --debug to see where\n")
    assert "Traceback" not in result.output
    debug = run(db, "--debug", "status")
    assert isinstance(debug.exception, RuntimeError)


# ---------------------------------------------------------------------------- profiles
def test_profiles_are_kept_owner_only_and_fill_actor_and_post(
        db: str, config_home: Path) -> None:
    ok(db, "profile", "set", "clerk", "--actor", "P-0005", "--post",
       "town.peace_office.staff@ZQ")
    path = config_home / "zq-ledger" / "profiles.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    listed = ok(db, "--profile", "clerk", "--lang", "en", "profile", "list").output
    assert "clerk *" in listed and "P-0005" in listed
    # Headed in the reader's language on a terminal; the same column names for programs.
    table = ok(db, "--lang", "zh", "profile", "list", "--format", "table").output
    assert "身份配置" in table and "密钥文件" in table
    tsv = ok(db, "--lang", "zh", "profile", "list", "--format", "tsv").output
    assert tsv.splitlines()[0].split("\t") == ["profile", "actor", "acting_post", "key_file"]
    shown = json.loads(ok(db, "profile", "show", "clerk", "--json").output)
    assert shown == {"name": "clerk", "actor": "P-0005", "post": "town.peace_office.staff@ZQ"}
    out = ok(db, "--profile", "clerk", *RECEIVE, "--at", "2025-03-03T09:00", "--json").output
    assert json.loads(out)["outcome"] == "accepted"
    led = GovernanceLedger(db)
    try:
        event = led.history("ZQ-2025-000001")[0]
    finally:
        led.close()
    assert (event.envelope["actor"], event.envelope["post"]) == (
        "P-0005", "town.peace_office.staff@ZQ")


def test_the_command_line_wins_over_the_profile_and_the_profile_over_the_environment(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok(db, "profile", "set", "clerk", "--actor", "P-0005", "--post",
       "town.peace_office.staff@ZQ")
    monkeypatch.setenv("LEDGER_ACTOR", "P-0009")
    monkeypatch.setenv("LEDGER_PROFILE", "clerk")
    # The profile (chosen by LEDGER_PROFILE) beats LEDGER_ACTOR: P-0005 receives.
    ok(db, *RECEIVE)
    # --actor on the command line beats the profile: P-0001 is no peace-office staff.
    result = run(db, *RECEIVE, "--actor", "P-0001")
    assert result.exit_code == 1 and "P-0001" in result.output


def test_an_unknown_profile_and_a_missing_actor_say_what_to_do(db: str) -> None:
    result = run(db, "--profile", "nobody", "status")
    assert result.exit_code == 2
    assert "no profile 'nobody'" in result.output and "ledger profile set" in result.output
    result = run(db, *RECEIVE)
    assert result.exit_code == 2
    assert "Missing option '--actor'" in result.output and "--profile" in result.output


def test_profile_delete_removes_it(db: str) -> None:
    ok(db, "profile", "set", "clerk", "--actor", "P-0005")
    ok(db, "profile", "delete", "clerk")
    assert "no profiles yet" in ok(db, "profile", "list").output
    assert run(db, "profile", "delete", "clerk").exit_code == 2


# ---------------------------------------------------------------------------- dry runs, numbers
def test_dry_run_on_a_single_write_checks_it_and_writes_nothing(db: str) -> None:
    before = counts(db)
    out = ok(db, "--lang", "en", *RECEIVE, *PEACE_STAFF, "--dry-run").output
    assert "Case.Received" in out and "nothing written" in out
    assert "case number: ZQ-20" in out
    refused = run(db, "case", "accept", "ZQ-2025-000077", *PEACE_STAFF, "--dry-run")
    assert refused.exit_code == 1
    assert counts(db) == before


def test_cases_are_numbered_from_the_towns_sequence_when_no_reference_is_given(
        db: str) -> None:
    first = ok(db, *RECEIVE, *PEACE_STAFF, "--at", "2025-03-03T09:00").output
    assert "ZQ-2025-000001" in first
    second = ok(db, *RECEIVE, *PEACE_STAFF, "--at", "2025-03-03T10:00").output
    assert "ZQ-2025-000002" in second
    # A reference given by hand further on is skipped, never taken twice.
    ok(db, "case", "receive", "ZQ-2025-000003", *RECEIVE[2:], *PEACE_STAFF,
       "--at", "2025-03-03T11:00")
    third = json.loads(ok(db, *RECEIVE, *PEACE_STAFF, "--at", "2025-03-04T09:00",
                          "--json").output)
    assert third["detail"]["case"] == "ZQ-2025-000004"
    # A new year starts a new sequence.
    new_year = ok(db, *RECEIVE, *PEACE_STAFF, "--at", "2026-01-02T09:00").output
    assert "ZQ-2026-000001" in new_year


def test_a_wrong_case_number_is_explained_not_shown_as_a_pattern(db: str) -> None:
    result = run(db, "case", "accept", "ZQ-25-42", *PEACE_STAFF)
    assert result.exit_code == 1
    assert ("'ZQ-25-42' is not valid: a case reference is <TOWN>-<YEAR>-<six digits>, e.g. "
            "ZQ-2025-000123") in result.output
    assert "^[A-Z]" not in result.output


# ---------------------------------------------------------------------------- apply
def _line(code: str, name: str, **extra: str) -> str:
    return json.dumps({"type": "community.register", "actor": "P-0001",
                       "post": "town.ledger_admin@ZQ", "code": code, "name": name,
                       "occurred_at": "2025-02-01", **extra}, ensure_ascii=False)


def test_apply_accepts_a_file_with_a_byte_order_mark(db: str, tmp_path: Path) -> None:
    path = tmp_path / "notepad.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (_line("ZQ-011", "东苑") + "\r\n"
                                        + _line("ZQ-012", "西苑") + "\r\n").encode("utf-8"))
    result = ok(db, "apply", str(path))
    assert "line 1" in result.output and "line 2" in result.output
    assert counts(db)[0] > 0
    assert "ZQ-011" in ok(db, "status", "ZQ-011").output


def test_apply_atomic_writes_nothing_when_a_later_line_fails(db: str, tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    # Lines 1 and 2 are good; line 3 registers ZQ-011 again and is refused when it is
    # recorded, after the first two were written inside the transaction.
    path.write_text("\n".join([_line("ZQ-011", "东苑"), _line("ZQ-012", "西苑"),
                               _line("ZQ-011", "东苑二期")]) + "\n", encoding="utf-8")
    before = counts(db)
    result = run(db, "--lang", "en", "apply", "--atomic", str(path))
    assert result.exit_code == 1
    assert "nothing written: line 3 was rejected" in result.output
    assert counts(db) == before
    assert run(db, "status", "ZQ-011").exit_code == 1  # not registered
    # Without the bad line the same file goes in whole.
    path.write_text("\n".join([_line("ZQ-011", "东苑"), _line("ZQ-012", "西苑")]) + "\n",
                    encoding="utf-8")
    ok(db, "apply", "--atomic", str(path))
    after = counts(db)
    assert len(after[1]) == len(before[1]) + 2


def test_apply_atomic_and_keep_going_exclude_each_other(db: str, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_line("ZQ-011", "东苑") + "\n", encoding="utf-8")
    result = run(db, "apply", "--atomic", "--keep-going", str(path))
    assert result.exit_code == 2


# ---------------------------------------------------------------------------- names, numbers
RENAMED = {  # group: {earlier name: name of the command type}
    "appraisal": {"score": "record-firm-score", "satisfaction": "record-satisfaction",
                  "close": "close-year", "object": "file-objection",
                  "answer": "answer-objection"},
    "duty": {"fail": "record-failure"},
    "matter": {"override": "override-route", "step": "record-step"},
    "oc": {"fund-use": "record-fund-use", "revenue": "record-revenue"},
}


@pytest.mark.parametrize("group", sorted(RENAMED))
def test_command_names_follow_the_command_types_and_earlier_names_still_work(
        group: str) -> None:
    from ledger.cli import load_all_commands

    load_all_commands()
    listed = CliRunner().invoke(cli, [group, "--help"]).output
    for old, new in RENAMED[group].items():
        assert f"  {new} " in listed
        assert f"  {old} " not in listed  # hidden, but still accepted:
        old_help = CliRunner().invoke(cli, [group, old, "--help"])
        assert old_help.exit_code == 0
        assert f"The earlier name of '{new}'." in old_help.output
        new_help = CliRunner().invoke(cli, [group, new, "--help"]).output
        assert f"Earlier name, still accepted: {old}." in new_help


def test_negative_amounts_need_no_double_dash(db: str) -> None:
    args = ["oc", "record-revenue", "ZQ-001/2025", "-120.50", "--source", "冲正",
            "--decision", "业主大会决议2025-4", "--actor", "P-1003", "--dry-run"]
    result = run(db, *args)
    assert "No such option" not in result.output
    assert result.exit_code == 1  # read as an amount; refused by the ledger (no such OC)
    misspelt = run(db, *args, "--purpse", "x")
    assert misspelt.exit_code == 2 and "No such option '--purpse'" in misspelt.output
    not_a_number = run(db, "oc", "record-revenue", "ZQ-001/2025", "12,5", "--source", "x",
                       "--decision", "d", "--actor", "P-1003")
    assert not_a_number.exit_code == 2
    assert "'12,5' is not a number" in not_a_number.output


# ---------------------------------------------------------------------------- history clocks
def test_history_names_its_clock_and_says_why_back_filled_data_shows_nothing(db: str) -> None:
    # The world was entered today for dates in 2025: recorded now, in effect since January.
    recorded = run(db, "--lang", "en", "history", "ZQ-001", "--recorded-by", "2025-06-01")
    assert recorded.exit_code == 1
    assert "had no events recorded by 2025-06-01" in recorded.output
    assert "record time" in recorded.output
    assert "back-filled" in recorded.output and "--in-effect-on" in recorded.output
    effective = ok(db, "--lang", "en", "history", "ZQ-001", "--in-effect-on", "2025-06-01")
    assert "in effect on 2025-06-01" in effective.output
    assert "business time" in effective.output
    # The earlier names still work, and the two clocks are not mixed.
    assert ok(db, "history", "ZQ-001", "--effective", "2025-06-01").output == \
        ok(db, "history", "ZQ-001", "--in-effect-on", "2025-06-01").output
    assert run(db, "history", "ZQ-001", "--as-of", "2025-06-01",
               "--effective", "2025-06-01").exit_code == 2


def test_a_proof_names_the_event_by_its_log_position_and_labels_the_leaf_index(
        db: str) -> None:
    ok(db, "init")
    ok(db, "checkpoint")
    out = ok(db, "--lang", "en", "prove", "inclusion", "5").output
    assert out.startswith("Inclusion proof: event 5 (5) = ")
    assert "leaf index: 4\n" in out
    assert "the event's position in the log" in out


# ---------------------------------------------------------------------------- appraisal
HOUSING = ["--actor", "P-0010", "--post", "town.housing_office.director@ZQ"]


@pytest.fixture
def appraisal_db(tmp_path: Path) -> str:
    from tests.appraisal_world import world as appraisal_world

    url = f"sqlite:///{tmp_path / 'appraisal.db'}"
    led = GovernanceLedger(url)
    appraisal_world(led)
    led.execute({"type": "appraisal.open_year", "actor": "P-0001",
                 "post": "town.ledger_admin@ZQ", "year": 2025, "occurred_at": "2025-12-01"})
    led.close()
    return url


def _grades_csv(path: Path, rows: dict[str, tuple[str, str]], bom: bool = True) -> Path:
    from tests.appraisal_world import FIRMS

    text = "firm,score,satisfaction,sample\r\n" + "".join(
        f"{FIRMS[name]},{score},{sat},200\r\n" for name, (score, sat) in rows.items())
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


EIGHT = {"golden": ("92", "90"), "chunshen": ("85", "80"), "delta": ("78", "70"),
         "eagle": ("74", "66"), "falcon": ("70", "65"), "grove": ("66", "60"),
         "harbour": ("64", "58"), "evergreen": ("58", "45")}


def test_grades_from_a_csv_file_go_in_all_or_none(appraisal_db: str, tmp_path: Path) -> None:
    bad = dict(EIGHT, harbour=("164", "58"))  # a score above 100: refused
    before = counts(appraisal_db)
    result = run(appraisal_db, "--lang", "en", "appraisal", "record-grades",
                 str(_grades_csv(tmp_path / "bad.csv", bad)), "--year", "2025", "--body",
                 "镇房管办考核组", "--survey", "满意度测评2025", *HOUSING, "--at", "2025-12-02")
    assert result.exit_code == 1
    assert "row 8: refused" in result.output and "nothing recorded" in result.output
    assert counts(appraisal_db) == before
    good = ok(appraisal_db, "--lang", "en", "appraisal", "record-grades",
              str(_grades_csv(tmp_path / "good.csv", EIGHT)), "--year", "2025", "--body",
              "镇房管办考核组", "--survey", "满意度测评2025", *HOUSING, "--at", "2025-12-02")
    assert "8 firms' grades recorded" in good.output
    assert len(counts(appraisal_db)[1]) == len(before[1]) + 16


def test_closing_a_year_prints_its_outcome_not_event_numbers(
        appraisal_db: str, tmp_path: Path) -> None:
    from tests.appraisal_world import FIRMS

    ok(appraisal_db, "appraisal", "record-grades", str(_grades_csv(tmp_path / "g.csv", EIGHT)),
       "--year", "2025", "--body", "镇房管办考核组", "--survey", "满意度测评2025", *HOUSING,
       "--at", "2025-12-02")
    out = ok(appraisal_db, "--lang", "en", "appraisal", "close-year", "--year", "2025",
             *HOUSING, "--at", "2025-12-03").output
    assert "#" not in out  # no event positions
    assert "bottom three:" in out and FIRMS["evergreen"] in out
    eliminated = next(line for line in out.splitlines() if "eliminated" in line)
    assert FIRMS["evergreen"] in eliminated
    warned = next(line for line in out.splitlines() if "written warning" in line)
    assert FIRMS["harbour"] in warned


def store_snapshot_of(url: str) -> tuple[int, list[object]]:
    led = GovernanceLedger(url)
    try:
        return store_snapshot(led)
    finally:
        led.close()


def test_a_firm_is_named_by_its_name_a_part_of_it_or_of_its_credit_code(tmp_path: Path) -> None:
    from ledger.projections.owners import find_firm
    from tests.conftest import load_sample_year

    url = f"sqlite:///{tmp_path / 'firms.db'}"
    led = GovernanceLedger(url)
    load_sample_year(led)
    evergreen = "91310112MA1GB3K258"
    try:
        for text in (evergreen, "常青物业服务有限公司 (Evergreen Property)", "常青", "evergreen",
                     "GB3K258", "3k258"):
            assert find_firm(led, text) == evergreen, text
        with pytest.raises(CommandValidationError, match="names 9 firms"):
            find_firm(led, "物业")
        with pytest.raises(NotFoundError, match="no firm is named 'Nowhere'"):
            find_firm(led, "Nowhere")
    finally:
        led.close()
    shown = run(url, "credit-file", "常青", "--json")
    assert shown.exit_code == 0, shown.output
    assert evergreen in shown.output and "91310112MA1GC7N476" not in shown.output
    # a write names the firm the same way, and records (and signs) its credit code
    before = store_snapshot_of(url)
    wrote = run(url, "firm", "record-elimination", "金桥", "--year", "2025",
                "--rule", "firm.elimination@1", "--reason", "score below 60",
                "--actor", "P-0001", "--post", "town.ledger_admin@ZQ", "--json")
    assert wrote.exit_code == 0, wrote.output
    command_id = json.loads(wrote.output)["command_id"]
    led = GovernanceLedger(url)
    try:  # the events of this command are Golden Bridge's (金桥物业)
        mine = [e.type for e in led.history("91310112MA1GC7N476")
                if e.envelope["command_id"] == command_id]
    finally:
        led.close()
    assert "PropertyFirm.PutOnEliminationList" in mine
    after = store_snapshot_of(url)
    ambiguous = run(url, "firm", "record-elimination", "物业", "--year", "2025",
                    "--rule", "firm.elimination@1", "--reason", "x",
                    "--actor", "P-0001", "--post", "town.ledger_admin@ZQ")
    assert ambiguous.exit_code != 0 and "names 9 firms" in ambiguous.output
    assert store_snapshot_of(url) == after != before
