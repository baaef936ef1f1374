"""Owners' committees, property firms, tenders, contracts and the credit file, on both stores."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from ledger.aggregates.owners_committee import OwnersCommitteeStepError
from ledger.aggregates.property_firm import BiddingBannedError, ContractStateError
from ledger.application import GovernanceLedger
from ledger.kernel.config import localize
from ledger.kernel.errors import CommandValidationError, ElectionRequiredError
from ledger.kernel.reasons import render_reason
from ledger.projections.owners import blacklist, contracts, credit_file, ocs
from ledger.rules.credit_code import credit_code_check_character
from tests.conftest import ADMIN, store_snapshot
from tests.owners_world import (
    BANNED_BID,
    CHUNSHEN,
    DIRECTOR,
    EVERGREEN,
    GOLDEN,
    HOUSING,
    OC,
    elected_committee,
    evergreen_dismissed,
    firms,
    run,
    served_by_evergreen,
    town_and_community,
)


def _when(text: str) -> datetime:
    return localize(datetime.fromisoformat(text))


def _roster(led: GovernanceLedger, at: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in led.roster("ZQ-001", _when(at))["posts"]:
        out.setdefault(p["post"], []).append(p["person"])
    return out


# ---------------------------------------------------------------------------- elections
def test_an_owners_committee_appointment_without_an_election_is_refused(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger, start=False)
    before = store_snapshot(ledger)
    with pytest.raises(ElectionRequiredError, match="only through an election"):
        run(ledger, "post.appoint", ADMIN, "2025-03-05",
            target_post="owners_committee.member@ZQ-001", person="P-0201", person_name="王建")
    assert store_snapshot(ledger) == before


def test_an_appointment_citing_an_election_that_did_not_elect_that_person_is_refused(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger, start=False)
    before = store_snapshot(ledger)
    # P-0202 stood but was not elected.
    with pytest.raises(ElectionRequiredError, match="P-0202 was not elected"):
        run(ledger, "post.appoint", ADMIN, "2025-03-05", election=OC,
            target_post="owners_committee.member@ZQ-001", person="P-0202", person_name="陈立")
    # P-0201 was elected member, not director.
    with pytest.raises(ElectionRequiredError, match="elected member, not director"):
        run(ledger, "post.appoint", ADMIN, "2025-03-05", election=OC,
            target_post="owners_committee.director@ZQ-001", person="P-0201",
            person_name="王建")
    # An election that was never recorded.
    with pytest.raises(ElectionRequiredError, match="not a recorded owners' committee"):
        run(ledger, "post.appoint", ADMIN, "2025-03-05", election="ZQ-001/2019",
            target_post="owners_committee.member@ZQ-001", person="P-0201", person_name="王建")
    assert store_snapshot(ledger) == before


def test_an_appointment_citing_the_election_is_accepted_and_the_event_cites_it(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger, start=False)
    result = run(ledger, "post.appoint", ADMIN, "2025-03-05", election=OC,
                 target_post="owners_committee.member@ZQ-001", person="P-0201",
                 person_name="王建")
    assert result.outcome == "accepted"
    appointed = [e for e in ledger.history("community:ZQ-001")
                 if e.type == "Community.PostAppointed"][-1]
    assert appointed.data["post"] == "owners_committee.member@ZQ-001"
    assert appointed.envelope["election"] == OC


def test_election_field_on_a_post_that_is_not_elected_is_refused(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger, start=False)
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError, match="not an owners'-committee post"):
        run(ledger, "post.appoint", ADMIN, "2025-03-05", election=OC,
            target_post="volunteer@ZQ-001", person="P-0201", person_name="王建")
    assert store_snapshot(ledger) == before


def test_starting_the_term_seats_the_elected_and_shows_two_committee_members_as_concurrent(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    posts = {p["post"] + "|" + p["person"]: p for p in ledger.roster("ZQ-001")["posts"]}
    director = posts["owners_committee.director@ZQ-001|P-0101"]
    assert sorted(director["also_holds"]) == ["party_org.secretary@ZQ-001",
                                              "residents_committee.member@ZQ-001"]
    assert "owners_committee.member@ZQ-001|P-0201" in posts
    assert "owners_committee.member@ZQ-001|P-0202" not in posts
    seated = [e for e in ledger.history("community:ZQ-001")
              if e.type == "Community.PostAppointed" and e.envelope.get("election") == OC]
    assert len(seated) == 2


def test_the_election_records_votes_and_turnout_and_the_towns_recommendation(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    [committee] = ocs(ledger, "ZQ-001")
    assert committee["turnout"] == "68.25"
    assert committee["votes"] == {"P-0101": 250, "P-0201": 201, "P-0202": 99}
    assert committee["candidates"]["P-0101"]["recommended_by_town"] is True
    assert committee["director"] == "P-0101"


def test_an_election_naming_someone_never_nominated_is_refused(
        ledger: GovernanceLedger) -> None:
    town_and_community(ledger)
    run(ledger, "oc.form_group", HOUSING, "2025-02-01", community="ZQ-001", term="2025",
        group=[{"person": "P-0010", "name": "韦娟"}])
    run(ledger, "oc.nominate", HOUSING, "2025-02-10", oc=OC, person="P-0101",
        person_name="李华", role="director")
    before = store_snapshot(ledger)
    with pytest.raises(OwnersCommitteeStepError, match="P-0999 was not nominated"):
        run(ledger, "oc.elect", HOUSING, "2025-03-01", oc=OC, assembly_date="2025-03-01",
            owners_total=10, owners_voted=8, votes={"P-0101": 5, "P-0999": 3},
            elected={"P-0101": "director", "P-0999": "member"})
    assert store_snapshot(ledger) == before


def test_a_re_election_ends_the_previous_term_and_seats_the_new_committee(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    new = "ZQ-001/2025B"
    run(ledger, "oc.form_group", HOUSING, "2025-10-01", community="ZQ-001", term="2025B",
        kind="re_election", previous=OC, group=[{"person": "P-0010", "name": "韦娟"}])
    run(ledger, "oc.nominate", HOUSING, "2025-10-05", oc=new, person="P-0301",
        person_name="赵亮", role="director")
    run(ledger, "oc.elect", HOUSING, "2025-11-01", oc=new, assembly_date="2025-11-01",
        owners_total=400, owners_voted=300, votes={"P-0301": 280},
        elected={"P-0301": "director"})
    run(ledger, "oc.start_term", HOUSING, "2025-11-05", oc=new)
    assert _roster(ledger, "2025-06-01")["owners_committee.director@ZQ-001"] == ["P-0101"]
    now = _roster(ledger, "2025-12-01")
    assert now["owners_committee.director@ZQ-001"] == ["P-0301"]
    assert "owners_committee.member@ZQ-001" not in now
    by_key = {o["key"]: o for o in ocs(ledger, "ZQ-001")}
    assert by_key[OC]["term_end"] == "2025-11-05T00:00:00+08:00"
    assert by_key[new]["kind"] == "re_election"


def test_committee_records_rules_money_and_mediations(ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    run(ledger, "oc.adopt_rules", DIRECTOR, "2025-04-01", oc=OC,
        document="management_convention", ref="阳光花园管理规约 2025版", decision="决议 2025-1")
    run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-01", oc=OC, amount="386420.75",
        purpose="屋面防水", decision="决议 2025-3")
    run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-02", oc=OC, amount="0.25",
        purpose="零星维修", decision="决议 2025-3")
    run(ledger, "oc.record_revenue", DIRECTOR, "2025-07-01", oc=OC, amount=52800,
        source="广告位", decision="决议 2025-4")
    run(ledger, "oc.mediate", DIRECTOR, "2025-07-20", oc=OC, dispute="MD-1",
        parties=["302室", "402室"], summary="漏水", outcome="settled")
    [committee] = ocs(ledger, "ZQ-001")
    assert committee["rules"]["management_convention"]["ref"] == "阳光花园管理规约 2025版"
    assert committee["fund_total"] == "386421.00"
    assert [m["amount"] for m in committee["fund_uses"]] == ["386420.75", "0.25"]
    assert committee["revenue_total"] == "52800.00"
    assert committee["mediations"] == 1


def test_money_is_recorded_under_the_committee_in_office_not_a_past_one(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    new = "ZQ-001/2026"
    run(ledger, "oc.form_group", HOUSING, "2025-10-01", community="ZQ-001", term="2026",
        kind="re_election", previous=OC, group=[{"person": "P-0010", "name": "韦娟"}])
    run(ledger, "oc.nominate", HOUSING, "2025-10-05", oc=new, person="P-0301",
        person_name="赵亮", role="director")
    run(ledger, "oc.elect", HOUSING, "2025-11-01", oc=new, assembly_date="2025-11-01",
        owners_total=400, owners_voted=300, votes={"P-0301": 280},
        elected={"P-0301": "director"})
    run(ledger, "oc.start_term", HOUSING, "2025-11-05", oc=new)
    before = store_snapshot(ledger)
    with pytest.raises(OwnersCommitteeStepError, match="left office"):
        run(ledger, "oc.record_fund_use", {"actor": "P-0301",
                                           "post": "owners_committee.director@ZQ-001"},
            "2025-12-01", oc=OC, amount="10.00", purpose="x", decision="y")
    assert store_snapshot(ledger) == before


def test_amounts_keep_every_digit_through_the_store_and_back(ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    amount = "123456789012.34"
    run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-01", oc=OC, amount=amount,
        purpose="电梯更新", decision="决议 2025-3")
    [event] = [e for e in ledger.history(OC) if e.type == "OwnersCommittee.FundUseRecorded"]
    assert event.data["amount"] == amount
    assert Decimal(ocs(ledger, "ZQ-001")[0]["fund_uses"][0]["amount"]) == Decimal(amount)


def test_a_float_amount_is_refused_before_it_can_lose_precision(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError, match="exact decimals"):
        run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-01", oc=OC, amount=0.1,
            purpose="x", decision="y")
    with pytest.raises(CommandValidationError, match="more than two decimal places"):
        run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-01", oc=OC, amount="1.005",
            purpose="x", decision="y")
    assert store_snapshot(ledger) == before


# ---------------------------------------------------------------------------- firms
# Right final check character, wrong GB 11714 check character at position 17.
ORG_FAULT = "91310112MA1GB3K21" + credit_code_check_character("91310112MA1GB3K21")
REAL_FORMAT_CODES = ("914403001922038216", "91330108MA27Y5XH5G")


@pytest.mark.parametrize("code", REAL_FORMAT_CODES)
def test_a_firm_with_a_real_format_credit_code_registers(ledger: GovernanceLedger,
                                                         code: str) -> None:
    town_and_community(ledger)
    run(ledger, "firm.register", HOUSING, "2025-01-20", code=code.lower(), name="某物业",
        head="P-F1", head_name="某")
    assert [f["code"] for f in credit_file(ledger)] == [code]


@pytest.mark.parametrize(("code", "fault"), [
    ("91310112MA1GB3K25", "has 17 characters; it must have 18"),
    ("91310112MA1GB3K2588", "has 19 characters"),
    ("91310112MA1GB3KI58", "illegal character 'I' at position 16"),
    ("913101A2MA1GB3K258", "illegal character 'A' at position 7"),
    (ORG_FAULT, "organisation code check character (position 17) should be '5', found '1'"),
    ("91310112MA1GB3K259", "check character (position 18) should be '8', found '9'"),
])
def test_a_firm_with_an_invalid_credit_code_is_refused_naming_the_fault(
        ledger: GovernanceLedger, code: str, fault: str) -> None:
    town_and_community(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError) as err:
        run(ledger, "firm.register", HOUSING, "2025-01-20", code=code, name="某物业",
            head="P-F1", head_name="某")
    assert "field 'code'" in str(err.value)
    assert fault in str(err.value)
    assert store_snapshot(ledger) == before


def test_a_bid_naming_an_invalid_credit_code_is_refused(ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError, match="field 'firm'.*check character"):
        run(ledger, "tender.bid", DIRECTOR, "2025-04-12", oc=OC, tender="T1",
            firm=EVERGREEN[:-1] + ("0" if EVERGREEN[-1] != "0" else "1"))
    assert store_snapshot(ledger) == before


# ---------------------------------------------------------------------------- tenders
def test_a_banned_firms_bid_is_refused_citing_the_ban_and_nothing_is_written(
        ledger: GovernanceLedger) -> None:
    evergreen_dismissed(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(BiddingBannedError) as err:
        ledger.execute(BANNED_BID)
    message = str(err.value)
    assert "BAN-1 since 2025-08-15T00:00:00+08:00" in message
    assert "dismissed by the owners' assembly of ZQ-001" in message
    assert "PropertyFirm.BiddingBanned" in message
    assert err.value.ban["kind"] == "dismissal"
    assert store_snapshot(ledger) == before


def test_a_banned_firms_bid_in_apply_is_reported_with_its_line_and_nothing_is_written(
        ledger: GovernanceLedger) -> None:
    import json

    evergreen_dismissed(ledger)
    before = store_snapshot(ledger)
    lines = [json.dumps({**BANNED_BID, "firm": GOLDEN, "command_id": "ok-bid"}),
             json.dumps(BANNED_BID)]
    outcomes = list(ledger.apply(lines))
    assert [o.ok for o in outcomes] == [True, False]
    refused = outcomes[1]
    assert refused.line == 2
    assert isinstance(refused.error, BiddingBannedError)
    after = store_snapshot(ledger)
    # Only the first line was written; the refused one left no event and no log row.
    assert after[1] == sorted([*before[1], "ok-bid"])
    assert "test-banned-bid" not in after[1]


def test_a_banned_firm_cannot_be_awarded_a_tender(ledger: GovernanceLedger) -> None:
    evergreen_dismissed(ledger)
    # The ban is checked before the bidders: a banned firm is never awarded a tender.
    before = store_snapshot(ledger)
    with pytest.raises(BiddingBannedError):
        run(ledger, "tender.award", DIRECTOR, "2025-09-01", oc=OC, tender="T2",
            firm=EVERGREEN, decision="x")
    assert store_snapshot(ledger) == before


def test_a_tender_is_awarded_only_to_a_bidder(ledger: GovernanceLedger) -> None:
    evergreen_dismissed(ledger)
    from ledger.aggregates.owners_committee import TenderStateError

    with pytest.raises(TenderStateError, match="did not bid"):
        run(ledger, "tender.award", DIRECTOR, "2025-09-01", oc=OC, tender="T2",
            firm=CHUNSHEN, decision="x")


# ---------------------------------------------------------------------------- contracts
def test_contracts_as_of_a_past_date_show_which_firm_served_the_community(
        ledger: GovernanceLedger) -> None:
    evergreen_dismissed(ledger)
    run(ledger, "tender.bid", DIRECTOR, "2025-08-28", oc=OC, tender="T2", firm=CHUNSHEN,
        annual_fee="995500.00")
    run(ledger, "tender.award", DIRECTOR, "2025-09-05", oc=OC, tender="T2", firm=CHUNSHEN,
        decision="决议 2025-6")
    run(ledger, "contract.sign", DIRECTOR, "2025-09-10", oc=OC, contract="HT-2", tender="T2",
        firm=CHUNSHEN, start="2025-09-15", end="2027-09-14", annual_fee="995500.00",
        manager="P-M102", manager_name="邱实")

    def served(at: str) -> list[tuple[str, str]]:
        return [(c["community"], c["firm"]) for c in
                contracts(ledger, as_of=_when(at))["contracts"]]

    assert served("2025-04-30") == []
    assert served("2025-06-01") == [("ZQ-001", EVERGREEN)]
    assert served("2025-08-15T23:59") == [("ZQ-001", EVERGREEN)]
    assert served("2025-08-16") == []
    assert served("2025-10-01") == [("ZQ-001", CHUNSHEN)]
    # The roster's property-firm manager follows the contracts.
    assert _roster(ledger, "2025-06-01")["property_firm.manager@ZQ-001"] == ["P-M101"]
    assert _roster(ledger, "2025-10-01")["property_firm.manager@ZQ-001"] == ["P-M102"]


def test_a_renewal_keeps_the_old_fee_for_the_past(ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    run(ledger, "contract.renew", DIRECTOR, "2025-11-20", oc=OC, contract="HT-1",
        firm=EVERGREEN, end="2029-04-30", annual_fee="1010000.00", decision="决议 2025-7")
    then = contracts(ledger, as_of=_when("2025-06-01"))["contracts"]
    later = contracts(ledger, as_of=_when("2028-06-01"))["contracts"]
    assert [c["annual_fee"] for c in then] == ["980000.00"]
    assert [c["annual_fee"] for c in later] == ["1010000.00"]
    assert later[0]["last_day"] == "2029-04-30"


def test_a_second_contract_while_one_is_in_force_is_refused(ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    run(ledger, "tender.launch", DIRECTOR, "2025-06-01", oc=OC, tender="T3", title="x")
    run(ledger, "tender.bid", DIRECTOR, "2025-06-02", oc=OC, tender="T3", firm=GOLDEN)
    run(ledger, "tender.award", DIRECTOR, "2025-06-03", oc=OC, tender="T3", firm=GOLDEN,
        decision="x")
    before = store_snapshot(ledger)
    with pytest.raises(ContractStateError, match="terminate that contract first"):
        run(ledger, "contract.sign", DIRECTOR, "2025-06-04", oc=OC, contract="HT-3",
            tender="T3", firm=GOLDEN, start="2025-07-01", end="2026-06-30",
            annual_fee="1.00", manager="P-M9", manager_name="x")
    assert store_snapshot(ledger) == before


def test_the_manager_post_is_filled_only_through_a_contract(ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    from ledger.kernel.errors import ContractRequiredError

    before = store_snapshot(ledger)
    with pytest.raises(ContractRequiredError):
        run(ledger, "post.appoint", ADMIN, "2025-06-01",
            target_post="property_firm.manager@ZQ-001", person="P-M9", person_name="x")
    assert store_snapshot(ledger) == before


# ---------------------------------------------------------------------------- credit file
def test_a_dismissal_records_credit_ban_and_district_report_in_one_command(
        ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    result = run(ledger, "contract.terminate", DIRECTOR, "2025-08-15", oc=OC, contract="HT-1",
                 firm=EVERGREEN, kind="dismissal", effective="2025-08-16",
                 reason="未履行合同", decision="业主大会决议 2025-5")
    assert result.events == ["PropertyFirm.ContractTerminated", "PropertyFirm.CreditRecorded",
                             "PropertyFirm.BiddingBanned", "PropertyFirm.ReportedToDistrict",
                             "Community.PostVacated"]
    [firm] = credit_file(ledger, EVERGREEN)
    assert [e["entry"] for e in firm["entries"]] == ["credit_record", "ban", "district_report"]
    [ban] = blacklist(ledger)
    assert (ban["firm"], ban["ban"], ban["reported"]) == (EVERGREEN, "BAN-1", True)
    assert ban["position"] == result.positions[2]


def test_a_dismissal_needs_the_assemblys_decision(ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(CommandValidationError, match="needs 'decision'"):
        run(ledger, "contract.terminate", DIRECTOR, "2025-08-15", oc=OC, contract="HT-1",
            firm=EVERGREEN, kind="dismissal", reason="x")
    assert store_snapshot(ledger) == before


def test_elimination_bans_the_firm_and_termination_is_guided_by_the_legal_counsel(
        ledger: GovernanceLedger) -> None:
    served_by_evergreen(ledger)
    # Without the elimination list entry, "elimination" is not a termination kind to use.
    with pytest.raises(ContractStateError, match="not on the elimination list"):
        run(ledger, "contract.terminate", DIRECTOR, "2026-01-20", oc=OC, contract="HT-1",
            firm=EVERGREEN, kind="elimination", reason="淘汰", legal_counsel="P-0011")
    run(ledger, "firm.record_elimination", {"actor": "system:rules"}, "2026-01-10",
        firm=EVERGREEN, year=2025, rule="firm.elimination@1",
        parameters={"score_below": "60", "satisfaction_below": "50"},
        inputs={"score": "55.00", "satisfaction": "41.00"}, reason="score and satisfaction low")
    before = store_snapshot(ledger)
    with pytest.raises(OwnersCommitteeStepError, match="was not the town's legal counsel"):
        run(ledger, "contract.terminate", DIRECTOR, "2026-01-20", oc=OC, contract="HT-1",
            firm=EVERGREEN, kind="elimination", reason="淘汰", legal_counsel="P-0010")
    assert store_snapshot(ledger) == before
    run(ledger, "contract.terminate", DIRECTOR, "2026-01-20", oc=OC, contract="HT-1",
        firm=EVERGREEN, kind="elimination", reason="淘汰", legal_counsel="P-0011")
    [firm] = credit_file(ledger, EVERGREEN)
    assert [e["entry"] for e in firm["entries"]] == ["elimination", "credit_record", "ban",
                                                     "district_report"]
    assert firm["entries"][0]["detail"]["rule"] == "firm.elimination@1"
    assert firm["entries"][0]["detail"]["inputs"] == {"score": "55.00", "satisfaction": "41.00"}
    run(ledger, "tender.launch", DIRECTOR, "2026-02-01", oc=OC, tender="T9", title="x")
    with pytest.raises(BiddingBannedError, match="elimination"):
        run(ledger, "tender.bid", DIRECTOR, "2026-02-02", oc=OC, tender="T9", firm=EVERGREEN)


def test_the_owners_read_model_rebuilds_to_the_same_rows(ledger: GovernanceLedger) -> None:
    evergreen_dismissed(ledger)
    firms_before = credit_file(ledger)
    contracts_before = contracts(ledger)
    ledger.rebuild("owners")
    assert credit_file(ledger) == firms_before
    assert contracts(ledger) == contracts_before


def test_only_the_committees_director_may_tender(ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    firms(ledger)
    from ledger.kernel.errors import AuthorityError

    before = store_snapshot(ledger)
    with pytest.raises(AuthorityError, match="tender.launch"):
        run(ledger, "tender.launch", {"actor": "P-0201",
                                      "post": "owners_committee.member@ZQ-001"},
            "2025-04-01", oc=OC, tender="T1", title="x")
    assert store_snapshot(ledger) == before


def test_a_firm_banned_between_award_and_signing_cannot_sign_even_with_an_earlier_start(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    firms(ledger)
    run(ledger, "tender.launch", DIRECTOR, "2025-04-01", oc=OC, tender="T1", title="物业招标")
    run(ledger, "tender.bid", DIRECTOR, "2025-04-10", oc=OC, tender="T1", firm=EVERGREEN)
    run(ledger, "tender.award", DIRECTOR, "2025-04-20", oc=OC, tender="T1", firm=EVERGREEN,
        decision="决议")
    # Put on another year's elimination list after the award…
    run(ledger, "firm.record_elimination", {"actor": "system:rules"}, "2025-04-25",
        firm=EVERGREEN, year=2024, rule="firm.elimination@1", reason="bottom three twice")
    before = store_snapshot(ledger)
    # …so signing afterwards is refused, even with a start of service before the ban.
    with pytest.raises(BiddingBannedError, match="BAN-1 since 2025-04-25"):
        run(ledger, "contract.sign", DIRECTOR, "2025-04-28", oc=OC, contract="HT-1",
            tender="T1", firm=EVERGREEN, start="2025-04-01", end="2027-03-31",
            annual_fee="980000.00", manager="P-M101", manager_name="罗兵")
    assert store_snapshot(ledger) == before


def test_committees_list_their_members_with_concurrent_two_committee_posts(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    [committee] = ocs(ledger, "ZQ-001")
    assert [(m["person"], m["role"], m["votes"], m["also_holds"])
            for m in committee["members"]] == [
        ("P-0101", "director", 250, ["party_org.secretary@ZQ-001",
                                     "residents_committee.member@ZQ-001"]),
        ("P-0201", "member", 201, [])]


def test_a_dismissals_reason_is_stored_as_a_code_and_read_in_each_language(
        ledger: GovernanceLedger) -> None:
    from ledger.kernel.i18n import set_language

    served_by_evergreen(ledger)
    run(ledger, "contract.terminate", DIRECTOR, "2025-08-15", oc=OC, contract="HT-1",
        firm=EVERGREEN, kind="dismissal", effective="2025-08-16", reason="连续三个月未履行",
        decision="业主大会决议 2025-5")
    stored = [e for e in ledger.history(f"firm:{EVERGREEN}")
              if e.type in ("PropertyFirm.CreditRecorded", "PropertyFirm.BiddingBanned",
                            "PropertyFirm.ReportedToDistrict")]
    assert [(e.data["reason"], e.data["reason_code"], e.data["reason_params"]) for e in stored] \
        == [("连续三个月未履行", "dismissal", {"community": "ZQ-001", "contract": "HT-1"})] * 3
    try:
        set_language("zh")
        [ban_zh] = blacklist(ledger)
        set_language("en")
        [ban_en] = blacklist(ledger)
    finally:
        set_language("en")
    assert ban_zh["reason"] == "因未履行合同 HT-1 被 ZQ-001 业主大会解聘: 连续三个月未履行"
    assert ban_en["reason"] == ("dismissed by the owners' assembly of ZQ-001 for not performing "
                                "contract HT-1: 连续三个月未履行")
    [firm] = credit_file(ledger, EVERGREEN)
    assert {e["reason"] for e in firm["entries"]} == {ban_en["reason"]}


def test_a_ban_written_before_reason_codes_still_reads_and_lifts(
        ledger: GovernanceLedger) -> None:
    """An earlier release's events carry the composed sentence and no code: the firm replays
    from them, shows the sentence as written, and a withdrawal still finds its ban."""
    from ledger.aggregates.property_firm import PropertyFirm

    served_by_evergreen(ledger)
    firm = ledger.repository.get(PropertyFirm.create_id(EVERGREEN))
    envelope = {"actor": "P-0001", "occurred_at": "2025-09-01T00:00:00+08:00",
                "command_id": "earlier-release"}
    old = "on the town elimination list for 2025 (firm.elimination@1): score below 60"
    firm._add_bad_record("elimination", None, None, "score below 60", "firm.elimination@1",
                         localize(datetime(2025, 9, 1)), envelope, {"year": 2025})
    # the shape of an earlier release: the sentence in "reason", no code, no parameters
    events = firm.collect_events()
    for e in events:
        e.__dict__.pop("reason_code", None), e.__dict__.pop("reason_params", None)
        e.__dict__["reason"] = old
    mapper = ledger.mapper
    again = ledger.repository.get(PropertyFirm.create_id(EVERGREEN))
    for stored in (mapper.to_stored_event(e) for e in events):
        mapper.to_domain_event(stored).mutate(again)
    assert again.bans[-1]["reason"] == old and again.bans[-1]["reason_code"] is None
    assert render_reason(None, None, old) == old
    again.eliminations.append({"year": 2025, "rule": "firm.elimination@1", "withdrawn": False})
    lifted = again.withdraw_elimination(2025, "corrected", localize(datetime(2025, 10, 1)),
                                        envelope)
    assert lifted == [again.bans[-1]["ban"]]
