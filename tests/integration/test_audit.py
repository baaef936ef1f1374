"""Auditors' queries and the append-only guard, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ledger import audit
from ledger.application import GovernanceLedger
from tests.conftest import store_snapshot, sunny_garden

SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}


def _building_leader(ledger: GovernanceLedger) -> int:
    result = ledger.execute({"type": "post.appoint", **SECRETARY,
                             "target_post": "building_leader@ZQ-001/B1", "person": "P-0150",
                             "person_name": "赵强", "occurred_at": "2025-02-01",
                             "basis": "党总支会议纪要 2025-01"})
    return result.positions[0]


def test_decision_traces_the_actor_post_and_appointments_back_to_the_bootstrap(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    position = _building_leader(ledger)
    d = audit.decision(ledger, position)
    assert (d["actor"], d["post"], d["body"], d["basis"]) == (
        "P-0101", "party_org.secretary@ZQ-001", "party_org", "党总支会议纪要 2025-01")
    chain = d["authority_chain"]
    assert [(c["person"], c["post"], c["appointed_by"]) for c in chain] == [
        ("P-0101", "party_org.secretary@ZQ-001", "P-0001"),
        ("P-0001", "town.ledger_admin@ZQ", "system:bootstrap"),
    ]
    assert audit.decision(ledger, "ZQ-001@4")["event"]["position"] == position


def test_actor_lists_everything_a_person_did_in_which_post(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    _building_leader(ledger)
    did = audit.actor_actions(ledger, "P-0001")
    assert [a["command"] for a in did] == ["community.register", "post.appoint", "post.appoint"]
    assert {a["post"] for a in did} == {"town.ledger_admin@ZQ"}
    feb = audit.actor_actions(ledger, "P-0101",
                              start=datetime(2025, 1, 31, tzinfo=UTC),
                              end=datetime(2025, 2, 2, tzinfo=UTC))
    assert [a["type"] for a in feb] == ["Community.PostAppointed"]


def test_history_as_of_shows_what_the_ledger_knew_then(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    between = datetime.now(UTC)
    _building_leader(ledger)
    then = audit.as_of(ledger, "ZQ-001", between)
    assert then["later_events"] == 1
    assert "building_leader@ZQ-001/B1" not in then["state"]["terms"]
    by_business_time = audit.as_of(ledger, "ZQ-001", datetime(2025, 1, 2, 12, tzinfo=UTC),
                                   effective=True)
    assert [e["type"] for e in by_business_time["events"]] == ["Community.Registered"]


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_events SET topic = 'x'",
    "DELETE FROM ledger_events",
])
def test_events_cannot_be_updated_or_deleted_at_the_database(ledger: GovernanceLedger,
                                                             statement: str) -> None:
    sunny_garden(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert store_snapshot(ledger) == before
