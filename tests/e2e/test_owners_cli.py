"""The owners'-committee, firm, tender and contract commands through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from tests.conftest import store_snapshot
from tests.owners_world import (
    BANNED_BID,
    CHUNSHEN,
    EVERGREEN,
    GOLDEN,
    OC,
    evergreen_dismissed,
    town_and_community,
)

HOUSING = ["--actor", "P-0010", "--post", "town.housing_office.director@ZQ"]
DIRECTOR = ["--actor", "P-0101", "--post", "owners_committee.director@ZQ-001"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'owners.db'}"


def run(db: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


def world(db: str, build: object) -> None:
    led = GovernanceLedger(db)
    build(led)  # type: ignore[operator]
    led.close()


def snapshot(db: str) -> tuple[int, list[str]]:
    led = GovernanceLedger(db)
    try:
        return store_snapshot(led)
    finally:
        led.close()


def test_a_banned_firms_bid_is_refused_in_the_cli_citing_the_ban(db: str) -> None:
    world(db, evergreen_dismissed)
    before = snapshot(db)
    result = run(db, "--lang", "en", "tender", "bid", OC, "T2", EVERGREEN, "--annual-fee",
                 "900000.00", *DIRECTOR, "--at", "2025-08-28")
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: firm {EVERGREEN} (常青物业 (Evergreen Property)) is banned from every property "
        "tender in town ZQ: ban BAN-1 since 2025-08-15T00:00:00+08:00 (dismissal: dismissed by "
        "the owners' assembly of ZQ-001")
    assert f"imposed by event PropertyFirm.BiddingBanned version 5 of firm:{EVERGREEN}" in (
        result.output)
    assert snapshot(db) == before


def test_apply_reports_the_banned_bid_by_its_line_and_writes_only_the_good_lines(
        db: str, tmp_path: Path) -> None:
    world(db, evergreen_dismissed)
    before = snapshot(db)
    f = tmp_path / "bids.jsonl"
    f.write_text(json.dumps({**BANNED_BID, "firm": CHUNSHEN, "command_id": "good-bid"}) + "\n"
                 + json.dumps(BANNED_BID) + "\n", encoding="utf-8")
    result = run(db, "--lang", "en", "apply", "--keep-going", str(f))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("line 1: accepted: tender.bid [good-bid]")
    assert lines[1].startswith(f"line 2: rejected: firm {EVERGREEN}")
    assert "ban BAN-1 since 2025-08-15" in lines[1]
    after = snapshot(db)
    assert after[0] == before[0] + 1
    assert after[1] == sorted([*before[1], "good-bid"])


def test_contracts_as_of_a_past_date_in_the_cli(db: str) -> None:
    world(db, evergreen_dismissed)
    then = json.loads(run(db, "contracts", "--as-of", "2025-06-01", "--json").output)
    assert [(c["community"], c["firm"], c["annual_fee"]) for c in then["contracts"]] == [
        ("ZQ-001", EVERGREEN, "980000.00")]
    later = run(db, "--lang", "en", "contracts", "--as-of", "2025-09-01")
    assert later.exit_code == 0
    assert "no contracts match" in later.output
    table = run(db, "--lang", "en", "contracts", "--community", "ZQ-001").output
    for text in ("HT-1", EVERGREEN, "2025-05-01", "2027-04-30", "terminated", "dismissal"):
        assert text in table


@pytest.mark.zh_default
def test_credit_file_and_blacklist_show_the_ban_and_the_district_report(db: str) -> None:
    world(db, evergreen_dismissed)
    black = json.loads(run(db, "blacklist", "--json").output)
    assert [(b["firm"], b["ban"], b["kind"], b["reported"]) for b in black] == [
        (EVERGREEN, "BAN-1", "dismissal", True)]
    assert "全镇禁止投标企业名单" in run(db, "blacklist").output
    file = json.loads(run(db, "credit-file", EVERGREEN, "--json").output)
    assert [e["entry"] for e in file[0]["entries"]] == ["credit_record", "ban",
                                                        "district_report"]
    clean = json.loads(run(db, "credit-file", GOLDEN, "--json").output)
    assert clean[0]["entries"] == [] and clean[0]["banned"] is False
    missing = CliRunner().invoke(cli, ["--db", db, "credit-file", "91310112000000019A"])
    assert missing.exit_code == 1


@pytest.mark.parametrize(("code", "fault"), [
    ("9131011200000001", "has 16 characters"),
    ("91310112O0000001AB", "illegal character 'O' at position 9"),
    ("91310112000000019B", "check character (position 18) should be 'A', found 'B'"),
])
def test_firm_register_refuses_an_invalid_credit_code_in_the_cli(db: str, code: str,
                                                                  fault: str) -> None:
    world(db, town_and_community)
    before = snapshot(db)
    result = CliRunner().invoke(cli, ["--db", db, "firm", "register", code, "某物业",
                                      "--head", "P-F1", "--head-name", "某", *HOUSING])
    assert result.exit_code == 1
    assert result.output.startswith("Error: firm.register: field 'code': unified social credit")
    assert fault in result.output
    assert snapshot(db) == before


@pytest.mark.zh_default
def test_a_committee_is_formed_elected_and_seated_through_the_cli(db: str) -> None:
    world(db, town_and_community)
    steps = [
        ["oc", "form-group", "ZQ-001", "2025", "--member", "P-0010:韦娟:组长",
         "--party-org", "P-0101:李华:书记", *HOUSING, "--at", "2025-02-01"],
        ["oc", "nominate", OC, "P-0101", "--name", "李华", "--role", "director",
         "--recommended-by-town", *HOUSING, "--at", "2025-02-10"],
        ["oc", "nominate", OC, "P-0201", "--name", "王建", *HOUSING, "--at", "2025-02-10"],
        ["oc", "elect", OC, "--assembly-date", "2025-03-01", "--owners-total", "400",
         "--owners-voted", "273", "--votes", "P-0101=250", "--votes", "P-0201=201",
         "--elected", "P-0101=director", "--elected", "P-0201=member", *HOUSING,
         "--at", "2025-03-01T16:00"],
    ]
    for args in steps:
        result = run(db, *args)
        assert result.exit_code == 0, result.output
    # Without the election the post is refused; citing it, accepted.
    refused = CliRunner().invoke(cli, ["--db", db, "post", "appoint",
                                       "owners_committee.director@ZQ-001", "P-0101",
                                       "--name", "李华", "--actor", "P-0001", "--post",
                                       "town.ledger_admin@ZQ", "--at", "2025-03-05"])
    assert refused.exit_code == 1 and "只能经业主大会选举产生" in refused.output
    accepted = run(db, "post", "appoint", "owners_committee.director@ZQ-001", "P-0101",
                   "--name", "李华", "--election", OC, "--actor", "P-0001", "--post",
                   "town.ledger_admin@ZQ", "--at", "2025-03-05")
    assert accepted.exit_code == 0, accepted.output
    # Starting the term seats the remaining elected member.
    assert run(db, "oc", "start-term", OC, *HOUSING, "--at", "2025-03-05").exit_code == 0
    assert run(db, "oc", "fund-use", OC, "386420.75", "--purpose", "屋面防水", "--decision",
               "决议 2025-3", *DIRECTOR, "--at", "2025-06-01").exit_code == 0
    committees = json.loads(run(db, "ocs", "--community", "ZQ-001", "--json").output)
    assert committees[0]["fund_total"] == "386420.75"
    assert committees[0]["elected"] == {"P-0101": "director", "P-0201": "member"}
    roster = json.loads(run(db, "roster", "ZQ-001", "--json").output)
    director = next(p for p in roster["posts"]
                    if p["post"] == "owners_committee.director@ZQ-001")
    assert sorted(director["also_holds"]) == ["party_org.secretary@ZQ-001",
                                              "residents_committee.member@ZQ-001"]
    assert "业委会" in run(db, "ocs").output


def test_the_demo_loads_the_owners_sample_and_prints_committees_and_contracts(db: str) -> None:
    result = run(db, "--lang", "en", "demo", "--full")
    assert result.exit_code == 0, result.output
    for text in ("Owners' committees", "Property service contracts",
                 "Firms banned from bidding in the town"):
        assert text in result.output
    kinds = {o["key"]: o["kind"] for o in json.loads(run(db, "ocs", "--json").output)}
    assert len(kinds) == 6 and kinds["ZQ-002/2025"] == "re_election"
    served = json.loads(run(db, "contracts", "--as-of", "2025-06-01", "--json").output)
    assert sorted(c["community"] for c in served["contracts"]) == [
        "ZQ-001", "ZQ-002", "ZQ-003", "ZQ-004", "ZQ-005", "ZQ-006"]
    zq3 = {c["community"]: c["firm"] for c in served["contracts"]}["ZQ-003"]
    later = json.loads(run(db, "contracts", "--as-of", "2025-10-01", "--community", "ZQ-003",
                           "--json").output)
    assert [c["firm"] for c in later["contracts"]] != [zq3]
    bans = json.loads(run(db, "blacklist", "--json").output)
    assert [b["firm"] for b in bans if b["kind"] == "dismissal"] == [zq3]
    # The year-end appraisal sample (40-appraisal.jsonl) adds the 2025 elimination list.
    assert {b["kind"] for b in bans} == {"dismissal", "elimination"}
