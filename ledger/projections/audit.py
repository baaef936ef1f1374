"""The audit index: one row per event with who did it and when (business time, as a UTC key).

Answers "everything this person did" without scanning the log: the index finds the person's
events, in order, and the events themselves (read by position) say in which post, under which
command, signed by whom (:func:`ledger.audit.actor_actions`). The index keeps nothing else:
what the log holds is read from the log, so that the index, built for every event of the
ledger, stays small and quick to rebuild.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Index, String, Table

from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.status import _utc_key_of_text, utc_key

actions = Table(
    "rm_audit_actions", metadata,
    Column("position", ID, primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("occurred_utc", String(26)),
    Index("rm_audit_actions_actor", "actor", "occurred_utc"),
)


def signed_by_of(envelope: dict[str, object]) -> str:
    """How the event with *envelope* was signed: the key id, or ``unsigned`` (accepted in the
    unsigned mode), ``system`` (bootstrap, rule outcomes) or ``earlier release`` (before
    commands were signed)."""
    sig = envelope.get("signature")
    if not isinstance(sig, dict):
        return "earlier release"
    if "key_id" in sig:
        return str(sig["key_id"])
    return "system" if sig.get("unsigned") == "system" else "unsigned"


@projection
class AuditProjection(Projection):
    """Who did what, indexed by actor and business time.

    Schema version 2 also copied each event's post, command, command id, type, aggregate, version,
    times and (in ``rm_audit_signed_by``) its signer out of the log: about 310 bytes an event,
    most of the cost of a rebuild. Version 3 reads those from the log when asked.
    """

    name = "audit"
    rebuild_cost = 0.84
    schema_version = 3
    tables = (actions,)
    retired_tables = ("rm_audit_signed_by",)
    in_sql = True

    def apply_range(self, conn: Connection, source: str, after: int, upto: int) -> None:
        # The same rows as ``apply`` (tests/integration/test_audit_sql.py compares them), made
        # inside the database from the stored JSON: no event reaches Python.
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(_PG_SQL.format(source=source), (after, upto))
            return
        raw: Any = conn.connection.driver_connection
        raw.create_function("ledger_utc_key", 1, _utc_key_or_none, deterministic=True)
        conn.exec_driver_sql(_SQLITE_SQL.format(source=source), (after, upto))

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        # Every event comes here: rows go out as tuples (table column order), no dictionaries.
        get = event.envelope.get
        occurred = get("occurred_at")
        self.appender(actions, _ACTION_COLUMNS).add((
            event.position, get("actor") or "", utc_key(occurred) if occurred else None))


def _utc_key_or_none(value: Any) -> str | None:
    return _utc_key_of_text(value) if value.__class__ is str and value else utc_key(
        value) if value else None


#: SQLite: the rows of ``actions`` for the events in a range of positions, from their JSON
#: (SQLite keeps the last JSON it parsed: the two extracts of one row parse its state once).
_SQLITE_SQL = (
    f"INSERT INTO main.{actions.name} ({', '.join(c.name for c in actions.columns)}) "
    "SELECT id, COALESCE(json_extract(CAST(state AS TEXT), '$.envelope.actor'), ''), "
    "ledger_utc_key(json_extract(CAST(state AS TEXT), '$.envelope.occurred_at')) "
    "FROM {source} WHERE id > ? AND id <= ? ORDER BY id"
)
#: PostgreSQL: the same rows, each state parsed once (materialized: not once per column).
_PG_SQL = (
    "WITH e AS MATERIALIZED (SELECT id, convert_from(state, 'UTF8')::jsonb->'envelope' AS env "
    "FROM {source} WHERE id > %s AND id <= %s) "
    f"INSERT INTO {actions.name} ({', '.join(c.name for c in actions.columns)}) "
    "SELECT id, COALESCE(env->>'actor', ''), "
    "CASE WHEN env->>'occurred_at' <> '' THEN to_char(((env->>'occurred_at')::timestamptz)"
    " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') END FROM e ORDER BY id"
)


_ACTION_COLUMNS = tuple(c.name for c in actions.columns)
