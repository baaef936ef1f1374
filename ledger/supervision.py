"""Automatic supervision as a service: find a town's overdue work, plan the escalations of
``case.supervision@1`` without writing, and run them as one ``supervision.run`` command.

``ledger supervise [--as-of]`` calls :func:`run` (from cron, or from ``ledger serve
--supervise-every``). It is idempotent: escalations already recorded are not repeated, and a
run with nothing to escalate writes nothing at all (not even a command-log row).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.aggregates.base import LedgerAggregate
from ledger.aggregates.town import Town
from ledger.handlers.supervision import SUPERVISION_RULE, decide
from ledger.kernel.config import local_day, localize, now
from ledger.kernel.errors import TownNotFoundError
from ledger.kernel.i18n import _

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger


def _in_town(key: str, town: str) -> bool:
    return key.split("-", 1)[0] == town


def candidate_targets(ledger: GovernanceLedger, town: str, when: datetime,
                      ) -> list[dict[str, str]]:
    """Work of *town* past its due date at *when*, from the boards: cases, warnings with a
    measure missed, resolution items overdue."""
    from ledger.projections.cases import case_board, warning_board
    from ledger.projections.deliberation import resolution_items

    out: list[dict[str, str]] = []
    for c in case_board(ledger, overdue=True, as_of=when)["cases"]:
        if _in_town(c["ref"], town):
            out.append({"kind": "case", "key": c["ref"]})
    for w in warning_board(ledger, as_of=when)["warnings"]:
        if _in_town(w["key"], town) and any(m["status"] == "missed" for m in w["measures"]):
            out.append({"kind": "measure", "key": w["key"]})
    for it in resolution_items(ledger, overdue=True, as_of=local_day(when))["items"]:
        if _in_town(it["ref"], town):
            out.append({"kind": "resolution_item", "key": it["ref"]})
    return out


def plan(ledger: GovernanceLedger, town: str, when: datetime | None = None) -> dict[str, Any]:
    """What a run at *when* (default now) would escalate, and the rule's parameters and
    inputs; nothing is written."""
    at = localize(when) if when is not None else now()
    town_agg = ledger.load(Town.id_for(town))
    if not isinstance(town_agg, Town):
        raise TownNotFoundError(_("town {town!r} does not exist").format(town=town))
    targets = candidate_targets(ledger, town, at)

    def find(cls: type[LedgerAggregate], key: str) -> LedgerAggregate | None:
        agg = ledger.load(cls.id_for(key))
        return agg if isinstance(agg, cls) else None

    params, inputs, decision = decide(find, town, town_agg.parameters, local_day(at), targets)
    escalations = [e.model_dump(mode="json") for e in decision.escalations]
    chosen = sorted({(e["kind"], e["key"]) for e in escalations})
    return {"town": town, "as_of": local_day(at).isoformat(), "at": at.isoformat(),
            "rule": SUPERVISION_RULE, "parameters": params.model_dump(mode="json"),
            "looked_at": len(inputs.items), "escalations": escalations,
            "targets": [{"kind": k, "key": key} for k, key in chosen]}


def run(ledger: GovernanceLedger, town: str, when: datetime | None = None, *,
        actor: str = "system:rules", post: str | None = None) -> dict[str, Any]:
    """Plan, and when there is something to escalate, record it in one command whose id is
    derived from the plan (a repeated identical run is a duplicate). Returns the plan with
    ``written`` and, if written, the command's result."""
    p = plan(ledger, town, when)
    if not p["escalations"]:
        return {**p, "written": False}
    digest = hashlib.sha256(json.dumps(p["escalations"], sort_keys=True).encode()).hexdigest()
    command = {
        "type": "supervision.run", "actor": actor, "post": post, "town": town,
        "as_of": p["as_of"], "targets": p["targets"], "occurred_at": p["at"],
        "basis": SUPERVISION_RULE,
        "command_id": f"supervision-{town}-{p['as_of']}-{digest[:16]}"}
    result = ledger.execute({k: v for k, v in command.items() if v is not None})
    return {**p, "written": result.outcome == "accepted", "result": result.model_dump(mode="json")}


class Scheduler:
    """Runs :func:`run` for each town every *every_seconds*, on a daemon thread, as
    ``system:rules`` (``ledger serve --supervise-every``). Each tick is idempotent, so a tick
    that overlaps a cron run or a restart does no harm."""

    def __init__(self, ledger: GovernanceLedger, towns: list[str], every_seconds: float) -> None:
        import threading

        self.ledger = ledger
        self.towns = list(towns)
        self.every = every_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ledger-supervision",
                                       daemon=True)
        self.runs: list[dict[str, Any]] = []
        """What each tick did (town, as_of, escalations, written), most recent last."""

    def tick(self) -> list[dict[str, Any]]:
        """One round over every town; errors are logged and do not stop the scheduler."""
        import structlog

        log = structlog.get_logger("ledger.supervision")
        done = []
        for town in self.towns:
            try:
                result = run(self.ledger, town)
            except Exception as e:  # noqa: BLE001 - a scheduler must keep running
                log.warning("supervision run failed", town=town, error=str(e))
                continue
            summary = {"town": town, "as_of": result["as_of"],
                       "escalations": len(result["escalations"]),
                       "written": result["written"]}
            log.info("supervision run", **summary)
            done.append(summary)
        self.runs = (self.runs + done)[-100:]
        return done

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.tick()
            self.stopped.wait(self.every)

    def start(self) -> None:
        """Start ticking (the first tick at once)."""
        self.thread.start()

    def stop(self) -> None:
        """Stop after the current tick."""
        self.stopped.set()
