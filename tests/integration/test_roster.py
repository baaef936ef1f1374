"""The roster on both stores: appointments, refusals that change nothing, the past, rebuilds."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from ledger.application import CommandIdReusedError, GovernanceLedger
from ledger.kernel.errors import (
    AuthorityError,
    BootstrapRefusedError,
    CommandValidationError,
    CommunityNotFoundError,
    ElectionRequiredError,
    InvalidPostError,
    LedgerError,
    PostNotHeldError,
    PostOccupiedError,
    UnknownCommandTypeError,
)
from ledger.projections.status import communities, departments, post_terms, towns
from tests.conftest import ADMIN, store_snapshot, sunny_garden

SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}


def appoint(post: str, person: str, name: str, when: str, by: dict[str, str] = ADMIN,
            **extra: Any) -> dict[str, Any]:
    return {"type": "post.appoint", **by, "target_post": post, "person": person,
            "person_name": name, "occurred_at": when, **extra}


BAD_COMMANDS: list[tuple[str, dict[str, Any], type[LedgerError], str]] = [
    ("unknown type", {**appoint("building_leader@ZQ-001/B1", "P-0150", "赵", "2025-02-01"),
                      "type": "post.promote"}, UnknownCommandTypeError, "post.promote"),
    ("missing field", {k: v for k, v in appoint("building_leader@ZQ-001/B1", "P-0150", "赵",
                                                "2025-02-01").items() if k != "person"},
     CommandValidationError, "field 'person'"),
    ("mistyped field", appoint("building_leader@ZQ-001/B1", "P-0150", ["赵"], "2025-02-01"),  # type: ignore[arg-type]
     CommandValidationError, "field 'person_name'"),
    ("impossible date", appoint("building_leader@ZQ-001/B1", "P-0150", "赵", "2025-02-30"),
     CommandValidationError, "occurred_at"),
    ("unknown community", appoint("building_leader@ZQ-009/B1", "P-0150", "赵", "2025-02-01"),
     CommunityNotFoundError, "ZQ-009"),
    ("post that does not exist", appoint("party_org.treasurer@ZQ-001", "P-0150", "赵",
                                         "2025-02-01"), InvalidPostError, "does not exist"),
    ("actor not holding the claimed post then",
     appoint("building_leader@ZQ-001/B1", "P-0150", "赵", "2025-01-02", by=SECRETARY),
     PostNotHeldError, "P-0101 did not hold party_org.secretary@ZQ-001 at 2025-01-02"),
    ("post without authority for the command",
     appoint("party_org.member@ZQ-001", "P-0150", "赵", "2025-02-01", by=SECRETARY),
     AuthorityError, "has no authority for post.appoint/party_org.member"),
    ("single-holder post already held",
     appoint("party_org.secretary@ZQ-001", "P-0150", "赵", "2025-02-01"),
     PostOccupiedError, "held by P-0101"),
    ("owners'-committee post without an election",
     appoint("owners_committee.director@ZQ-001", "P-0150", "赵", "2025-02-01"),
     ElectionRequiredError, "only through an election"),
    ("missing acting post", {k: v for k, v in appoint("building_leader@ZQ-001/B1", "P-0150",
                                                      "赵", "2025-02-01").items() if k != "post"},
     CommandValidationError, "field 'post': required"),
    ("system actor for a person's command",
     appoint("building_leader@ZQ-001/B1", "P-0150", "赵", "2025-02-01",
             by={"actor": "system:bootstrap"}), AuthorityError, "system actors only"),
]


@pytest.mark.parametrize(("what", "command", "error", "message"), BAD_COMMANDS,
                         ids=[b[0] for b in BAD_COMMANDS])
def test_bad_command_is_refused_with_a_clear_error_and_changes_nothing(
        ledger: GovernanceLedger, what: str, command: dict[str, Any],
        error: type[LedgerError], message: str) -> None:
    sunny_garden(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(error, match=message.replace("(", r"\(")) as info:
        ledger.execute(command)
    assert "\n" not in str(info.value)
    assert store_snapshot(ledger) == before


def test_secretary_appoints_a_building_leader(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    result = ledger.execute(appoint("building_leader@ZQ-001/B12", "P-0150", "赵强",
                                    "2025-02-01", by=SECRETARY))
    assert result.outcome == "accepted"
    assert result.events == ["Community.PostAppointed"]
    posts = {p["post"]: p["person"] for p in ledger.roster("ZQ-001")["posts"]}
    assert posts["building_leader@ZQ-001/B12"] == "P-0150"


def test_roster_as_of_a_past_date_shows_who_held_each_post_including_someone_since_vacated(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    # A building leader serves from February to June, then moves away and is replaced.
    ledger.execute(appoint("building_leader@ZQ-001/B2", "P-0150", "赵强", "2025-02-01",
                           by=SECRETARY))
    ledger.execute({"type": "post.vacate", **SECRETARY, "target_post": "building_leader@ZQ-001/B2",
                    "person": "P-0150", "occurred_at": "2025-06-30", "reason": "搬离"})
    ledger.execute(appoint("building_leader@ZQ-001/B2", "P-0151", "钱芳", "2025-07-01",
                           by=SECRETARY))
    from ledger.kernel.command import parse_command
    march = parse_command({**appoint("building_leader@ZQ-001/B2", "x", "x", "2025-03-01")}).occurred_at
    then = {p["post"]: p for p in ledger.roster("ZQ-001", march)["posts"]}
    assert then["building_leader@ZQ-001/B2"]["person"] == "P-0150"
    assert then["building_leader@ZQ-001/B2"]["effective_to"].startswith("2025-06-30")
    now = {p["post"]: p["person"] for p in ledger.roster("ZQ-001")["posts"]}
    assert now["building_leader@ZQ-001/B2"] == "P-0151"


def test_authority_is_checked_against_the_roster_as_it_was_at_occurred_at(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.execute({"type": "post.vacate", **ADMIN, "target_post": "party_org.secretary@ZQ-001",
                    "person": "P-0101", "occurred_at": "2025-05-01", "reason": "退休"})
    # Acting in May as the former secretary is refused; backdated to April it is accepted.
    with pytest.raises(PostNotHeldError):
        ledger.execute(appoint("building_leader@ZQ-001/B1", "P-0150", "赵强", "2025-05-02",
                               by=SECRETARY))
    ok = ledger.execute(appoint("building_leader@ZQ-001/B1", "P-0150", "赵强", "2025-04-02",
                                by=SECRETARY))
    assert ok.outcome == "accepted"


def test_concurrent_posts_are_normal_and_visible(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.execute(appoint("party_org.deputy_secretary@ZQ-001", "P-0102", "张敏", "2025-01-04"))
    posts = {p["post"]: p for p in ledger.roster("ZQ-001")["posts"]}
    assert posts["residents_committee.director@ZQ-001"]["also_holds"] == [
        "party_org.deputy_secretary@ZQ-001"]


def test_history_shows_actor_post_basis_occurred_at_and_recorded_time(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.execute(appoint("building_leader@ZQ-001/B1", "P-0150", "赵强", "2025-02-01",
                           by=SECRETARY, basis="党总支会议纪要 2025-01"))
    events = ledger.history("ZQ-001")
    assert [e.type for e in events] == ["Community.Registered", "Community.PostAppointed",
                                        "Community.PostAppointed", "Community.PostAppointed"]
    last = events[-1]
    assert last.envelope["actor"] == "P-0101"
    assert last.envelope["post"] == "party_org.secretary@ZQ-001"
    assert last.envelope["basis"] == "党总支会议纪要 2025-01"
    assert last.envelope["occurred_at"] == "2025-02-01T00:00:00+08:00"
    assert last.envelope["authority"].startswith("authority@")
    assert last.recorded_at.tzinfo is not None
    assert [e.version for e in events] == [1, 2, 3, 4]


def test_repeated_command_id_writes_nothing_and_returns_the_first_result(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    cmd = appoint("building_leader@ZQ-001/B1", "P-0150", "赵强", "2025-02-01", by=SECRETARY,
                  command_id="cmd-b1")
    first = ledger.execute(cmd)
    before = store_snapshot(ledger)
    again = ledger.execute(cmd)
    assert again.outcome == "duplicate"
    assert again.positions == first.positions
    assert store_snapshot(ledger) == before


def test_command_id_reused_for_a_different_command_is_refused(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.execute(appoint("building_leader@ZQ-001/B1", "P-0150", "赵强", "2025-02-01",
                           by=SECRETARY, command_id="cmd-b1"))
    before = store_snapshot(ledger)
    with pytest.raises(CommandIdReusedError, match="cmd-b1"):
        ledger.execute(appoint("building_leader@ZQ-001/B2", "P-0151", "钱芳", "2025-02-01",
                               by=SECRETARY, command_id="cmd-b1"))
    assert store_snapshot(ledger) == before


def test_second_bootstrap_is_refused(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(BootstrapRefusedError, match="already holds events"):
        ledger.execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "XY",
                        "name": "某镇", "admin": "P-9", "admin_name": "某"})
    assert store_snapshot(ledger) == before


def test_dry_run_checks_each_line_against_the_ones_before_and_writes_nothing(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    before = store_snapshot(ledger)
    lines = [
        '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
        '"code":"ZQ-002","name":"银杏苑","occurred_at":"2025-02-01"}',
        '{"type":"post.appoint","actor":"P-0001","post":"town.ledger_admin@ZQ",'
        '"target_post":"party_org.secretary@ZQ-002","person":"P-0201","person_name":"周",'
        '"occurred_at":"2025-02-02"}',
        '{"type":"post.appoint","actor":"P-0001","post":"town.ledger_admin@ZQ",'
        '"target_post":"party_org.secretary@ZQ-002","person":"P-0202","person_name":"吴",'
        '"occurred_at":"2025-02-03"}',
    ]
    outcomes = list(ledger.apply(lines, dry_run=True, keep_going=True))
    assert [o.ok for o in outcomes] == [True, True, False]
    assert isinstance(outcomes[2].error, PostOccupiedError)
    assert store_snapshot(ledger) == before


def test_apply_keep_going_reports_every_bad_line_and_applies_the_good_ones(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    lines = [
        '{"type":"nope","actor":"P-0001"}',
        "",
        '{"type":"community.register","actor":"P-0001","post":"town.ledger_admin@ZQ",'
        '"code":"ZQ-002","name":"银杏苑"}',
        "not json",
    ]
    outcomes = list(ledger.apply(lines, keep_going=True))
    assert [(o.line, o.ok) for o in outcomes] == [(1, False), (3, True), (4, False)]


def _rows(ledger: GovernanceLedger) -> list[list[tuple[Any, ...]]]:
    out = []
    with ledger.engine.connect() as conn:
        for table in (towns, departments, communities, post_terms):
            rows = conn.execute(sa.select(table)).all()
            out.append(sorted(tuple(r) for r in rows))
    return out


def test_rebuilding_projections_from_zero_gives_identical_rows(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.execute(appoint("building_leader@ZQ-001/B2", "P-0150", "赵强", "2025-02-01",
                           by=SECRETARY))
    ledger.execute({"type": "post.vacate", **SECRETARY, "target_post": "building_leader@ZQ-001/B2",
                    "person": "P-0150", "occurred_at": "2025-06-30", "reason": "搬离"})
    ledger.execute({"type": "town.add_department", **ADMIN, "town": "ZQ", "code": "fire",
                    "name": "消防救援站"})
    ledger.status()
    incremental = _rows(ledger)
    counts = ledger.rebuild()
    assert counts["status"] == store_snapshot(ledger)[0]
    assert _rows(ledger) == incremental
    assert incremental[3]  # terms exist


def test_a_second_town_is_registered_by_a_ledger_administrator(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.execute({"type": "town.register", **ADMIN, "code": "MH", "name": "梅陇镇",
                    "admin": "P-9001", "admin_name": "周明"})
    ledger.execute({"type": "community.register", "actor": "P-9001",
                    "post": "town.ledger_admin@MH", "code": "MH-001", "name": "梅陇新村"})
    assert [c["code"] for c in ledger.status()["communities"]] == ["MH-001", "ZQ-001"]
    before = store_snapshot(ledger)
    with pytest.raises(AuthorityError):
        ledger.execute({"type": "town.register", **SECRETARY, "code": "XY", "name": "某镇",
                        "admin": "P-9", "admin_name": "某"})
    assert store_snapshot(ledger) == before
