"""Deliberation on both stores: meetings, resolutions followed to completion or lapse,
matters routed by rule, platform topics, cadence — and refusals that change nothing."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.aggregates.matter import MatterStateError
from ledger.aggregates.meeting import (
    DueBeforeMeetingError,
    HandOverError,
    ItemAlreadyCompletedError,
    ItemNotOverdueError,
    MeetingNotFoundError,
    MeetingNotOpenError,
    UnknownBodyError,
)
from ledger.application import GovernanceLedger
from ledger.kernel import privacy
from ledger.kernel.errors import AuthorityError, CommandValidationError, LedgerError, PostNotHeldError
from ledger.projections.deliberation import (
    cadence_report,
    items,
    matter_list,
    meeting_list,
    meetings,
    resolution_items,
)
from ledger.rules import Evaluation, reproduce
from tests.conftest import ADMIN, store_snapshot, sunny_garden

SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}
DIRECTOR = {"actor": "P-0102", "post": "residents_committee.director@ZQ-001"}
MEMBER = {"actor": "P-0103", "post": "residents_committee.member@ZQ-001"}
PEACE = {"actor": "P-0004", "post": "town.peace_office.director@ZQ"}
LIAISON = {"actor": "P-0511", "post": "department.urban_management.liaison@ZQ-001"}
MARCH = "ZQ-001-M-2025-03"


def appoint(led: GovernanceLedger, post: str, person: str, name: str) -> None:
    led.execute({"type": "post.appoint", **ADMIN, "target_post": post, "person": person,
                 "person_name": name, "occurred_at": "2025-01-04"})


def setup_town(led: GovernanceLedger) -> None:
    """Sunny Garden (ZQ-001) and Ginkgo Court (ZQ-002), an RC member, a liaison, the peace
    office director and ZQ-002's secretary."""
    sunny_garden(led)
    led.execute({"type": "community.register", **ADMIN, "code": "ZQ-002", "name": "银杏苑",
                 "occurred_at": "2025-01-02"})
    appoint(led, "residents_committee.member@ZQ-001", "P-0103", "杜洁")
    appoint(led, "department.urban_management.liaison@ZQ-001", "P-0511", "丁娟")
    appoint(led, "town.peace_office.director@ZQ", "P-0004", "梁建华")
    appoint(led, "party_org.secretary@ZQ-002", "P-0201", "薛平")


def convene(led: GovernanceLedger, ref: str = MARCH, when: str = "2025-03-05T14:00",
            by: dict[str, str] = SECRETARY, kind: str = "four_in_one",
            **extra: Any) -> None:
    body: dict[str, Any] = {"type": "meeting.convene", **by, "meeting": ref, "kind": kind,
                            "title": "四位一体协商会议", "agenda": [{"title": "小区停车"}],
                            "occurred_at": when}
    if kind == "town_joint":
        body["town"] = "ZQ"
    else:
        body["community"] = "ZQ-001"
    led.execute({**body, **extra})


def attend(led: GovernanceLedger, ref: str = MARCH, when: str = "2025-03-05T14:05",
           firm: bool = True) -> None:
    people = [
        {"post": "party_org.secretary@ZQ-001", "person": "P-0101", "person_name": "李华"},
        {"post": "residents_committee.director@ZQ-001", "person": "P-0102",
         "person_name": "张敏"},
        {"body": "owners_committee", "person": "P-0301", "person_name": "周强"},
    ]
    if firm:
        people.append({"body": "property_firm", "person": "P-0401", "person_name": "吴经理"})
    led.execute({"type": "meeting.attend", **SECRETARY, "meeting": ref, "attendees": people,
                 "occurred_at": when})


