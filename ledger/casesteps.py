"""What can happen next to a case: the steps its lifecycle allows now, under the town's
parameters (``ledger case next REF``), and its handling cycles.

A query: it reads the case and its town from the store and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.aggregates.case import (
    CALLBACK_STEP,
    DEFAULT_RETURN_WINDOW,
    RETURN_WINDOW,
    Case,
    CaseNotFoundError,
    callback_step,
    transitions_for,
)
from ledger.aggregates.town import Town
from ledger.kernel.config import now
from ledger.kernel.i18n import _
from ledger.kernel.workdays import calendar_of

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger


def case_next(ledger: GovernanceLedger, ref: str, when: datetime | None = None,
              ) -> dict[str, Any]:
    """The case *ref*'s state and the steps allowed at *when* (default now), each with the
    state it leads to; the town's callback step, return window and calendar; the cycles."""
    case = ledger.load(Case.id_for(ref))
    if not isinstance(case, Case):
        raise CaseNotFoundError(_("case {ref!r} does not exist").format(ref=ref))
    town = ledger.load(Town.id_for(case.town))
    params: dict[str, Any] = dict(town.parameters) if isinstance(town, Town) else {}
    at = when or now()
    table = transitions_for(params)
    steps = [{"command": c, "to": table[(case.status, c)]}
             for c in case.allowed_steps(params, at)]
    for s in steps:  # the outcome that depends on the case, not the table
        if s["command"] == "callback" and case.status == "verified":
            s["to"] = "verified (satisfied) / rectifying (dissatisfied)"
    return {
        "case": case.code, "status": case.status, "since": case.status_since, "due": case.due,
        "calendar": case.calendar, "town_calendar": calendar_of(params).label,
        "cycle": getattr(case, "cycle", 1), "cycles": list(getattr(case, "cycles", [])),
        "callback_step": callback_step(params), "callback_parameter": CALLBACK_STEP,
        "return_window_days": int(params.get(RETURN_WINDOW, DEFAULT_RETURN_WINDOW)),
        "as_of": at.isoformat(), "next": steps,
    }
