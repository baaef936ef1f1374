"""The audit index: one row per event with who did it, in which post, under which command.

Answers "everything this person did" without scanning the log.
"""

from __future__ import annotations

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
    schema_version = 2
    tables = (actions, signed_by)

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        env = event.envelope
        occurred = env.get("occurred_at")
        self.buffer(actions).insert({
            "position": event.position, "actor": env.get("actor") or "", "post": env.get("post"),
            "command": env.get("command"), "command_id": env.get("command_id"),
            "type": event.type, "aggregate_id": str(event.aggregate_id),
            "version": event.version, "occurred_at": occurred,
            "occurred_utc": utc_key(occurred) if occurred else None,
            "recorded_at": event.recorded_at.isoformat(),
        })
        self.buffer(signed_by).insert({"position": event.position,
                                       "signed_by": signed_by_of(env)})