def adopt(led: GovernanceLedger, ref: str = MARCH, when: str = "2025-03-05T15:30",
          items_: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    result = led.execute({
        "type": "resolution.adopt", **SECRETARY, "meeting": ref, "title": "停车整治决议",
        "items": items_ or [
            {"body": "property_firm", "task": "重新施划停车位", "due": "2025-04-30"},
            {"body": "residents_committee", "task": "张贴停车公告", "due": "2025-03-31"},
        ], "occurred_at": when, **extra})
    return result.detail


def close(led: GovernanceLedger, ref: str = MARCH, when: str = "2025-03-05T16:30") -> None:
    led.execute({"type": "meeting.close", **SECRETARY, "meeting": ref, "summary": "形成决议",
                 "document": "阳光花园会议纪要〔2025〕3号", "occurred_at": when})


def complete(led: GovernanceLedger, item: str, when: str, by: dict[str, str] = DIRECTOR) -> None:
    led.execute({"type": "resolution.complete", **by, "item": item, "evidence": "验收记录",
                 "occurred_at": when})


def held_meeting(led: GovernanceLedger) -> None:
    """Town, ZQ-001's March four-in-one meeting: convened, attended, one resolution adopted."""
    setup_town(led)
    convene(led)
    attend(led)
    adopt(led)


# ---------------------------------------------------------------------------- the story
def test_a_resolutions_full_story_is_told_by_the_history_of_its_meeting(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    # The party secretary convenes March's four-in-one meeting; four bodies attend.
    convene(ledger)
    attend(ledger)
    # The meeting adopts a resolution with two items.
    detail = adopt(ledger)
    assert detail["items"] == [f"{MARCH}/R1/1", f"{MARCH}/R1/2"]
    # The secretary closes the meeting with its minutes.
    close(ledger)
    # The RC director reports progress on item 2 and completes it; the firm's item follows,
    # recorded by the secretary who convened the meeting (the RC director may not complete
    # another body's item).
    ledger.execute({"type": "resolution.progress", **DIRECTOR, "item": f"{MARCH}/R1/2",
                    "note": "公告已拟好", "occurred_at": "2025-03-10"})
    complete(ledger, f"{MARCH}/R1/2", "2025-03-20")
    complete(ledger, f"{MARCH}/R1/1", "2025-04-28", by=SECRETARY)

    story = [(e.type, e.envelope["actor"], e.envelope["post"], e.envelope["occurred_at"][:10])
             for e in ledger.history(MARCH)]
    assert story == [
        ("Meeting.Convened", "P-0101", "party_org.secretary@ZQ-001", "2025-03-05"),
        ("Meeting.AttendanceRecorded", "P-0101", "party_org.secretary@ZQ-001", "2025-03-05"),
        ("Meeting.ResolutionAdopted", "P-0101", "party_org.secretary@ZQ-001", "2025-03-05"),
        ("Meeting.Closed", "P-0101", "party_org.secretary@ZQ-001", "2025-03-05"),
        ("Meeting.ItemProgressReported", "P-0102", "residents_committee.director@ZQ-001",
         "2025-03-10"),
        ("Meeting.ItemCompleted", "P-0102", "residents_committee.director@ZQ-001", "2025-03-20"),
        ("Meeting.ItemCompleted", "P-0101", "party_org.secretary@ZQ-001", "2025-04-28"),
    ]
    events = {e.type: e for e in ledger.history(MARCH)}
    attendees = events["Meeting.AttendanceRecorded"].data["attendees"]
    assert [(a["body"], a["person"], a["post"]) for a in attendees] == [
        ("party_org", "P-0101", "party_org.secretary@ZQ-001"),
        ("residents_committee", "P-0102", "residents_committee.director@ZQ-001"),
        ("owners_committee", "P-0301", None),
        ("property_firm", "P-0401", None),
    ]
    adopted = events["Meeting.ResolutionAdopted"].data
    assert adopted["present"] == ["owners_committee@ZQ-001", "party_org@ZQ-001",
                                  "property_firm@ZQ-001", "residents_committee@ZQ-001"]
    assert [(i["item"], i["body"], i["due"], i["absent_body"]) for i in adopted["items"]] == [
        (1, "property_firm", "2025-04-30", False), (2, "residents_committee", "2025-03-31", False)]
    assert events["Meeting.ItemProgressReported"].data["note"] == "公告已拟好"
    assert events["Meeting.ItemCompleted"].data == {
        "resolution": "R1", "item": 1, "evidence": "验收记录", "completed_on": "2025-04-28",
        "late": False}
    assert events["Meeting.Closed"].data["document"] == "阳光花园会议纪要〔2025〕3号"


def test_the_history_lists_events_in_the_order_they_happened(ledger: GovernanceLedger) -> None:
    held_meeting(ledger)
    ledger.execute({"type": "resolution.progress", **DIRECTOR, "item": f"{MARCH}/R1/2",
                    "note": "公告已拟好", "occurred_at": "2025-03-10"})
    complete(ledger, f"{MARCH}/R1/2", "2025-03-20")
    close(ledger, when="2025-03-05T16:30")
    assert [e.type.split(".")[1] for e in ledger.history(MARCH)] == [
        "Convened", "AttendanceRecorded", "ResolutionAdopted", "ItemProgressReported",
        "ItemCompleted", "Closed"]


# ---------------------------------------------------------------------------- as of
def test_the_overdue_list_as_of_a_past_date_differs_correctly_from_todays(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    convene(ledger)
    attend(ledger)
    adopt(ledger, items_=[
        {"body": "property_firm", "task": "A 施划车位", "due": "2025-04-30"},      # done late
        {"body": "residents_committee", "task": "B 张贴公告", "due": "2025-03-31"},  # never done
        {"body": "owners_committee", "task": "C 业主征询", "due": "2025-06-30"},     # done on time
    ])
    complete(ledger, f"{MARCH}/R1/1", "2025-05-10", by=SECRETARY)
    complete(ledger, f"{MARCH}/R1/3", "2025-06-20", by=SECRETARY)
    # A later meeting adopts D, never done; it did not exist on 2025-05-01.
    convene(ledger, "ZQ-001-M-2025-07", "2025-07-05T14:00")
    adopt(ledger, "ZQ-001-M-2025-07", "2025-07-05T15:00",
          [{"body": "residents_committee", "task": "D 回访", "due": "2025-07-31"}])

    def overdue(as_of: date | None) -> list[str]:
        return [i["task"][0] for i in
                resolution_items(ledger, overdue=True, as_of=as_of)["items"]]

    assert overdue(date(2025, 5, 1)) == ["B", "A"]
    assert overdue(None) == ["B", "D"]
    then = {i["task"][0]: i for i in resolution_items(ledger, as_of=date(2025, 5, 1))["items"]}
    assert {k: v["state"] for k, v in then.items()} == {"A": "overdue", "B": "overdue",
                                                          "C": "open"}
    assert then["A"]["completed_on"] is None and then["A"]["days_overdue"] == 1
    now = {i["task"][0]: i["state"] for i in resolution_items(ledger)["items"]}
    assert now == {"A": "done_late", "B": "overdue", "C": "done", "D": "overdue"}
    assert resolution_items(ledger, body="owners_committee")["counts"]["done"] == 1


# ---------------------------------------------------------------------------- refusals
def _attend(led: GovernanceLedger, person: dict[str, Any]) -> None:
    led.execute({"type": "meeting.attend", **SECRETARY, "meeting": MARCH,
                 "occurred_at": "2025-03-05T14:10", "attendees": [person]})


def _nothing(led: GovernanceLedger) -> None:
    pass


# (what, prepare, refused act, error, message); the store is compared after prepare.
REFUSALS: list[tuple[str, Any, Any, type[LedgerError], str]] = [
    ("convening a four-in-one meeting without the authority", _nothing,
     lambda led: convene(led, "ZQ-001-M-2025-04", "2025-04-05T14:00", by=MEMBER),
     AuthorityError, "no authority for meeting.convene/four_in_one"),
    ("convening a town joint meeting as a community secretary", _nothing,
     lambda led: convene(led, "ZQ-TJ-2025-01", "2025-03-26", kind="town_joint"),
     AuthorityError, "no authority for meeting.convene/town_joint"),
    ("convening a joint meeting in a post not yet held", _nothing,
     lambda led: convene(led, "ZQ-001-J-2025-01", "2025-01-02", kind="community_joint"),
     PostNotHeldError, "did not hold party_org.secretary@ZQ-001"),
    ("adopting a resolution at a closed meeting", close,
     lambda led: adopt(led, when="2025-03-05T17:00"), MeetingNotOpenError, "was closed"),
    ("adopting a resolution at a meeting never convened", _nothing,
     lambda led: adopt(led, "ZQ-001-M-2025-05", "2025-05-05T15:00"),
     MeetingNotFoundError, "has not been convened"),
    ("adopting a resolution before the meeting sits", _nothing,
     lambda led: adopt(led, when="2025-03-04T09:00"),
     MeetingNotOpenError, "is not convened until"),
    ("completing an item twice",
     lambda led: complete(led, f"{MARCH}/R1/1", "2025-04-01", by=SECRETARY),
     lambda led: complete(led, f"{MARCH}/R1/1", "2025-04-02", by=SECRETARY),
     ItemAlreadyCompletedError, "was completed on 2025-04-01"),
    ("a due date before the meeting", _nothing,
     lambda led: adopt(led, items_=[{"body": "property_firm", "task": "补划",
                                     "due": "2025-03-01"}]),
     DueBeforeMeetingError, "before meeting ZQ-001-M-2025-03"),
    ("an unknown body on an item", _nothing,
     lambda led: adopt(led, items_=[{"body": "fire_brigade", "task": "检查",
                                     "due": "2025-04-01"}]),
     UnknownBodyError, "body 'fire_brigade' is not known"),
    ("an unknown department on an item", _nothing,
     lambda led: adopt(led, items_=[{"body": "department:fire", "task": "检查",
                                     "due": "2025-04-01"}]),
     UnknownBodyError, "body 'department:fire' is not known"),
    ("an unknown body among the attendees", _nothing,
     lambda led: _attend(led, {"body": "fire_brigade", "person": "P-0999", "person_name": "X"}),
     UnknownBodyError, "body 'fire_brigade' is not known"),
    ("an attendee in a post they do not hold", _nothing,
     lambda led: _attend(led, {"post": "party_org.secretary@ZQ-002", "person": "P-0999",
                               "person_name": "X"}),
     PostNotHeldError, "did not hold party_org.secretary@ZQ-002"),
    ("recording a lapse before the due date", _nothing,
     lambda led: led.execute({"type": "resolution.lapse", **SECRETARY, "item": f"{MARCH}/R1/1",
                              "occurred_at": "2025-04-30"}),
     ItemNotOverdueError, "has not lapsed on 2025-04-30"),
    ("handing an item to an earlier meeting",
     lambda led: convene(led, "ZQ-001-M-2025-02", "2025-02-05T14:00"),
     lambda led: led.execute({"type": "resolution.hand_over", **SECRETARY,
                              "item": f"{MARCH}/R1/1", "to_meeting": "ZQ-001-M-2025-02",
                              "reason": "跟进", "occurred_at": "2025-03-06"}),
     HandOverError, "is not later than"),
    ("reporting on an item that does not exist", _nothing,
     lambda led: led.execute({"type": "resolution.progress", **DIRECTOR,
                              "item": f"{MARCH}/R1/9", "note": "x",
                              "occurred_at": "2025-03-06"}),
     LedgerError, "does not exist"),
    ("completing an item in a post one does not hold", _nothing,
     lambda led: complete(led, f"{MARCH}/R1/1", "2025-04-01",
                          by={"actor": "P-0511", "post": "department.police.liaison@ZQ-001"}),
     PostNotHeldError, "did not hold department.police.liaison@ZQ-001"),
]


@pytest.mark.parametrize(("what", "prepare", "act", "error", "message"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_a_refused_deliberation_command_names_the_fault_and_changes_nothing(
        ledger: GovernanceLedger, what: str, prepare: Any, act: Any,
        error: type[LedgerError], message: str) -> None:
    held_meeting(ledger)
    prepare(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(error) as info:
        act(ledger)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert store_snapshot(ledger) == before


# ---------------------------------------------------------------------------- follow-up
def test_an_item_for_a_body_absent_from_the_meeting_is_accepted_and_flagged(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    convene(ledger)
    attend(ledger, firm=False)
    detail = adopt(ledger)
    assert detail["absent_body_items"] == [f"{MARCH}/R1/1"]
    flagged = [(i["ref"], i["absent_body"]) for i in resolution_items(ledger)["items"]]
    assert sorted(flagged) == [(f"{MARCH}/R1/1", True), (f"{MARCH}/R1/2", False)]
    assert meeting_list(ledger)[0]["absent_body_items"] == 1


def test_an_item_handed_to_a_later_meeting_is_recorded_on_both(ledger: GovernanceLedger) -> None:
    held_meeting(ledger)
    close(ledger)
    convene(ledger, "ZQ-001-M-2025-04", "2025-04-05T14:00")
    ledger.execute({"type": "resolution.hand_over", **SECRETARY, "item": f"{MARCH}/R1/1",
                    "to_meeting": "ZQ-001-M-2025-04", "reason": "需业委会表决",
                    "occurred_at": "2025-04-05T14:30"})
    assert ledger.history(MARCH)[-1].type == "Meeting.ItemHandedOver"
    taken = ledger.history("ZQ-001-M-2025-04")[-1]
    assert taken.type == "Meeting.FollowUpTaken"
    assert taken.data["item_ref"] == f"{MARCH}/R1/1"
    assert [i["handed_to"] for i in resolution_items(ledger, meeting=MARCH)["items"]] == [
        None, "ZQ-001-M-2025-04"]
    before = resolution_items(ledger, meeting=MARCH, as_of=date(2025, 4, 1))["items"]
    assert [i["handed_to"] for i in before] == [None, None]


def test_a_town_joint_item_for_a_community_secretary_is_reported_by_that_secretary(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    convene(ledger, "ZQ-TJ-2025-01", "2025-03-26T09:00", by=PEACE, kind="town_joint")
    ledger.execute({"type": "meeting.attend", **PEACE, "meeting": "ZQ-TJ-2025-01",
                    "occurred_at": "2025-03-26T09:05", "attendees": [
                        {"post": "party_org.secretary@ZQ-002", "person": "P-0201",
                         "person_name": "薛平"},
                        {"body": "owners_committee", "community": "ZQ-002", "person": "P-0302",
                         "person_name": "吴秀兰"}]})
    ledger.execute({"type": "resolution.adopt", **PEACE, "meeting": "ZQ-TJ-2025-01",
                    "title": "镇联席会议决议", "occurred_at": "2025-03-26T11:00", "items": [
                        {"post": "party_org.secretary@ZQ-002", "task": "群租摸底",
                         "due": "2025-04-30"},
                        {"body": "owners_committee", "community": "ZQ-001", "task": "换届筹备",
                         "due": "2025-05-31"}]})
    ledger.execute({"type": "resolution.complete", "actor": "P-0201",
                    "post": "party_org.secretary@ZQ-002", "item": "ZQ-TJ-2025-01/R1/1",
                    "evidence": "摸底报告", "occurred_at": "2025-04-20"})
    rows = resolution_items(ledger, community="ZQ-002")["items"]
    assert [(r["ref"], r["state"], r["absent_body"]) for r in rows] == [
        ("ZQ-TJ-2025-01/R1/1", "done", False)]
    other = resolution_items(ledger, community="ZQ-001")["items"]
    assert [(r["ref"], r["absent_body"]) for r in other] == [("ZQ-TJ-2025-01/R1/2", True)]


# ---------------------------------------------------------------------------- matters
def raise_matter(led: GovernanceLedger, ref: str, attributes: dict[str, Any],
                 by: dict[str, str] = DIRECTOR, **extra: Any) -> None:
    led.execute({"type": "matter.raise", **by, "matter": ref, "community": "ZQ-001",
                 "title": "事项", "attributes": attributes, "occurred_at": "2025-02-20",
                 **extra})


def route(led: GovernanceLedger, ref: str) -> str:
    return str(led.execute({"type": "matter.route", **SECRETARY, "matter": ref,
                            "occurred_at": "2025-02-21"}).detail["route"])


def test_matters_go_down_all_three_routes_and_record_how_they_were_decided(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    raise_matter(ledger, "ZQ-001-MT-2025-001", {"bodies_to_act": ["property_firm"],
                                                "field": "management"},
                 resident_ref="R-1a7f3c")
    raise_matter(ledger, "ZQ-001-MT-2025-002", {"public_interest_all_residents": True,
                                                "field": "building"})
    raise_matter(ledger, "ZQ-001-MT-2025-003", {"overlapping_duties": True,
                                                "field": "public_order"}, by=LIAISON)
    assert [route(ledger, f"ZQ-001-MT-2025-00{n}") for n in (1, 2, 3)] == [
        "four_in_one", "rc_autonomous", "party_building_joint_meeting"]
    # Route 1: decided by a resolution of the four-in-one meeting.
    convene(ledger)
    attend(ledger)
    adopt(ledger, matter="ZQ-001-MT-2025-001")
    # Route 2: the major-matter procedure, step by step.
    for step in ("proposal", "deliberation", "decision", "publication"):
        ledger.execute({"type": "matter.record_step", **DIRECTOR, "matter": "ZQ-001-MT-2025-002",
                        "step": step, "summary": step, "occurred_at": "2025-03-10"})
    # Route 3: the joint meeting decides it.
    convene(ledger, "ZQ-001-J-2025-03", "2025-03-20T09:00", kind="community_joint")
    ledger.execute({"type": "resolution.adopt", **SECRETARY, "meeting": "ZQ-001-J-2025-03",
                    "title": "联合整治", "matter": "ZQ-001-MT-2025-003",
                    "occurred_at": "2025-03-20T10:00", "items": [
                        {"body": "department:urban_management", "task": "拆除", "due":
                         "2025-04-20"}]})
    rows = {m["code"]: m for m in matter_list(ledger)}
    assert {k: (v["route"], v["status"], v["raiser_kind"]) for k, v in rows.items()} == {
        "ZQ-001-MT-2025-001": ("four_in_one", "decided", "resident"),
        "ZQ-001-MT-2025-002": ("rc_autonomous", "published", "committee"),
        "ZQ-001-MT-2025-003": ("party_building_joint_meeting", "decided", "department"),
    }
    assert [e.data["step"] for e in ledger.history("ZQ-001-MT-2025-002")
            if e.type == "Matter.ProcedureStepRecorded"] == [
        "proposal", "deliberation", "decision", "publication"]
    assert ledger.history("ZQ-001-MT-2025-001")[-1].data == {
        "meeting": MARCH, "resolution": "R1"}


def test_a_person_may_override_the_route_with_a_stated_reason(ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    raise_matter(ledger, "ZQ-001-MT-2025-001", {"field": "service"})
    assert route(ledger, "ZQ-001-MT-2025-001") == "four_in_one"
    ledger.execute({"type": "matter.override_route", **SECRETARY, "matter": "ZQ-001-MT-2025-001",
                    "route": "party_building_joint_meeting", "reason": "需市场监管所联合执法",
                    "occurred_at": "2025-02-22"})
    routed, overridden = ledger.history("ZQ-001-MT-2025-001")[1:]
    assert routed.data["rule"] == "matter.routing@1"
    assert routed.data["decision"]["route"] == "four_in_one"
    assert overridden.data == {"previous": "four_in_one", "route": "party_building_joint_meeting",
                               "reason": "需市场监管所联合执法"}
    assert overridden.envelope["actor"] == "P-0101"
    (row,) = matter_list(ledger)
    assert (row["route"], row["rule_route"], row["overridden"]) == (
        "party_building_joint_meeting", "four_in_one", True)


def _town_joint(led: GovernanceLedger) -> None:
    convene(led, "ZQ-TJ-2025-01", "2025-03-26T09:00", by=PEACE, kind="town_joint")


MATTER_REFUSALS: list[tuple[str, Any, Any, type[LedgerError], str]] = [
    ("routing twice", _nothing, lambda led: route(led, "ZQ-001-MT-2025-001"), MatterStateError,
     "already routed"),
    ("a procedure step on a four-in-one matter", _nothing,
     lambda led: led.execute({"type": "matter.record_step", **DIRECTOR,
                              "matter": "ZQ-001-MT-2025-001", "step": "proposal",
                              "summary": "x", "occurred_at": "2025-03-01"}),
     MatterStateError, "rc_autonomous route only"),
    ("a town joint meeting deciding a four-in-one matter", _town_joint,
     lambda led: led.execute({"type": "resolution.adopt", **PEACE, "meeting": "ZQ-TJ-2025-01",
                              "title": "x", "matter": "ZQ-001-MT-2025-001",
                              "occurred_at": "2025-03-26T10:00", "items": [
                                  {"body": "department:housing", "task": "x",
                                   "due": "2025-04-01"}]}),
     MatterStateError, "does not decide it"),
    ("a phone number in a matter's title", _nothing,
     lambda led: raise_matter(led, "ZQ-001-MT-2025-009", {"field": "other"},
                              title="王先生 13812345678 反映"),
     CommandValidationError, "personal data"),
    ("a resident's name as their reference", _nothing,
     lambda led: raise_matter(led, "ZQ-001-MT-2025-009", {"field": "other"},
                              resident_ref="王先生"),
     CommandValidationError, "resident_ref"),
    ("raising a matter in a post without authority for it", _nothing,
     lambda led: raise_matter(led, "ZQ-001-MT-2025-009", {"field": "other"}, by=PEACE),
     AuthorityError, "no authority for matter.raise"),
    ("an unknown body to act", _nothing,
     lambda led: raise_matter(led, "ZQ-001-MT-2025-009", {"bodies_to_act": ["department:fire"]}),
     UnknownBodyError, "department:fire"),
]


@pytest.mark.parametrize(("what", "prepare", "act", "error", "message"), MATTER_REFUSALS,
                         ids=[r[0] for r in MATTER_REFUSALS])
def test_a_refused_matter_command_names_the_fault_and_changes_nothing(
        ledger: GovernanceLedger, what: str, prepare: Any, act: Any,
        error: type[LedgerError], message: str) -> None:
    setup_town(ledger)
    raise_matter(ledger, "ZQ-001-MT-2025-001", {"bodies_to_act": ["property_firm"],
                                                "field": "management"})
    route(ledger, "ZQ-001-MT-2025-001")
    prepare(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(error) as info:
        act(ledger)
    assert message in str(info.value)
    assert store_snapshot(ledger) == before


def test_a_platform_topic_is_raised_heard_and_its_outcome_published(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    ledger.execute({"type": "topic.raise", **MEMBER, "matter": "ZQ-001-TP-2025-01",
                    "community": "ZQ-001", "resident_ref": "R-a91c07", "title": "增设休闲座椅",
                    "occurred_at": "2025-03-01"})
    convene(ledger)
    ledger.execute({"type": "topic.hear", **SECRETARY, "matter": "ZQ-001-TP-2025-01",
                    "meeting": MARCH, "occurred_at": "2025-03-05T15:00"})
    ledger.execute({"type": "topic.publish", **SECRETARY, "matter": "ZQ-001-TP-2025-01",
                    "summary": "增设座椅6张", "document": "居务公开栏2025-03",
                    "occurred_at": "2025-03-10"})
    raised = ledger.history("ZQ-001-TP-2025-01")[0]
    # The raiser's reference is sealed under their own key, readable until erased.
    assert "R-a91c07" not in str(raised.data)
    with ledger.engine.connect() as conn:
        assert privacy.unseal(conn, raised.data["resident"]) == {"resident_ref": "R-a91c07"}
    assert raised.data["channel"] == "platform"
    assert ledger.history(MARCH)[-1].type == "Meeting.TopicHeard"
    (row,) = matter_list(ledger, channel="platform")
    assert (row["status"], row["published_on"]) == ("published", "2025-03-10")


# ---------------------------------------------------------------------------- cadence
def test_a_community_whose_last_four_in_one_is_older_than_the_cadence_is_flagged(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    convene(ledger)
    report = {c["community"]: c for c in
              cadence_report(ledger, as_of=date(2025, 4, 4))["communities"]}
    assert (report["ZQ-001"]["days_since"], report["ZQ-001"]["flagged"]) == (30, False)
    assert report["ZQ-002"]["flagged"] is True  # never met since registration on 2025-01-02
    late = cadence_report(ledger, as_of=date(2025, 4, 5))["communities"][0]
    assert (late["days_since"], late["flagged"]) == (31, True)
    # The town moves to a 45-day cadence; the same date is no longer late.
    ledger.execute({"type": "town.set_parameter", **ADMIN, "town": "ZQ",
                    "name": "meeting.four_in_one.cadence_days", "value": 45,
                    "occurred_at": "2025-04-01"})
    again = cadence_report(ledger, as_of=date(2025, 4, 5), community="ZQ-001")["communities"]
    assert [(c["cadence_days"], c["flagged"]) for c in again] == [(45, False)]


def test_the_deliberation_read_model_rebuilds_to_identical_rows(
        ledger: GovernanceLedger) -> None:
    held_meeting(ledger)
    complete(ledger, f"{MARCH}/R1/1", "2025-05-10", by=SECRETARY)
    close(ledger)

    def rows() -> list[Any]:
        ledger.catch_up()
        with ledger.engine.connect() as conn:
            return [conn.execute(sa.select(t).order_by(*t.primary_key.columns)).all()
                    for t in (meetings, items)]

    first = rows()
    ledger.rebuild("deliberation")
    assert rows() == first


# ---------------------------------------------------------------------------- routing
def test_recorded_routing_reproduces_the_decision_from_its_inputs(
        ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    raise_matter(ledger, "ZQ-001-MT-2025-001", {"bodies_to_act": ["department:police",
                                                                  "department:housing"],
                                                "field": "public_order"}, by=LIAISON)
    route(ledger, "ZQ-001-MT-2025-001")
    routed = ledger.history("ZQ-001-MT-2025-001")[1].data
    evaluation = Evaluation.model_validate({k: routed[k] for k in (
        "rule", "parameters", "inputs", "inputs_digest", "decision")})
    assert reproduce(evaluation).model_dump(mode="json") == routed["decision"]
    assert routed["route"] == "party_building_joint_meeting"


def test_a_town_parameter_changes_the_routing_rules_parameters(ledger: GovernanceLedger) -> None:
    setup_town(ledger)
    ledger.execute({"type": "town.set_parameter", **ADMIN, "town": "ZQ",
                    "name": "matter.routing.several_departments_from", "value": 3,
                    "occurred_at": "2025-02-01"})
    raise_matter(ledger, "ZQ-001-MT-2025-001", {"departments_involved": 2, "field": "service"})
    assert route(ledger, "ZQ-001-MT-2025-001") == "four_in_one"
    routed = ledger.history("ZQ-001-MT-2025-001")[1].data
    assert routed["parameters"]["several_departments_from"] == 3


ATTRIBUTES = st.fixed_dictionaries({
    "bodies_to_act": st.lists(st.sampled_from([
        "residents_committee", "owners_committee", "property_firm", "party_org",
        "department:police", "department:housing", "department:urban_management"]),
        max_size=4, unique=True),
    "public_interest_all_residents": st.booleans(),
    "field": st.sampled_from(["management", "building", "service", "public_order", "other"]),
    "departments_involved": st.integers(min_value=0, max_value=4),
    "overlapping_duties": st.booleans(),
})
_numbers = itertools.count(100)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attributes=ATTRIBUTES)
def test_every_combination_of_declared_attributes_is_routed_once_and_the_record_reproduces_it(
        ledger: GovernanceLedger, attributes: dict[str, Any]) -> None:
    if ledger.is_empty():
        setup_town(ledger)
    ref = f"ZQ-001-MT-2025-{next(_numbers):03d}"
    raise_matter(ledger, ref, attributes)
    chosen = route(ledger, ref)
    routed = [e for e in ledger.history(ref) if e.type == "Matter.Routed"]
    assert len(routed) == 1
    data = routed[0].data
    assert chosen == data["route"] == data["decision"]["route"]
    assert chosen in ("four_in_one", "rc_autonomous", "party_building_joint_meeting")
    evaluation = Evaluation.model_validate({k: data[k] for k in (
        "rule", "parameters", "inputs", "inputs_digest", "decision")})
    assert reproduce(evaluation).model_dump(mode="json") == data["decision"]
    (row,) = [m for m in matter_list(ledger) if m["code"] == ref]
    assert (row["route"], row["rule"]) == (chosen, "matter.routing@1")
