"""Tender dates and the ban at record time: bids only between launch and closing, awards after
closing, and a banned firm cannot get back in by backdating (issue 17, build item 3)."""

from __future__ import annotations

import pytest

from ledger.aggregates.property_firm import BiddingBannedError
from ledger.application import GovernanceLedger
from ledger.kernel.errors import ImplausibleTimeError, TenderWindowError
from tests.conftest import store_snapshot
from tests.owners_world import (
    CHUNSHEN,
    DIRECTOR,
    EVERGREEN,
    GOLDEN,
    OC,
    elected_committee,
    evergreen_dismissed,
    firms,
    run,
)


def _tender_with_window(led: GovernanceLedger) -> None:
    """Committee in office, firms registered, tender T1 open 2025-04-01 to 2025-04-18."""
    elected_committee(led)
    firms(led)
    run(led, "tender.launch", DIRECTOR, "2025-04-01", oc=OC, tender="T1", title="物业招标",
        closes="2025-04-18")


def test_a_bid_dated_before_the_tender_was_launched_is_refused_naming_both_dates(
        ledger: GovernanceLedger) -> None:
    _tender_with_window(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(TenderWindowError, match=r"2025-03-20T00:00:00\+08:00 is before tender "
                       r"'T1' was launched \(2025-04-01T00:00:00\+08:00\)"):
        run(ledger, "tender.bid", DIRECTOR, "2025-03-20", oc=OC, tender="T1", firm=GOLDEN)
    assert store_snapshot(ledger) == before


def test_a_bid_after_the_closing_date_is_refused_and_one_on_the_closing_day_is_taken(
        ledger: GovernanceLedger) -> None:
    _tender_with_window(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(TenderWindowError, match="after tender 'T1' closed .closing date "
                       "2025-04-18"):
        run(ledger, "tender.bid", DIRECTOR, "2025-04-19T00:00", oc=OC, tender="T1",
            firm=GOLDEN)
    assert store_snapshot(ledger) == before
    assert run(ledger, "tender.bid", DIRECTOR, "2025-04-18T23:59", oc=OC, tender="T1",
               firm=GOLDEN).outcome == "accepted"


def test_an_award_before_the_tender_closed_is_refused(ledger: GovernanceLedger) -> None:
    _tender_with_window(ledger)
    run(ledger, "tender.bid", DIRECTOR, "2025-04-10", oc=OC, tender="T1", firm=GOLDEN)
    before = store_snapshot(ledger)
    with pytest.raises(TenderWindowError, match="before tender 'T1' closed .closing date "
                       "2025-04-18.; a tender is awarded after it closes"):
        run(ledger, "tender.award", DIRECTOR, "2025-04-18T10:00", oc=OC, tender="T1",
            firm=GOLDEN, decision="决议")
    assert store_snapshot(ledger) == before
    assert run(ledger, "tender.award", DIRECTOR, "2025-04-19", oc=OC, tender="T1", firm=GOLDEN,
               decision="决议").outcome == "accepted"


def test_without_a_closing_date_an_award_cannot_predate_the_last_bid(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    firms(ledger)
    run(ledger, "tender.launch", DIRECTOR, "2025-04-01", oc=OC, tender="T1", title="物业招标")
    run(ledger, "tender.bid", DIRECTOR, "2025-04-10", oc=OC, tender="T1", firm=GOLDEN)
    before = store_snapshot(ledger)
    with pytest.raises(TenderWindowError, match="before 2025-04-10T00:00:00\\+08:00"):
        run(ledger, "tender.award", DIRECTOR, "2025-04-05", oc=OC, tender="T1", firm=GOLDEN,
            decision="决议")
    assert store_snapshot(ledger) == before


def test_a_contract_signed_before_the_award_is_refused(ledger: GovernanceLedger) -> None:
    _tender_with_window(ledger)
    run(ledger, "tender.bid", DIRECTOR, "2025-04-10", oc=OC, tender="T1", firm=GOLDEN)
    run(ledger, "tender.award", DIRECTOR, "2025-04-20", oc=OC, tender="T1", firm=GOLDEN,
        decision="决议")
    before = store_snapshot(ledger)
    with pytest.raises(ImplausibleTimeError, match="before tender 'T1' was awarded"):
        run(ledger, "contract.sign", DIRECTOR, "2025-04-19", oc=OC, contract="HT-1",
            tender="T1", firm=GOLDEN, start="2025-05-01", end="2026-04-30",
            annual_fee="100.00", manager="P-M1", manager_name="经理")
    assert store_snapshot(ledger) == before


def test_a_tender_closing_before_its_launch_is_refused(ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(TenderWindowError, match="close on 2025-03-01, before its launch"):
        run(ledger, "tender.launch", DIRECTOR, "2025-04-01", oc=OC, tender="T1", title="x",
            closes="2025-03-01")
    assert store_snapshot(ledger) == before


def test_a_backdated_bid_by_a_banned_firm_is_refused_by_record_time(
        ledger: GovernanceLedger) -> None:
    """Evergreen is banned from 2025-08-15. A tender launched in June is still open; a bid for
    Evergreen dated July (before the ban) but recorded now is refused all the same."""
    evergreen_dismissed(ledger)
    run(ledger, "tender.launch", DIRECTOR, "2025-06-01", oc=OC, tender="T3", title="配套招标",
        closes="2025-12-31")
    before = store_snapshot(ledger)
    with pytest.raises(BiddingBannedError, match="dated 2025-07-01T00:00:00\\+08:00, before "
                       "the ban, but is recorded after it"):
        run(ledger, "tender.bid", DIRECTOR, "2025-07-01", oc=OC, tender="T3", firm=EVERGREEN)
    assert store_snapshot(ledger) == before


def test_a_backdated_award_and_contract_for_a_banned_firm_are_refused(
        ledger: GovernanceLedger) -> None:
    """Evergreen bid in T3 before its ban was recorded; the award and the contract, recorded
    after the ban, are refused even when dated before it."""
    from tests.owners_world import served_by_evergreen

    served_by_evergreen(ledger)
    run(ledger, "tender.launch", DIRECTOR, "2025-06-01", oc=OC, tender="T3", title="配套招标",
        closes="2025-06-30")
    run(ledger, "tender.bid", DIRECTOR, "2025-06-10", oc=OC, tender="T3", firm=EVERGREEN)
    run(ledger, "contract.terminate", DIRECTOR, "2025-08-15", oc=OC, contract="HT-1",
        firm=EVERGREEN, kind="dismissal", effective="2025-08-16", reason="未履行合同",
        decision="业主大会决议 2025-5")
    before = store_snapshot(ledger)
    with pytest.raises(BiddingBannedError, match="recorded after it"):
        run(ledger, "tender.award", DIRECTOR, "2025-07-05", oc=OC, tender="T3",
            firm=EVERGREEN, decision="决议")
    assert store_snapshot(ledger) == before


def test_a_bid_dated_before_the_firm_was_registered_is_refused_naming_both_dates(
        ledger: GovernanceLedger) -> None:
    elected_committee(ledger)
    run(ledger, "tender.launch", DIRECTOR, "2025-04-01", oc=OC, tender="T1", title="x")
    run(ledger, "firm.register", {"actor": "P-0010", "post": "town.housing_office.director@ZQ"},
        "2025-05-01", code=CHUNSHEN, name="春申物业", head="P-F9", head_name="负责人")
    before = store_snapshot(ledger)
    with pytest.raises(ImplausibleTimeError, match="dated 2025-04-10T00:00:00\\+08:00, before "
                       "firm .* was registered .2025-05-01T00:00:00\\+08:00."):
        run(ledger, "tender.bid", DIRECTOR, "2025-04-10", oc=OC, tender="T1", firm=CHUNSHEN)
    assert store_snapshot(ledger) == before
