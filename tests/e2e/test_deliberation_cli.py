"""Deliberation through the command line (click's CliRunner, a SQLite file)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.projections.deliberation import matter_list, resolution_items
from tests.conftest import store_snapshot, sunny_garden

SECRETARY = ["--actor", "P-0101", "--post", "party_org.secretary@ZQ-001"]
DIRECTOR = ["--actor", "P-0102", "--post", "residents_committee.director@ZQ-001"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    led = GovernanceLedger(url)
    sunny_garden(led)
    led.close()
    return url


def run(db: str, *args: str) -> click.testing.Result:
    result = CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)
    return result


def ok(db: str, *args: str) -> click.testing.Result:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result


def hold_march_meeting(db: str) -> None:
    ok(db, "meeting", "convene", "ZQ-001-M-2025-03", "--kind", "four_in_one", "--community",
       "ZQ-001", "--title", "三月四位一体协商会议", "--agenda", "小区停车", *SECRETARY,
       "--at", "2025-03-05T14:00", "--command-id", "t-convene")
    ok(db, "meeting", "attend", "ZQ-001-M-2025-03",
       "--attendee", "party_org.secretary@ZQ-001,P-0101,李华",
       "--attendee", "residents_committee.director@ZQ-001,P-0102,张敏",
       "--attendee", "owners_committee,P-0301,周强", *SECRETARY, "--at", "2025-03-05T14:05")
    ok(db, "resolution", "adopt", "ZQ-001-M-2025-03", "--title", "停车整治",
       "--item", "property_firm", "2025-04-30", "重新施划停车位",
       "--item", "residents_committee", "2025-03-31", "张贴停车公告",
       *SECRETARY, "--at", "2025-03-05T15:30")


def test_a_meeting_is_convened_attended_and_its_resolution_tracked_from_the_cli(db: str) -> None:
    hold_march_meeting(db)
    ok(db, "resolution", "progress", "ZQ-001-M-2025-03/R1/2", "--note", "公告已拟好",
       *DIRECTOR, "--at", "2025-03-10")
    ok(db, "resolution", "complete", "ZQ-001-M-2025-03/R1/2", "--evidence", "公告照片",
       *DIRECTOR, "--at", "2025-03-20")
    ok(db, "meeting", "close", "ZQ-001-M-2025-03", "--summary", "形成决议", "--document",
       "纪要3号", *SECRETARY, "--at", "2025-03-05T16:30")
    data = json.loads(ok(db, "resolutions", "--as-of", "2025-05-01", "--json").output)
    assert [(i["ref"], i["state"], i["absent_body"], i["progress_notes"]) for i in data["items"]] \
        == [("ZQ-001-M-2025-03/R1/2", "done", False, 1),
            ("ZQ-001-M-2025-03/R1/1", "overdue", True, 0)]
    overdue = json.loads(ok(db, "resolutions", "--overdue", "--as-of", "2025-04-01",
                            "--json").output)
    assert overdue["items"] == []
    meetings = json.loads(ok(db, "meetings", "--community", "ZQ-001", "--json").output)
    assert [(m["code"], m["status"], m["attendees"], m["absent_body_items"]) for m in meetings] \
        == [("ZQ-001-M-2025-03", "closed", 3, 1)]


def test_the_meetings_history_shows_who_convened_attended_adopted_and_completed(
        db: str) -> None:
    hold_march_meeting(db)
    ok(db, "resolution", "complete", "ZQ-001-M-2025-03/R1/2", "--evidence", "公告照片",
       *DIRECTOR, "--at", "2025-03-20")
    events = json.loads(ok(db, "history", "ZQ-001-M-2025-03", "--json").output)
    assert [(e["type"], e["envelope"]["actor"], e["envelope"]["post"]) for e in events] == [
        ("Meeting.Convened", "P-0101", "party_org.secretary@ZQ-001"),
        ("Meeting.AttendanceRecorded", "P-0101", "party_org.secretary@ZQ-001"),
        ("Meeting.ResolutionAdopted", "P-0101", "party_org.secretary@ZQ-001"),
        ("Meeting.ItemCompleted", "P-0102", "residents_committee.director@ZQ-001"),
    ]
    assert events[0]["envelope"]["command_id"] == "t-convene"
    table = ok(db, "--lang", "en", "history", "ZQ-001-M-2025-03").output
    assert "P-0102" in table and "P-0101" in table  # wrapped columns: ids stay whole


def test_meeting_show_lists_attendance_and_items(db: str) -> None:
    hold_march_meeting(db)
    data = json.loads(ok(db, "meeting", "show", "ZQ-001-M-2025-03", "--json").output)
    assert [a["person"] for a in data["attendance"]] == ["P-0101", "P-0102", "P-0301"]
    assert [(i["ref"], i["absent_body"]) for i in data["items"]] == [
        ("ZQ-001-M-2025-03/R1/2", False), ("ZQ-001-M-2025-03/R1/1", True)]
    assert run(db, "meeting", "show", "ZQ-001-M-2025-09").output == (
        "Error: meeting 'ZQ-001-M-2025-09' has not been convened\n")


@pytest.mark.zh_default
def test_tables_are_labelled_in_chinese_by_default_and_in_english_on_request(db: str) -> None:
    hold_march_meeting(db)
    zh = ok(db, "resolutions", "--as-of", "2025-05-01").output
    assert "决议执行跟踪 — 截至 2025-05-01" in zh and "已逾期" in zh and "责任主体" in zh
    en = ok(db, "--lang", "en", "resolutions", "--as-of", "2025-05-01").output
    assert "Resolution tracker — as of 2025-05-01" in en and "overdue" in en
    assert "four-in-one meeting" in ok(db, "--lang", "en", "meetings").output


def test_a_refused_cli_command_prints_one_error_line_and_changes_nothing(db: str) -> None:
    hold_march_meeting(db)
    led = GovernanceLedger(db)
    before = store_snapshot(led)
    result = CliRunner().invoke(cli, [
        "--db", db, "resolution", "adopt", "ZQ-001-M-2025-03", "--title", "x",
        "--item", "property_firm", "2025-03-01", "补划", *SECRETARY, "--at", "2025-03-05T15:40"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: item 1 ('补划') is due 2025-03-01, before meeting")
    assert result.output.count("\n") == 1
    assert store_snapshot(led) == before
    led.close()


def test_a_matter_is_raised_routed_and_listed_from_the_cli(db: str) -> None:
    ok(db, "matter", "raise", "ZQ-001-MT-2025-001", "--community", "ZQ-001", "--title",
       "居民公约修订", "--field", "management", "--public-interest", *DIRECTOR,
       "--at", "2025-02-20")
    routed = json.loads(ok(db, "matter", "route", "ZQ-001-MT-2025-001", *SECRETARY,
                           "--at", "2025-02-21", "--json").output)
    assert routed["detail"] == {"matter": "ZQ-001-MT-2025-001", "route": "rc_autonomous",
                                "rule": "matter.routing@1",
                                "reason": "public_interest_of_all_residents"}
    ok(db, "matter", "step", "ZQ-001-MT-2025-001", "--step", "proposal", "--summary", "草案",
       *DIRECTOR, "--at", "2025-03-01")
    rows = json.loads(ok(db, "matters", "--route", "rc_autonomous", "--json").output)
    assert [(m["code"], m["status"], m["steps"]) for m in rows] == [
        ("ZQ-001-MT-2025-001", "in_procedure", "proposal")]


def test_the_cadence_report_flags_a_community_without_a_recent_four_in_one_meeting(
        db: str) -> None:
    hold_march_meeting(db)
    data = json.loads(ok(db, "meeting", "cadence", "--as-of", "2025-04-10", "--json").output)
    assert [(c["community"], c["days_since"], c["flagged"]) for c in data["communities"]] == [
        ("ZQ-001", 36, True)]


def test_the_demo_loads_the_deliberation_sample_and_shows_the_resolution_tracker(
        tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'demo.db'}", "--lang",
                                      "en", "demo", "--full"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Resolution tracker — as of 2025-12-31" in out
    assert "Overdue resolution items — as of 2025-12-31" in out
    assert "Four-in-one meeting cadence — as of 2025-12-31" in out
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        states = resolution_items(led, as_of=date(2025, 12, 31))["counts"]
        assert states["done"] > 0 and states["overdue"] > 0 and states["done_late"] > 0
        routes = {m["route"] for m in matter_list(led) if m["channel"] == "direct"}
        assert routes == {"four_in_one", "rc_autonomous", "party_building_joint_meeting"}
        kinds = {h.type for h in led.history("ZQ-TJ-2025-01")}
        assert "Meeting.ResolutionAdopted" in kinds
    finally:
        led.close()
