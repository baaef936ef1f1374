"""Property: an amount recorded through a command comes back from the store digit for digit."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import GovernanceLedger
from ledger.projections.owners import ocs
from tests.owners_world import DIRECTOR, OC, elected_committee, run

#: Amounts of money: zero up to just under 10**15 yuan, with 0, 1 or 2 decimal places.
amounts = st.one_of(
    st.decimals(min_value=0, max_value=Decimal("999999999999999.99"), places=2,
                allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**15 - 1).map(Decimal),
    st.decimals(min_value=0, max_value=Decimal("99999999999999.9"), places=1,
                allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=amounts, as_text=st.booleans())
def test_amounts_never_lose_precision_through_the_store_and_back(
        tmp_path: Path, amount: Decimal, as_text: bool) -> None:
    led = _ledger(tmp_path)
    n = next(_numbers)
    given_as = f"{amount:f}" if as_text or amount != amount.to_integral_value() else int(amount)
    # The text stored is the text given (an integer is stored as its digits).
    text = given_as if isinstance(given_as, str) else str(given_as)
    result = run(led, "oc.record_revenue", DIRECTOR, "2025-06-01", oc=OC, amount=given_as,
                 source=f"example {n}", decision="决议", command_id=f"prop-{n}")
    assert result.detail["amount"] == text
    # The event as stored, decoded again from the database.
    [event] = [e for e in led.history(OC) if e.position == result.positions[0]]
    assert event.data["amount"] == text
    assert Decimal(event.data["amount"]) == amount
    # The read model, caught up from the log.
    revenue = next(r for r in ocs(led, "ZQ-001")[0]["revenues"]
                   if r["source"] == f"example {n}")
    assert Decimal(revenue["amount"]) == amount
    assert revenue["amount"] == text


_numbers = count()
_ledgers: dict[Path, GovernanceLedger] = {}


def _ledger(tmp_path: Path) -> GovernanceLedger:
    """One SQLite ledger for all examples of the run (each example adds one record)."""
    if tmp_path not in _ledgers:
        for led in _ledgers.values():
            led.close()
        _ledgers.clear()
        led = GovernanceLedger(f"sqlite:///{tmp_path / 'amounts.db'}")
        elected_committee(led)
        _ledgers[tmp_path] = led
    return _ledgers[tmp_path]
