"""The audit index: one row per event with who did it, in which post, under which command.

Answers "everything this person did" without scanning the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Index, Integer, String, Table

from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.status import utc_key

actions = Table(
    "rm_audit_actions", metadata,
    Column("position", ID, primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("post", String(200)),
    Column("command", String(64)),
    Column("command_id", String(128)),
    Column("type", String(100), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("occurred_at", String(40)),
    Column("occurred_utc", String(26)),
    Column("recorded_at", String(40), nullable=False),
    Index("rm_audit_actions_actor", "actor", "occurred_utc"),
)

#: How each event was signed: the key id, or ``unsigned`` (accepted in the unsigned mode),
#: ``system`` (bootstrap, rule outcomes) or ``earlier release`` (before commands were signed).
#: A table of its own so that ledgers of earlier releases gain it on their next rebuild.
signed_by = Table(
    "rm_audit_signed_by", metadata,
    Column("position", ID, primary_key=True),
    Column("signed_by", String(64), nullable=False),
)


def signed_by_of(envelope: dict[str, object]) -> str:
    """How the event with *envelope* was signed (see :data:`signed_by`)."""
    sig = envelope.get("signature")
    if not isinstance(sig, dict):
        return "earlier release"
    if "key_id" in sig:
        return str(sig["key_id"])
    return "system" if sig.get("unsigned") == "system" else "unsigned"


@projection
class AuditProjection(Projection):
    """Who did what, indexed by actor and business time."""

    name = "audit"
    rebuild_cost = 1.83
    schema_version = 2
    tables = (actions, signed_by)

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        # Every event comes here: rows go out as tuples (table column order), no dictionaries.
        env = event.envelope
        get = env.get
        occurred = get("occurred_at")
        position = event.position
        agg = _AGG.get(event.aggregate_id)
        if agg is None:
            if len(_AGG) > 50_000:
                _AGG.clear()
            agg = _AGG[event.aggregate_id] = str(event.aggregate_id)
        self.appender(actions, _ACTION_COLUMNS).add((
            position, get("actor") or "", get("post"), get("command"), get("command_id"),
            event.type, agg, event.version, occurred,
            utc_key(occurred) if occurred else None, event.recorded_iso))
        self.appender(signed_by, _SIGNED_COLUMNS).add((position, signed_by_of(env)))


#: Aggregate ids as text (a log has far fewer aggregates than events).
_AGG: dict[Any, str] = {}


_ACTION_COLUMNS = tuple(c.name for c in actions.columns)
_SIGNED_COLUMNS = tuple(c.name for c in signed_by.columns)
