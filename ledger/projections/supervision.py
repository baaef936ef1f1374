"""Escalations by automatic supervision (``case.supervision@1``): one row per escalation of a
case step, a warning measure or a resolution item, for the boards and the escalation list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Index, Integer, String, Table, Text, select

from ledger.kernel.config import now
from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.status import utc_key
from ledger.rules.supervision import LADDER

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

escalations = Table(
    "rm_escalations", metadata,
    Column("position", ID, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("key", String(200), nullable=False),
    Column("step", String(200), nullable=False),
    Column("town", String(32), nullable=False),
    Column("community", String(32)),
    Column("level", String(16), nullable=False),
    Column("previous_level", String(16), nullable=False),
    Column("due", String(10), nullable=False),
    Column("days_overdue", Integer(), nullable=False),
    Column("reason_zh", Text(), nullable=False),
    Column("reason_en", Text(), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("occurred_utc", String(26), nullable=False),
    Column("actor", String(64)),
    Column("command_id", String(128)),
    Index("rm_escalations_key", "kind", "key"),
)


@projection
class SupervisionProjection(Projection):
    """Every escalation, with the item, the level, the days overdue and the reason."""

    name = "supervision"
    rebuild_cost = 0.05
    schema_version = 1
    tables = (escalations,)
    topics = frozenset({"Case.Escalated", "CommunityWarning.MeasureEscalated",
                        "Meeting.ItemEscalated"})

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        [item] = d["rule"]["inputs"]["items"]
        occurred = env.get("occurred_at", "")
        self.buffer(escalations).insert({
            "position": event.position, "kind": item["kind"], "key": item["key"],
            "step": item["step"], "town": d["rule"]["inputs"]["town"],
            "community": item.get("community"), "level": d["level"],
            "previous_level": d["previous_level"], "due": d["due"],
            "days_overdue": d["days_overdue"], "reason_zh": d["reason"]["zh"],
            "reason_en": d["reason"]["en"], "occurred_at": occurred,
            "occurred_utc": utc_key(occurred), "actor": env.get("actor"),
            "command_id": env.get("command_id")})


def escalation_list(ledger: GovernanceLedger, *, town: str | None = None,
                    community: str | None = None, kind: str | None = None,
                    as_of: datetime | None = None) -> dict[str, Any]:
    """Escalations recorded up to *as_of* (default now), oldest first."""
    ledger.catch_up("supervision")
    when = as_of or now()
    q = select(escalations).where(escalations.c.occurred_utc <= utc_key(when)).order_by(
        escalations.c.position)
    if town:
        q = q.where(escalations.c.town == town)
    if community:
        q = q.where(escalations.c.community == community)
    if kind:
        q = q.where(escalations.c.kind == kind)
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q).all()]
    for r in rows:
        r.pop("occurred_utc", None)
    counts = {level: sum(1 for r in rows if r["level"] == level) for level in LADDER[1:]}
    return {"as_of": when.isoformat(), "escalations": rows, "counts": counts}


def levels(ledger: GovernanceLedger, kind: str, at_utc: str) -> dict[tuple[str, str], str]:
    """(key, step) → the highest level recorded by *at_utc*, for one kind of item."""
    ledger.catch_up("supervision")
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(escalations.c.key, escalations.c.step, escalations.c.level)
                            .where(escalations.c.kind == kind)
                            .where(escalations.c.occurred_utc <= at_utc)).all()
    out: dict[tuple[str, str], str] = {}
    for key, step, level in rows:
        if LADDER.index(level) > LADDER.index(out.get((key, step), "none")):
            out[(key, step)] = level
    return out
