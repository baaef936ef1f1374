"""Only the responsible body's posts, or the meeting's convenor, complete a resolution item
(authority matrix version 2); events of version 1 are judged under version 1 (issue 17, item 6)."""

from __future__ import annotations

import pytest

from ledger.application import GovernanceLedger
from ledger.audit import decision
from ledger.kernel.authority import matrix, version_number
from ledger.kernel.errors import AuthorityError
from tests.conftest import ADMIN, store_snapshot
from tests.owners_world import DIRECTOR, served_by_evergreen

SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}
MANAGER = {"actor": "P-M101", "post": "property_firm.manager@ZQ-001"}
DEMOLITION = {"actor": "P-0601", "post": "department.demolition.liaison@ZQ-001"}
MEETING = "ZQ-001-M-2025-06"


def _meeting_with_two_items(led: GovernanceLedger) -> None:
    """Evergreen serves ZQ-001 (manager P-M101); a four-in-one meeting convened by the party
    secretary gives item 1 to the demolition department and item 2 to the property firm."""
    served_by_evergreen(led)
    led.execute({"type": "post.appoint", **ADMIN, "occurred_at": "2025-05-02",
                 "target_post": DEMOLITION["post"], "person": "P-0601", "person_name": "钱勇"})
    led.execute({"type": "meeting.convene", **SECRETARY, "meeting": MEETING,
                 "kind": "four_in_one", "community": "ZQ-001", "title": "违建整治",
                 "agenda": [{"title": "屋顶违建"}], "occurred_at": "2025-06-03T14:00"})
    led.execute({"type": "resolution.adopt", **SECRETARY, "meeting": MEETING,
                 "title": "违建整治决议", "occurred_at": "2025-06-03T15:00", "items": [
                     {"body": "department:demolition", "task": "拆除屋顶违建",
                      "due": "2025-07-31"},
                     {"body": "property_firm", "task": "清运建筑垃圾", "due": "2025-08-15"}]})


def _complete(led: GovernanceLedger, who: dict[str, str], item: int, when: str) -> None:
    led.execute({"type": "resolution.complete", **who, "item": f"{MEETING}/R1/{item}",
                 "evidence": "现场照片", "occurred_at": when})


def test_the_property_firm_manager_completing_the_demolition_departments_item_is_refused(
        ledger: GovernanceLedger) -> None:
    _meeting_with_two_items(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(AuthorityError, match=(
            "property_firm.manager@ZQ-001 may not complete ZQ-001-M-2025-06/R1/1: its "
            "responsible body is department:demolition; only that body's posts, or the "
            r"meeting's convenor \(P-0101 in party_org.secretary@ZQ-001\), complete it")):
        _complete(ledger, MANAGER, 1, "2025-07-20")
    # Another post of the community without a tie to the item is refused too.
    with pytest.raises(AuthorityError, match="owners_committee.director@ZQ-001 may not"):
        _complete(ledger, DIRECTOR, 1, "2025-07-20")
    assert store_snapshot(ledger) == before


def test_the_responsible_body_and_the_convenor_complete_items(ledger: GovernanceLedger) -> None:
    _meeting_with_two_items(ledger)
    _complete(ledger, DEMOLITION, 1, "2025-07-20")
    _complete(ledger, MANAGER, 2, "2025-08-10")
    done = [e for e in ledger.history(MEETING) if e.type == "Meeting.ItemCompleted"]
    assert [e.envelope["actor"] for e in done] == ["P-0601", "P-M101"]
    assert done[0].envelope["authority"].startswith("authority@2+")


def test_the_convenor_may_record_an_item_on_the_bodys_behalf(ledger: GovernanceLedger) -> None:
    _meeting_with_two_items(ledger)
    _complete(ledger, SECRETARY, 1, "2025-07-20")
    position = ledger.history(MEETING)[-1].position
    audit = decision(ledger, position)
    assert audit["authority_restrictions"] == ["responsible_body_or_convenor"]


def test_an_event_checked_under_version_1_is_judged_without_the_new_restriction() -> None:
    entry = matrix().entry_for("resolution.complete")
    assert entry is not None
    assert entry.restrictions("authority@1+0123456789ab") == ()
    assert entry.restrictions("authority@2+0123456789ab") == ("responsible_body_or_convenor",)
    assert entry.restrictions() == ("responsible_body_or_convenor",)
    assert version_number("authority@1+abc") == 1
    assert version_number(matrix().version) == 2
    assert version_number(None) == 1
