"""Commands: parsing, the envelope, dates and time zones, and the JSON Lines codec."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.commands.roster import AppointPost
from ledger.kernel.command import parse_command
from ledger.kernel.errors import CommandValidationError, InvalidPostError, UnknownCommandTypeError

BASE = {"type": "post.appoint", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
        "target_post": "party_org.secretary@ZQ-001", "person": "P-0101", "person_name": "李华"}


def test_unknown_type_is_named_in_the_error() -> None:
    with pytest.raises(UnknownCommandTypeError, match="unknown command type 'post.promote'"):
        parse_command({**BASE, "type": "post.promote"})


def test_missing_type_says_every_command_names_its_type() -> None:
    with pytest.raises(CommandValidationError, match="field 'type' is missing"):
        parse_command({k: v for k, v in BASE.items() if k != "type"})


def test_missing_field_is_named() -> None:
    with pytest.raises(CommandValidationError,
                       match="post.appoint: field 'person': required field is missing"):
        parse_command({k: v for k, v in BASE.items() if k != "person"})


def test_mistyped_field_is_named() -> None:
    with pytest.raises(CommandValidationError, match="field 'person_name'"):
        parse_command({**BASE, "person_name": 42})


def test_unknown_field_is_refused() -> None:
    with pytest.raises(CommandValidationError, match="field 'salary': unknown field"):
        parse_command({**BASE, "salary": 1})


def test_impossible_date_is_refused_naming_the_field() -> None:
    with pytest.raises(CommandValidationError,
                       match="field 'occurred_at': '2025-02-30' is not a valid date"):
        parse_command({**BASE, "occurred_at": "2025-02-30"})


def test_year_out_of_range_is_refused() -> None:
    with pytest.raises(CommandValidationError, match="year 9999 is out of range"):
        parse_command({**BASE, "occurred_at": "9999-01-01"})


def test_bare_date_is_midnight_in_shanghai_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_TZ", raising=False)
    cmd = parse_command({**BASE, "occurred_at": "2025-03-01"})
    assert cmd.occurred_at.isoformat() == "2025-03-01T00:00:00+08:00"


def test_naive_datetime_is_read_in_ledger_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_TZ", "Europe/London")
    cmd = parse_command({**BASE, "occurred_at": "2025-07-01T09:30:00"})
    assert cmd.occurred_at.utcoffset() == timedelta(hours=1)


def test_aware_datetime_keeps_its_offset() -> None:
    cmd = parse_command({**BASE, "occurred_at": "2025-07-01T09:30:00Z"})
    assert cmd.occurred_at.utcoffset() == timedelta(0)


def test_occurred_at_defaults_to_now() -> None:
    cmd = parse_command(BASE)
    assert abs(cmd.occurred_at.timestamp() - datetime.now().timestamp()) < 60


def test_post_that_does_not_exist_is_refused() -> None:
    with pytest.raises(InvalidPostError, match="does not exist"):
        parse_command({**BASE, "target_post": "party_org.treasurer@ZQ-001"})


def test_invalid_json_text_is_refused() -> None:
    with pytest.raises(CommandValidationError, match="not valid JSON"):
        parse_command('{"type": "post.appoint",')


def test_non_object_json_is_refused() -> None:
    with pytest.raises(CommandValidationError, match="must be a JSON object"):
        parse_command("[1, 2]")


def test_oversized_command_is_refused_unread() -> None:
    with pytest.raises(CommandValidationError, match="the limit is"):
        parse_command('{"type": "' + "x" * 70_000 + '"}')


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
                min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(person=st.from_regex(r"P-[0-9]{4}", fullmatch=True), name=names,
       day=st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2100, 1, 1).date()),
       unit=st.from_regex(r"B[0-9]{1,3}", fullmatch=True))
def test_commands_round_trip_through_json_lines(person: str, name: str, day: object,
                                                unit: str) -> None:
    cmd = parse_command({**BASE, "person": person, "person_name": name,
                         "target_post": f"building_leader@ZQ-001/{unit}",
                         "occurred_at": str(day), "basis": "纪要 2025-01"})
    again = parse_command(cmd.to_json())
    assert isinstance(again, AppointPost)
    assert again == cmd


@pytest.mark.parametrize("text", [
    '{"type": "post.appoint", "basis": "a\\u0001b"}',      # an escaped control character
    '{"type": "post.appoint", "basis": "a\\ud800b"}',      # an escaped lone surrogate
    '{"type": "post.appoint", "basis": "a\x7fb"}',         # DEL as it is
    '{"type": "post.appoint", "x": [[[[[[[[["deep"]]]]]]]]]}',
])
def test_the_text_screen_never_spares_a_command_the_walk_refuses(text: str) -> None:
    from ledger.kernel.command import _clean_text

    assert not _clean_text(text)
    with pytest.raises(CommandValidationError, match="control or invalid|nested deeper"):
        parse_command(text)
