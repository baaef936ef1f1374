"""A small world for the owners'-committee and property-firm tests.

Town ZQ with its housing office director (P-0010) and legal counsel (P-0011); community
ZQ-001 Sunny Garden whose party secretary P-0101 also sits on the residents' committee; an
owners' committee ZQ-001/2025 elected with P-0101 as director (a two-committee member serving
concurrently) and P-0201 as member; firms Evergreen Property and Golden Bridge Property.
"""

from __future__ import annotations

from typing import Any

from ledger.application import GovernanceLedger
from ledger.rules.credit_code import make_credit_code
from tests.conftest import ADMIN, bootstrap

HOUSING = {"actor": "P-0010", "post": "town.housing_office.director@ZQ"}
DIRECTOR = {"actor": "P-0101", "post": "owners_committee.director@ZQ-001"}
OC = "ZQ-001/2025"
EVERGREEN = make_credit_code("91310112MA1GB3K2")
GOLDEN = make_credit_code("91310112MA1GC7N4")
CHUNSHEN = make_credit_code("91310112MA1GK9X8")


def run(led: GovernanceLedger, type_: str, who: dict[str, str], at: str, **fields: Any) -> Any:
    """Execute one command with a readable command id."""
    return led.execute({"type": type_, **who, "occurred_at": at, **fields})


def town_and_community(led: GovernanceLedger) -> None:
    """Town ZQ, its housing director and legal counsel, community ZQ-001 and its secretary."""
    bootstrap(led)
    for post, person, name in (("town.housing_office.director@ZQ", "P-0010", "韦娟"),
                               ("town.legal_counsel@ZQ", "P-0011", "秦立新")):
        run(led, "post.appoint", ADMIN, "2025-01-02", target_post=post, person=person,
            person_name=name)
    run(led, "community.register", ADMIN, "2025-01-02", code="ZQ-001", name="阳光花园")
    for post, person, name in (("party_org.secretary@ZQ-001", "P-0101", "李华"),
                               ("residents_committee.member@ZQ-001", "P-0101", "李华")):
        run(led, "post.appoint", ADMIN, "2025-01-03", target_post=post, person=person,
            person_name=name)


def elected_committee(led: GovernanceLedger, *, start: bool = True) -> None:
    """The above, plus committee ZQ-001/2025 formed, nominated, elected (and started)."""
    town_and_community(led)
    run(led, "oc.form_group", HOUSING, "2025-02-01", community="ZQ-001", term="2025",
        group=[{"person": "P-0010", "name": "韦娟", "role": "组长"}],
        temporary_party_org=[{"person": "P-0101", "name": "李华", "role": "书记"}])
    run(led, "oc.nominate", HOUSING, "2025-02-10", oc=OC, person="P-0101", person_name="李华",
        role="director", recommended_by_town=True, recommendation="颛委〔2025〕9号")
    run(led, "oc.nominate", HOUSING, "2025-02-10", oc=OC, person="P-0201", person_name="王建",
        role="member")
    run(led, "oc.nominate", HOUSING, "2025-02-10", oc=OC, person="P-0202", person_name="陈立",
        role="member")
    run(led, "oc.elect", HOUSING, "2025-03-01T16:00", oc=OC,
        assembly_date="2025-03-01T09:00", owners_total=400, owners_voted=273,
        votes={"P-0101": 250, "P-0201": 201, "P-0202": 99},
        elected={"P-0101": "director", "P-0201": "member"})
    if start:
        run(led, "oc.start_term", HOUSING, "2025-03-05", oc=OC)


def firms(led: GovernanceLedger) -> None:
    """Register Evergreen, Golden Bridge and Chunshen."""
    for code, name, head in ((EVERGREEN, "常青物业 (Evergreen Property)", "P-F100"),
                             (GOLDEN, "金桥物业 (Golden Bridge Property)", "P-F200"),
                             (CHUNSHEN, "春申物业 (Chunshen Property)", "P-F900")):
        run(led, "firm.register", HOUSING, "2025-01-20", code=code, name=name, head=head,
            head_name="负责人")


def served_by_evergreen(led: GovernanceLedger) -> None:
    """Committee in office; tender T1 won by Evergreen; contract HT-1 from 2025-05-01."""
    elected_committee(led)
    firms(led)
    run(led, "tender.launch", DIRECTOR, "2025-04-01", oc=OC, tender="T1", title="物业招标")
    run(led, "tender.bid", DIRECTOR, "2025-04-10", oc=OC, tender="T1", firm=EVERGREEN,
        annual_fee="980000.00")
    run(led, "tender.bid", DIRECTOR, "2025-04-11", oc=OC, tender="T1", firm=GOLDEN,
        annual_fee="1015000.50")
    run(led, "tender.award", DIRECTOR, "2025-04-20", oc=OC, tender="T1", firm=EVERGREEN,
        decision="业主大会决议 2025-2")
    run(led, "contract.sign", DIRECTOR, "2025-04-28", oc=OC, contract="HT-1", tender="T1",
        firm=EVERGREEN, start="2025-05-01", end="2027-04-30", annual_fee="980000.00",
        manager="P-M101", manager_name="罗兵")


def evergreen_dismissed(led: GovernanceLedger) -> None:
    """Evergreen dismissed for non-performance on 2025-08-15; new tender T2 open."""
    served_by_evergreen(led)
    run(led, "contract.terminate", DIRECTOR, "2025-08-15", oc=OC, contract="HT-1",
        firm=EVERGREEN, kind="dismissal", effective="2025-08-16",
        reason="连续三个月未履行保洁合同义务", decision="业主大会决议 2025-5")
    run(led, "tender.launch", DIRECTOR, "2025-08-20", oc=OC, tender="T2", title="重新招标")


BANNED_BID = {"type": "tender.bid", **DIRECTOR, "occurred_at": "2025-08-28", "oc": OC,
              "tender": "T2", "firm": EVERGREEN, "annual_fee": "900000.00",
              "command_id": "test-banned-bid"}
