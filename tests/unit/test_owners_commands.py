"""Owners'-committee and firm commands: validation without a database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.aggregates.owners_committee import turnout_percent
from ledger.commands.owners import RecordFundUse, RegisterFirm, TerminateContract
from ledger.kernel.command import parse_command
from ledger.kernel.errors import CommandValidationError

DIRECTOR = {"actor": "P-0101", "post": "owners_committee.director@ZQ-001"}


def fund_use(amount: object) -> dict[str, object]:
    return {"type": "oc.record_fund_use", **DIRECTOR, "oc": "ZQ-001/2025", "amount": amount,
            "purpose": "屋面防水", "decision": "决议 2025-3"}


@pytest.mark.parametrize(("given", "kept"), [
    ("386420.75", "386420.75"), ("0.10", "0.10"), (52800, "52800"), (" 7.5 ", "7.5"),
    ("999999999999999.99", "999999999999999.99"),
])
def test_amounts_are_read_as_exact_decimals(given: object, kept: str) -> None:
    cmd = parse_command(fund_use(given))
    assert isinstance(cmd, RecordFundUse)
    assert cmd.amount == Decimal(kept) and f"{cmd.amount:f}" == kept


@pytest.mark.parametrize(("given", "message"), [
    (0.1, "exact decimals"),
    (True, "exact decimals"),
    ("1.005", "more than two decimal places"),
    ("-3", "negative"),
    ("NaN", "not a finite amount"),
    ("1e15", "exponent form"),
    ("1e9", "exponent form"),
    ("1E+3", "exponent form"),
    ("1000000000000000", "too large"),
    (10 ** 15, "too large"),
    ("12,5", "not a decimal amount"),
])
def test_amounts_that_could_lose_or_invent_precision_are_refused(given: object,
                                                                 message: str) -> None:
    with pytest.raises(CommandValidationError, match=message) as err:
        parse_command(fund_use(given))
    assert "field 'amount'" in str(err.value)


def test_an_amount_in_json_text_is_never_read_through_a_float() -> None:
    text = ('{"type":"oc.record_fund_use","actor":"P-0101","post":"owners_committee.director'
            '@ZQ-001","oc":"ZQ-001/2025","amount":"0.30","purpose":"x","decision":"y"}')
    cmd = parse_command(text)
    assert isinstance(cmd, RecordFundUse)
    assert cmd.amount == Decimal("0.30")
    assert '"amount":"0.30"' in cmd.to_json()


def test_a_credit_code_is_normalised_to_upper_case() -> None:
    cmd = parse_command({"type": "firm.register", "actor": "P-0010",
                         "post": "town.housing_office.director@ZQ",
                         "code": " 91330108ma27y5xh5g ", "name": "x", "head": "P-1",
                         "head_name": "y"})
    assert isinstance(cmd, RegisterFirm)
    assert cmd.code == "91330108MA27Y5XH5G"


def test_an_election_must_elect_exactly_one_director_among_those_with_votes() -> None:
    base = {"type": "oc.elect", "actor": "P-0010", "oc": "ZQ-001/2025",
            "assembly_date": "2025-03-01", "owners_total": 10, "owners_voted": 8}
    with pytest.raises(CommandValidationError, match="exactly one director"):
        parse_command({**base, "votes": {"P-1": 5, "P-2": 3},
                       "elected": {"P-1": "member", "P-2": "member"}})
    with pytest.raises(CommandValidationError, match="P-2 is elected but has no vote count"):
        parse_command({**base, "votes": {"P-1": 5}, "elected": {"P-1": "director",
                                                                "P-2": "member"}})
    with pytest.raises(CommandValidationError, match="exceeds owners_total"):
        parse_command({**base, "owners_voted": 11, "votes": {"P-1": 5},
                       "elected": {"P-1": "director"}})


def test_terminations_name_what_their_kind_needs() -> None:
    base = {"type": "contract.terminate", **DIRECTOR, "oc": "ZQ-001/2025", "contract": "HT-1",
            "firm": "91330108MA27Y5XH5G", "reason": "x"}
    with pytest.raises(CommandValidationError, match="needs 'decision'"):
        parse_command({**base, "kind": "dismissal"})
    with pytest.raises(CommandValidationError, match="needs 'legal_counsel'"):
        parse_command({**base, "kind": "elimination"})
    assert isinstance(parse_command({**base, "kind": "expiry"}), TerminateContract)


def test_a_re_election_may_name_only_a_committee_of_the_same_community() -> None:
    base = {"type": "oc.form_group", "actor": "P-0010", "community": "ZQ-001", "term": "2028",
            "group": [{"person": "P-1", "name": "x"}]}
    with pytest.raises(CommandValidationError, match="set kind to re_election"):
        parse_command({**base, "previous": "ZQ-001/2025"})
    with pytest.raises(CommandValidationError, match="is not of ZQ-001"):
        parse_command({**base, "kind": "re_election", "previous": "ZQ-002/2025"})


@pytest.mark.parametrize(("voted", "total", "percent"), [
    (273, 400, "68.25"), (1, 3, "33.33"), (2, 3, "66.67"), (0, 5, "0.00"), (5, 5, "100.00")])
def test_turnout_is_an_exact_percentage_with_two_places(voted: int, total: int,
                                                        percent: str) -> None:
    assert turnout_percent(voted, total) == percent
