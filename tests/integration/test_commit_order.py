"""PostgreSQL: ids become visible in id order, so a log reader never skips a late commit."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from ledger.application import GovernanceLedger
from tests.conftest import ADMIN, pg_schema_url, sunny_garden


@pytest.mark.postgres
def test_a_writer_holding_its_transaction_makes_the_next_writer_wait_for_its_ids(
        pg_database: str) -> None:
    """Writer A takes an id and dawdles before COMMIT; writer B (another aggregate, another
    connection) cannot take a later id until A has committed. Without the table lock B would
    commit first and a reader at B's id would have skipped A's."""
    url = pg_schema_url(pg_database, f"t_{uuid.uuid4().hex[:12]}")
    slow, fast = GovernanceLedger(url), GovernanceLedger(url)
    try:
        sunny_garden(slow)
        slow.execute({"type": "community.register", **ADMIN, "code": "ZQ-002",
                      "name": "春申小区", "occurred_at": "2025-01-02"})
        committed: dict[str, float] = {}

        run = slow._run

        def _dawdle(*args: Any, **kwargs: Any) -> Any:
            # A has inserted its events and holds its transaction open before COMMIT.
            out = run(*args, **kwargs)
            time.sleep(0.8)
            committed["a"] = time.monotonic()
            return out

        slow._run = _dawdle  # type: ignore[method-assign]

        def appoint(led: GovernanceLedger, community: str, out: dict[str, Any]) -> None:
            out["result"] = led.execute({
                "type": "post.appoint", **ADMIN, "target_post": f"building_leader@{community}/B1",
                "person": "P-0150", "person_name": "周强", "occurred_at": "2025-02-01"})
            out["done"] = time.monotonic()

        a: dict[str, Any] = {}
        b: dict[str, Any] = {}
        ta = threading.Thread(target=appoint, args=(slow, "ZQ-001", a))
        ta.start()
        time.sleep(0.3)  # A holds its ids (and the lock) now
        appoint(fast, "ZQ-002", b)
        ta.join()
        assert b["result"].positions[0] > a["result"].positions[-1]
        assert b["done"] >= committed["a"]  # B could not commit before A
    finally:
        slow.close()
        fast.close()
