"""Implausible data and residents' personal data are refused, and the store stays unchanged
(issue 17, build items 9 and 10)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.application import GovernanceLedger
from ledger.kernel.config import now
from ledger.kernel.errors import CommandValidationError, ImplausibleTimeError, PersonalDataInTextError
from ledger.kernel.personal_data import id_card_check_character
from tests.case_world import ADMIN, PEACE_STAFF, receive, world
from tests.conftest import store_snapshot
from tests.owners_world import DIRECTOR, OC, elected_committee, firms, run
from tests.owners_world import HOUSING as OWNERS_HOUSING

ID_17 = "31011219900307123"
ID = ID_17 + id_card_check_character(ID_17)


def _refused(led: GovernanceLedger, error: type[Exception], match: str, act: Any) -> None:
    before = store_snapshot(led)
    with pytest.raises(error, match=match):
        act()
    assert store_snapshot(led) == before


# ---------------------------------------------------------------------------- future dates
def test_a_case_dated_years_ahead_is_refused_naming_the_field_and_the_tolerance(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    _refused(ledger, ImplausibleTimeError,
             r"case.receive: field 'occurred_at': 2031-03-01T09:00:00\+08:00 is in the future.*"
             r"tolerance of 1 day\(s\) \(town parameter plausibility.future_days\)",
             lambda: receive(ledger, "ZQ-2031-000001", "2031-03-01T09:00:00"))


def test_a_business_time_within_the_tolerance_is_accepted_and_the_town_sets_it(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    soon = (now() + timedelta(hours=12)).replace(microsecond=0).isoformat()
    assert receive(ledger, "ZQ-2026-000001", soon).outcome == "accepted"
    later = (now() + timedelta(days=5)).replace(microsecond=0).isoformat()
    _refused(ledger, ImplausibleTimeError, "tolerance of 1 day",
             lambda: receive(ledger, "ZQ-2026-000002", later))
    ledger.execute({"type": "town.set_parameter", **ADMIN, "town": "ZQ",
                    "name": "plausibility.future_days", "value": 7,
                    "occurred_at": "2025-02-01"})
    assert receive(ledger, "ZQ-2026-000002", later).outcome == "accepted"


def test_the_future_tolerance_must_be_a_whole_number_of_days(ledger: GovernanceLedger) -> None:
    world(ledger)
    _refused(ledger, CommandValidationError, "plausibility.future_days",
             lambda: ledger.execute({"type": "town.set_parameter", **ADMIN, "town": "ZQ",
                                     "name": "plausibility.future_days", "value": "soon",
                                     "occurred_at": "2025-02-01"}))


# ---------------------------------------------------------------------------- before the target
def _year_opened(led: GovernanceLedger) -> None:
    elected_committee(led)
    firms(led)
    led.execute({"type": "appraisal.open_year", **ADMIN, "town": "ZQ", "year": 2025,
                 "occurred_at": "2025-06-01"})


def test_a_score_dated_before_its_year_was_opened_is_refused_naming_both_dates(
        ledger: GovernanceLedger) -> None:
    from tests.owners_world import GOLDEN

    _year_opened(ledger)
    _refused(ledger, ImplausibleTimeError,
             r"dated 2025-05-01T00:00:00\+08:00, before appraisal year ZQ/2025 was opened "
             r"\(2025-06-01T00:00:00\+08:00\)",
             lambda: ledger.execute({"type": "appraisal.record_firm_score", **OWNERS_HOUSING,
                                     "year": 2025, "appraising_body": "考核组",
                                     "firm": GOLDEN, "score": "71.5",
                                     "occurred_at": "2025-05-01"}))


def test_a_score_dated_before_the_firm_was_registered_is_refused(
        ledger: GovernanceLedger) -> None:
    from tests.owners_world import CHUNSHEN, town_and_community

    town_and_community(ledger)
    ledger.execute({"type": "appraisal.open_year", **ADMIN, "town": "ZQ",
                    "year": 2025, "occurred_at": "2025-01-05"})
    run(ledger, "firm.register", OWNERS_HOUSING, "2025-06-01", code=CHUNSHEN, name="春申物业",
        head="P-F9", head_name="负责人")
    _refused(ledger, ImplausibleTimeError, r"before firm .* was registered \(2025-06-01",
             lambda: ledger.execute({"type": "appraisal.record_firm_score", **OWNERS_HOUSING,
                                     "year": 2025, "appraising_body": "考核组", "firm": CHUNSHEN, "score": 80,
                                     "occurred_at": "2025-03-01"}))


def test_acting_in_a_post_before_one_was_appointed_to_it_names_both_dates(
        ledger: GovernanceLedger) -> None:
    from ledger.kernel.errors import PostNotHeldError

    elected_committee(ledger)
    _refused(ledger, PostNotHeldError,
             r"P-0101 was appointed to it only from 2025-03-05T00:00:00\+08:00, after the "
             r"command's date 2025-03-04T00:00:00\+08:00",
             lambda: run(ledger, "tender.launch", DIRECTOR, "2025-03-04", oc=OC, tender="T1",
                         title="x"))


# ---------------------------------------------------------------------------- exact numbers
@pytest.mark.parametrize(("amount", "message"), [
    ("1e9", "exponent form"), (1e9, "exact decimals"), ("1E+3", "exponent form"),
    ("-5", "negative"), ("12.345", "more than two decimal places"),
])
def test_money_in_exponent_form_or_as_a_float_is_refused(ledger: GovernanceLedger, amount: Any,
                                                         message: str) -> None:
    elected_committee(ledger)
    _refused(ledger, CommandValidationError, f"field 'amount': .*{message}",
             lambda: run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-01", oc=OC,
                         amount=amount, purpose="屋面防水", decision="决议 2025-3"))


@pytest.mark.parametrize(("score", "message"), [
    ("7e1", "exponent form"), (70.5, "exact decimals"), ("100.01", "too large"),
    ("-1", "negative"),
])
def test_scores_in_exponent_form_as_floats_or_out_of_bounds_are_refused(
        ledger: GovernanceLedger, score: Any, message: str) -> None:
    from tests.owners_world import GOLDEN

    _year_opened(ledger)
    _refused(ledger, CommandValidationError, f"field 'score': .*{message}",
             lambda: ledger.execute({"type": "appraisal.record_firm_score", **OWNERS_HOUSING,
                                     "year": 2025, "appraising_body": "考核组",
                                     "firm": GOLDEN, "score": score,
                                     "occurred_at": "2025-07-01"}))


def test_the_json_schemas_say_decimal_text_or_integer_without_exponent() -> None:
    from ledger.domains import all_command_types
    from ledger.kernel.command import COMMANDS

    all_command_types()
    money = COMMANDS["oc.record_fund_use"].model_json_schema()["properties"]["amount"]
    string, integer = money["anyOf"]
    assert string == {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$",
                      "description": "decimal text, at most 2 decimal places, no exponent"}
    assert integer == {"type": "integer", "minimum": 0, "exclusiveMaximum": 10 ** 15}
    score = COMMANDS["appraisal.record_firm_score"].model_json_schema()["properties"]["score"]
    assert score["anyOf"][1] == {"type": "integer", "minimum": 0, "maximum": 100}
    assert "number" not in str(money) and "number" not in str(score["anyOf"])


# ---------------------------------------------------------------------------- personal data
def _receive(led: GovernanceLedger, **fields: Any) -> Any:
    case = {"type": "case.receive", **PEACE_STAFF, "occurred_at": "2025-03-01T09:00",
            "ref": "ZQ-2025-000001", "community": "ZQ-001", "channel": "hotline",
            "problem_type": "illegal_construction", "location": "阳光花园12号楼屋顶",
            "description": "屋顶违法搭建"}
    return led.execute({**case, **fields})


@pytest.mark.parametrize(("field", "value", "label"), [
    ("description", "王女士(13800138000)反映屋顶违建", "a mobile phone number"),
    ("description", f"举报人身份证{ID}", "an ID-card number"),
    ("location", "阳光花园12号楼,联系021-64301234", "a landline phone number"),
])
def test_a_case_with_personal_data_in_free_text_is_refused_pointing_to_caller(
        ledger: GovernanceLedger, field: str, value: str, label: str) -> None:
    world(ledger)
    _refused(ledger, PersonalDataInTextError,
             f"case.receive: field '{field}': looks like {label} .*sealed 'caller' field",
             lambda: _receive(ledger, **{field: value}))


def test_personal_data_in_a_later_steps_note_is_refused_too(ledger: GovernanceLedger) -> None:
    world(ledger)
    receive(ledger, "ZQ-2025-000001")
    _refused(ledger, PersonalDataInTextError, "case.accept: field 'note'",
             lambda: ledger.execute({"type": "case.accept", **PEACE_STAFF,
                                     "ref": "ZQ-2025-000001", "note": "回电13912345678",
                                     "occurred_at": "2025-03-01T10:00"}))


def test_a_phone_number_as_the_callers_subject_id_is_refused(ledger: GovernanceLedger) -> None:
    world(ledger)
    _refused(ledger, PersonalDataInTextError,
             "case.receive: field 'caller.subject': the subject id .* looks like a phone",
             lambda: _receive(ledger, caller={"name": "王女士", "phone": "13800138000",
                                              "subject": "13800138000"}))


def test_the_phone_in_the_sealed_caller_field_is_accepted(ledger: GovernanceLedger) -> None:
    world(ledger)
    result = _receive(ledger, description="楼顶违建,请核查",
                      caller={"name": "王女士", "phone": "13800138000"})
    assert result.outcome == "accepted"
    assert "13800138000" not in str(ledger.history("ZQ-2025-000001")[0].data)


def test_a_case_step_dated_before_the_step_it_follows_is_refused(
        ledger: GovernanceLedger) -> None:
    from tests.case_world import run as case_run

    world(ledger)
    receive(ledger, "ZQ-2025-000001", "2025-03-03T09:00:00")
    _refused(ledger, ImplausibleTimeError,
             r"dated 2025-03-01T09:00:00\+08:00, before case ZQ-2025-000001 entered its "
             r"current step \(received\) \(2025-03-03T09:00:00\+08:00\)",
             lambda: case_run(ledger, "case.accept", PEACE_STAFF, "2025-03-01T09:00",
                              ref="ZQ-2025-000001"))


def test_an_amount_shaped_like_a_phone_number_is_an_amount_not_personal_data(
        ledger: GovernanceLedger) -> None:
    """Only text is scanned: typed values (amounts, dates) are never taken for phones."""
    elected_committee(ledger)
    result = run(ledger, "oc.record_fund_use", DIRECTOR, "2025-06-01", oc=OC,
                 amount=13800138000, purpose="电梯更新", decision="决议 2025-3")
    assert result.outcome == "accepted"
