from ledger.application import GovernanceLedger
from tests.conftest import store_snapshot, sunny_garden


def test_sunny_garden_has_a_secretary(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    status = ledger.status("ZQ-001")
    posts = {p["post"]: p["person"] for p in status["communities"][0]["posts"]}
    assert posts["party_org.secretary@ZQ-001"] == "P-0101"
    assert store_snapshot(ledger)[0] == 5
