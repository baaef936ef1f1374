"""The command line through click's CliRunner, on a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from ledger.application import GovernanceLedger
from ledger.cli import LAZY, cli, load_all_commands
from tests.conftest import store_snapshot

load_all_commands()  # every command, for the help tests below

ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(db: str, *args: str, input: str | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args], input=input, catch_exceptions=False)


def init(db: str) -> None:
    r = run(db, "init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
            "--admin-name", "王明", "--at", "2025-01-01")
    assert r.exit_code == 0, r.output


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
    return out


def test_the_lazy_table_is_what_the_modules_register() -> None:
    """``ledger --help`` lists the domain modules' commands from ledger.cli.LAZY without
    importing them: the table names each command's module and its own one-line help."""
    core = {"init", "apply", "community", "post", "status", "roster", "history", "commands",
            "projections", "demo"}
    assert set(cli.commands) == core | set(LAZY)
    for name, (module, short) in LAZY.items():
        cmd = cli.commands[name]
        assert cmd.callback is not None
        assert cmd.callback.__module__ == f"ledger.commandline.{module}", name
        assert cmd.get_short_help_str(limit=60) == short, name


def test_help_imports_no_domain_module_and_no_database_library() -> None:
    import subprocess
    import sys

    code = ("import sys; from ledger.cli import main; sys.argv = ['ledger', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in sys.modules if m.startswith(('ledger.commandline', "
            "'ledger.application', 'sqlalchemy', 'eventsourcing', 'pydantic', 'rich'))]\n"
            "print('LOADED', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "LOADED []" in out, out[-500:]
    assert "appraisal" in out and "witness" in out  # listed all the same


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    cmd: click.Command = cli
    for part in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[part]
    assert cmd.help, f"{' '.join(path)} has no help text"
    if not isinstance(cmd, click.Group):
        assert "Example:" in result.output, f"{' '.join(path)} help has no example"


def test_init_bootstraps_the_town_and_a_second_bootstrap_is_refused(db: str) -> None:
    init(db)
    again = CliRunner().invoke(cli, ["--db", db, "init", "--town", "ZQ", "--town-name", "颛桥镇",
                                     "--admin", "P-0001", "--admin-name", "王明"])
    assert again.exit_code == 1
    assert again.output.strip() == (
        "Error: this ledger already holds events; bootstrap runs once, on an empty ledger")


def test_init_without_a_town_only_creates_the_tables_and_is_idempotent(db: str) -> None:
    assert run(db, "init").exit_code == 0
    assert run(db, "init").exit_code == 0


def test_refused_command_exits_nonzero_with_one_line_and_changes_nothing(db: str) -> None:
    init(db)
    led = GovernanceLedger(db)
    before = store_snapshot(led)
    result = CliRunner().invoke(cli, ["--db", db, "post", "appoint", "party_org.secretary@ZQ-009",
                                      "P-0101", "--name", "李华", *ADMIN])
    assert result.exit_code == 1
    assert result.output == "Error: community 'ZQ-009' does not exist\n"
    assert store_snapshot(led) == before
    led.close()


@pytest.mark.zh_default
def test_status_and_roster_in_english_and_chinese(db: str) -> None:
    init(db)
    assert run(db, "community", "register", "ZQ-001", "阳光花园", *ADMIN, "--at", "2025-01-02"
               ).exit_code == 0
    r = run(db, "--lang", "zh", "post", "appoint", "party_org.secretary@ZQ-001", "P-0101",
            "--name", "李华",
            *ADMIN, "--at", "2025-01-03", "--command-id", "c-1")
    assert r.output.startswith("已接受: post.appoint [c-1] Community.PostAppointed#")
    zh = run(db, "--lang", "zh", "status", "ZQ-001")
    assert "居民区党组织书记" in zh.output and "李华" in zh.output
    en = run(db, "--lang", "en", "roster", "ZQ-001", "--as-of", "2025-02-01")
    assert "party organisation secretary" in en.output and "P-0101" in en.output
    before = run(db, "--lang", "en", "roster", "ZQ-001", "--as-of", "2025-01-02T12:00")
    assert "P-0101" not in before.output


def test_repeating_a_command_id_in_the_cli_writes_nothing(db: str) -> None:
    init(db)
    args = ["community", "register", "ZQ-001", "阳光花园", *ADMIN, "--command-id", "reg-1"]
    assert run(db, "--lang", "zh", *args).output.startswith("已接受")
    assert run(db, "--lang", "en", *args).output.startswith("duplicate (nothing written)")


def test_json_output_is_valid_json(db: str) -> None:
    init(db)
    data = json.loads(run(db, "status", "--json").output)
    assert data["towns"][0]["code"] == "ZQ"
    hist = json.loads(run(db, "history", "town:ZQ", "--json").output)
    assert [e["type"] for e in hist] == ["Town.Registered", "Town.PostAppointed"]
    assert hist[1]["envelope"]["actor"] == "system:bootstrap"


def test_history_table_shows_actor_post_basis_and_times(db: str) -> None:
    init(db)
    run(db, "community", "register", "ZQ-001", "阳光花园", *ADMIN, "--at", "2025-01-02",
        "--basis", "名册2025")
    out = run(db, "--lang", "en", "history", "ZQ-001").output
    for text in ("Community.Registered", "P-0001", "town.ledger_admin@ZQ", "名册2025",
                 "2025-01-02", "recorded at"):
        assert text in out


def test_apply_keep_going_reports_every_bad_line_with_its_number(db: str, tmp_path: Path) -> None:
    init(db)
    f = tmp_path / "cmds.jsonl"
    f.write_text("\n".join([
        '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ","code":"ZQ-001","name":"阳光花园"}',
        '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ","code":"ZQ-002"}',
        '{"type":"bogus","actor":"P-0001"}',
        '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ","code":"ZQ-003","name":"紫藤"}',
    ]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db, "--lang", "en", "apply", "--keep-going", str(f)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("line 1: accepted: community.register")
    assert lines[1] == ("line 2: rejected: community.register: field 'name': "
                        "required field is missing")
    assert lines[2].startswith("line 3: rejected: unknown command type 'bogus'")
    assert lines[3].startswith("line 4: accepted")


def test_apply_stops_at_the_first_rejected_line_by_default(db: str, tmp_path: Path) -> None:
    init(db)
    f = tmp_path / "cmds.jsonl"
    f.write_text('{"type":"bogus","actor":"P-1"}\n'
                 '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
                 '"code":"ZQ-001","name":"阳光花园"}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db, "--lang", "en", "apply", "--json", str(f)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [r["line"] for r in report["lines"]] == [1]
    assert report["summary"] == {"rejected": 1, "stopped_at_line": 1}


def test_apply_speaks_the_interface_language_on_every_line_and_in_its_summary(
        db: str, tmp_path: Path) -> None:
    # A clerk with the Chinese interface reads Chinese throughout: each line's report, the
    # stop at a rejected line, and "nothing to do" for an empty file.
    init(db)
    f = tmp_path / "cmds.jsonl"
    f.write_text('{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
                 '"code":"ZQ-001","name":"阳光花园"}\n'
                 '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
                 '"code":"ZQ-001","name":"阳光花园"}\n'
                 '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
                 '"code":"ZQ-002","name":"紫藤"}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db, "--lang", "zh", "apply", str(f)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("第 1 行:已接受:community.register [")
    assert lines[1].startswith("第 2 行:已拒绝:")
    assert lines[-1] == "1 已接受, 1 已拒绝; 在第 2 行停止(其后的行未应用;见 --keep-going)"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db, "--lang", "zh", "apply", str(empty)])
    assert result.exit_code == 0
    assert result.output.strip() == "无事可做"


def test_empty_answers_are_in_the_interface_language(db: str) -> None:
    init(db)
    assert run(db, "--lang", "zh", "audit", "refused").output.strip() == "没有被拒绝的写入"
    assert run(db, "--lang", "zh", "audit", "refused", "--actor", "P-0009").output.strip() == \
        "P-0009 没有被拒绝的写入"
    assert run(db, "--lang", "en", "audit", "refused").output.strip() == "no refused writes"
    assert run(db, "--lang", "zh", "key", "list").output.strip() == "没有登记个人密钥"
    assert run(db, "--lang", "zh", "key", "list", "P-0009").output.strip() == \
        "P-0009 没有登记个人密钥"


def test_apply_dry_run_writes_nothing(db: str, tmp_path: Path) -> None:
    init(db)
    f = tmp_path / "cmds.jsonl"
    f.write_text('{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
                 '"code":"ZQ-001","name":"阳光花园"}\n', encoding="utf-8")
    led = GovernanceLedger(db)
    before = store_snapshot(led)
    result = run(db, "--lang", "en", "apply", "--dry-run", str(f))
    assert result.exit_code == 0
    assert "dry run ok" in result.output
    assert store_snapshot(led) == before
    led.close()


def test_apply_of_a_missing_file_is_a_clear_error(db: str) -> None:
    init(db)
    result = CliRunner().invoke(cli, ["--db", db, "apply", "/nonexistent/x.jsonl"])
    assert result.exit_code == 1
    assert "cannot read /nonexistent/x.jsonl" in result.output


def test_demo_loads_the_sample_year_and_refuses_a_ledger_with_events(db: str) -> None:
    result = run(db, "demo")
    assert result.exit_code == 0, result.output
    assert "The town at a glance: 颛桥镇 — as of 2025-12-31" in result.output
    assert "阳光花园" in result.output and "北桥小区" in result.output
    again = CliRunner().invoke(cli, ["--db", db, "demo"])
    assert again.exit_code == 1
    assert "already holds events" in again.output


def test_projections_rebuild_and_status(db: str) -> None:
    init(db)
    assert run(db, "status").exit_code == 0
    assert "status: rebuilt from 2 events" in run(db, "projections", "rebuild").output
    st = {p["name"]: p for p in json.loads(run(db, "projections", "status", "--json").output)}
    assert st["status"]["lag"] == 0


def test_each_command_logs_one_json_line_with_id_type_actor_and_outcome(db: str) -> None:
    init(db)
    runner = CliRunner()
    ok = runner.invoke(cli, ["--db", db, "--log-level", "info", "community", "register", "ZQ-001",
                             "阳光花园", *ADMIN, "--command-id", "log-1"])
    bad = runner.invoke(cli, ["--db", db, "--log-level", "info", "community", "register",
                              "ZQ-001", "阳光花园", *ADMIN, "--command-id", "log-2"])
    logged = [json.loads(line) for r in (ok, bad) for line in r.stderr.splitlines()
              if line.startswith("{")]
    assert [(e["command_id"], e["type"], e["actor"], e["outcome"]) for e in logged
            if e["event"] == "command"] == [
        ("log-1", "community.register", "P-0001", "accepted"),
        ("log-2", "community.register", "P-0001", "rejected"),
    ]


def test_execute_logs_through_structlog(db: str) -> None:
    led = GovernanceLedger(db)
    with capture_logs() as logs:
        led.execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
                     "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
                     "command_id": "boot-1"})
    led.close()
    assert [(e["event"], e["command_id"], e["outcome"]) for e in logs] == [
        ("command", "boot-1", "accepted")]


def test_unknown_lang_in_environment_is_a_clear_error(db: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_LANG", "fr")
    result = CliRunner().invoke(cli, ["--db", db, "status"])
    assert result.exit_code == 1
    assert "不支持 LEDGER_LANG='fr';请使用 zh 或 en" in result.output


def test_unsupported_database_url_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["--db", "mysql://x/y", "status"])
    assert result.exit_code == 1
    assert "unsupported database URL 'mysql'" in result.output


def test_audit_decision_and_actor_in_the_cli(db: str) -> None:
    run(db, "demo")
    out = run(db, "--lang", "en", "audit", "decision", "ZQ-001@20").output
    assert "Authority chain" in out and "system:bootstrap" in out
    did = json.loads(run(db, "audit", "actor", "P-1001", "--json").output)
    assert did and all(a["post"] == "party_org.secretary@ZQ-001" for a in did)
    bad = CliRunner().invoke(cli, ["--db", db, "audit", "decision", "nope"])
    assert bad.exit_code == 1 and "neither a log position" in bad.output


def test_history_effective_shows_the_state_by_business_time(db: str) -> None:
    run(db, "demo")
    data = json.loads(run(db, "history", "ZQ-001", "--effective", "2025-01-09", "--json").output)
    assert data["view"] == "effective"
    assert "building_leader@ZQ-001/B1" not in data["state"]["terms"]
    assert "party_org.secretary@ZQ-001" in data["state"]["terms"]


@pytest.mark.zh_default
def test_errors_and_clicks_own_messages_are_chinese_by_default(db: str) -> None:
    """A refusal, a usage error and the help read in Chinese by default, and in English with
    --lang en: one language at a time."""
    init(db)
    refused = CliRunner().invoke(cli, ["--db", db, "history", "ZQ-404"])
    assert refused.exit_code == 1
    assert refused.output == "错误:没有键为 'ZQ-404' 的聚合;请尝试带前缀的键,如 community:ZQ-001\n"
    missing = CliRunner().invoke(cli, ["--db", db, "case", "receive", "ZQ-2025-000001"])
    assert missing.exit_code == 2
    assert missing.output.startswith(
        "用法: cli case receive [OPTIONS] [REF]\n运行 'cli case receive --help' 查看帮助。")
    assert "错误:缺少选项 '--community'." in missing.output
    helped = CliRunner().invoke(cli, ["case", "receive", "--help"])
    assert "受理案件: REF(例如 ZQ-2025-000123)" in helped.output
    assert "示例:" in helped.output and "显示此帮助并退出。" in helped.output
    english = CliRunner().invoke(cli, ["--db", db, "--lang", "en", "history", "ZQ-404"])
    assert english.output == (
        "Error: no aggregate has the key 'ZQ-404'; try a prefixed key such as community:ZQ-001\n")
    helped_en = CliRunner().invoke(cli, ["--lang", "en", "case", "receive", "--help"])
    assert "Receive a case: REF (e.g. ZQ-2025-000123), or without it" in helped_en.output
    assert "Show this message and exit." in helped_en.output


def test_the_language_can_change_between_invocations_in_one_process(db: str) -> None:
    """Help texts are translated when shown, so one process answers in either language."""
    zh = CliRunner().invoke(cli, ["--lang", "zh", "status", "--help"])
    en = CliRunner().invoke(cli, ["--lang", "en", "status", "--help"])
    zh_again = CliRunner().invoke(cli, ["--lang=zh", "status", "--help"])
    assert "显示居民区及各岗位的现任者(以及镇级岗位)。" in zh.output
    assert "Show communities and who holds each post now" in en.output
    assert zh_again.output == zh.output
