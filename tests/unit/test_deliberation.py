"""Deliberation without a database: item states, references, bodies, command shapes, and the
Meeting and Matter aggregates' own checks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.matter import Matter, MatterStateError
from ledger.aggregates.meeting import (
    DueBeforeMeetingError,
    ItemAlreadyCompletedError,
    Meeting,
    MeetingNotOpenError,
    ResolutionItemNotFoundError,
    UnknownBodyError,
    body_key,
    check_body,
    is_member,
    parse_item_ref,
)
from ledger.kernel.command import parse_command
from ledger.kernel.errors import CommandValidationError
from ledger.projections.deliberation import item_state

TZ = ZoneInfo("Asia/Shanghai")
ENV: dict[str, Any] = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001",
                       "occurred_at": "2025-03-05T14:00:00+08:00"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def march() -> Meeting:
    return Meeting(code="ZQ-001-M-2025-03", kind="four_in_one", town="ZQ", community="ZQ-001",
                   title="三月会议", held_at="2025-03-05T14:00:00+08:00",
                   agenda=[{"no": 1, "title": "停车", "matter": None}], envelope=ENV)


ITEMS = [{"body": "property_firm", "post": None, "community": "ZQ-001", "task": "划线",
          "due": "2025-04-30"}]


@pytest.mark.parametrize(("completed_on", "as_of", "state"), [
    (None, "2025-04-30", "open"),
    (None, "2025-05-01", "overdue"),
    ("2025-04-20", "2025-05-01", "done"),
    ("2025-05-10", "2025-05-01", "overdue"),
    ("2025-05-10", "2025-05-10", "done_late"),
])
def test_an_items_state_depends_on_the_date_it_is_judged(
        completed_on: str | None, as_of: str, state: str) -> None:
    row = {"due": "2025-04-30", "completed_on": completed_on}
    assert item_state(row, date.fromisoformat(as_of)) == state


DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))


@settings(max_examples=200, deadline=None)
@given(due=DAYS, done=st.none() | DAYS, first=DAYS, later=DAYS)
def test_an_item_done_stays_done_and_an_overdue_item_stays_overdue_until_done(
        due: date, done: date | None, first: date, later: date) -> None:
    first, later = min(first, later), max(first, later)
    row = {"due": due.isoformat(), "completed_on": done.isoformat() if done else None}
    before, after = item_state(row, first), item_state(row, later)
    if before in ("done", "done_late"):
        assert after == before
    if before == "overdue":
        assert after in ("overdue", "done_late")
    assert (after == "overdue") == (due < later and (done is None or done > later))


def test_an_item_reference_names_meeting_resolution_and_item() -> None:
    assert parse_item_ref("ZQ-001-M-2025-03/R2/4") == ("ZQ-001-M-2025-03", "R2", 4)
    with pytest.raises(ResolutionItemNotFoundError, match="<meeting>/R<n>/<item>"):
        parse_item_ref("ZQ-001-M-2025-03/4")


def test_bodies_are_known_by_name_or_by_the_towns_departments() -> None:
    check_body("owners_committee", {})
    check_body("department:police", {"police": "公安派出所"})
    with pytest.raises(UnknownBodyError, match="department:police"):
        check_body("department:police", {})
    assert body_key("party_org", "ZQ-003") == "party_org@ZQ-003"
    assert body_key("department:police", "ZQ-003") == "department:police"
    assert is_member("community_joint", "department:police")
    assert not is_member("four_in_one", "department:police")


def test_an_item_given_a_post_takes_its_body_and_community_from_the_post() -> None:
    cmd = parse_command({"type": "resolution.adopt", **ENV, "meeting": "ZQ-TJ-2025-01",
                         "title": "x", "items": [{"post": "party_org.secretary@ZQ-003",
                                                  "task": "摸底", "due": "2025-04-30"}]})
    item = cmd.items[0]  # type: ignore[attr-defined]
    assert (item.body, item.community) == ("party_org", "ZQ-003")


def test_an_item_whose_post_contradicts_its_body_is_refused() -> None:
    with pytest.raises(CommandValidationError, match="belongs to body party_org"):
        parse_command({"type": "resolution.adopt", **ENV, "meeting": "ZQ-001-M-2025-03",
                       "title": "x", "items": [{"body": "property_firm",
                                                "post": "party_org.secretary@ZQ-001",
                                                "task": "x", "due": "2025-04-30"}]})


def test_a_four_in_one_meeting_needs_its_community_and_a_town_joint_meeting_its_town() -> None:
    base = {"type": "meeting.convene", **ENV, "title": "x", "agenda": [{"title": "x"}]}
    with pytest.raises(CommandValidationError, match="needs its community"):
        parse_command({**base, "meeting": "ZQ-001-M-2025-03", "kind": "four_in_one"})
    with pytest.raises(CommandValidationError, match="has no community"):
        parse_command({**base, "meeting": "ZQ-TJ-2025-01", "kind": "town_joint",
                       "community": "ZQ-001", "town": "ZQ"})


def test_a_meeting_flags_items_for_absent_bodies_and_refuses_early_due_dates() -> None:
    m = march()
    m.record_attendance([{"body": "party_org", "community": "ZQ-001", "person": "P-0101",
                          "person_name": "李华", "post": None}], at("2025-03-05T14:05"), ENV)
    assert m.adopt("决议", ITEMS, None, at("2025-03-05T15:00"), ENV) == "R1"
    assert m.item("R1", 1)["absent_body"] is True
    with pytest.raises(DueBeforeMeetingError):
        m.adopt("决议", [{**ITEMS[0], "due": "2025-03-04"}], None, at("2025-03-05T15:00"), ENV)


def test_an_item_is_completed_once_and_a_closed_meeting_adopts_nothing() -> None:
    m = march()
    m.adopt("决议", ITEMS, None, at("2025-03-05T15:00"), ENV)
    assert m.complete("R1", 1, "验收单", at("2025-05-02T10:00"), ENV) is True
    with pytest.raises(ItemAlreadyCompletedError):
        m.complete("R1", 1, "验收单", at("2025-05-03T10:00"), ENV)
    m.close("纪要", "纪要1号", at("2025-03-05T16:00"), ENV)
    with pytest.raises(MeetingNotOpenError, match="was closed"):
        m.adopt("决议", ITEMS, None, at("2025-03-05T17:00"), ENV)


def test_the_major_matter_procedure_runs_in_order_on_the_autonomous_route_only() -> None:
    evaluation = {"rule": "matter.routing@1", "parameters": {}, "inputs": {},
                  "inputs_digest": "x", "decision": {"route": "rc_autonomous"}}
    matter = Matter(code="ZQ-001-MT-2025-001", town="ZQ", community="ZQ-001", title="x",
                    description="", channel="direct", raiser_kind="committee",
                    resident=None, attributes={}, envelope=ENV)
    with pytest.raises(MatterStateError, match="rc_autonomous route only"):
        matter.record_step("proposal", "x", None, ENV)
    matter.route_by_rule(evaluation, ENV)
    with pytest.raises(MatterStateError, match="next procedure step is proposal"):
        matter.record_step("decision", "x", None, ENV)
    for step in ("proposal", "deliberation", "decision", "publication"):
        matter.record_step(step, step, None, ENV)
    assert matter.outcome is not None
    with pytest.raises(MatterStateError, match="can no longer change"):
        matter.override_route("four_in_one", "x", ENV)
