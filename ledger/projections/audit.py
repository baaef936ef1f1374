"""The audit index: one row per event with who did it, in which post, under which command.

Answers "everything this person did" without scanning the log.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Column, Connection, Index, Integer, String, Table

from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.status import _utc_key_of_text, utc_key

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
    #: How the event was signed: the key id, or ``unsigned`` (accepted in the unsigned mode),
    #: ``system`` (bootstrap, rule outcomes) or ``earlier release`` (before commands were
    #: signed). Schema version 2 kept it in a table of its own, ``rm_audit_signed_by``.
    Column("signed_by", String(64), nullable=False),
    Index("rm_audit_actions_actor", "actor", "occurred_utc"),
)


def signed_by_of(envelope: dict[str, object]) -> str:
    """How the event with *envelope* was signed (``actions.signed_by``)."""
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
    rebuild_cost = 0.95
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
        raw.create_function("ledger_uuid_text", 1, _uuid_text, deterministic=True)
        conn.exec_driver_sql(_SQLITE_SQL.format(source=source), (after, upto))

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
            utc_key(occurred) if occurred else None, event.recorded_iso, signed_by_of(env)))


def _uuid_text(value: bytes) -> str:
    """An aggregate id stored as 16 bytes, as text (``str(UUID)``); from :data:`_IDS`."""
    text = _IDS.get(value)
    if text is None:
        if len(_IDS) > 50_000:
            _IDS.clear()
        text = _IDS[value] = str(UUID(bytes=value))
    return text


def _utc_key_or_none(value: Any) -> str | None:
    return _utc_key_of_text(value) if value.__class__ is str and value else utc_key(
        value) if value else None


_ENV = "json_extract(CAST(state AS TEXT), '$.envelope.{0}')"
_SIG = "json_{0}(CAST(state AS TEXT), '$.envelope.signature{1}')"

#: SQLite: the rows of ``actions`` for the events in a range of positions, from their JSON
#: (SQLite keeps the last JSON it parsed: the extracts of one row parse its state once). The
#: aggregate id goes to text through a function of ours: the same in SQL (hex and five
#: substrings) took about three microseconds an event, most of the statement's own work.
#: ``signed_by`` is :func:`signed_by_of`.
_SQLITE_SQL = (
    f"INSERT INTO main.{actions.name} ({', '.join(c.name for c in actions.columns)}) "
    f"SELECT id, COALESCE({_ENV.format('actor')}, ''), {_ENV.format('post')}, "
    f"{_ENV.format('command')}, {_ENV.format('command_id')}, "
    "substr(topic, instr(topic, ':') + 1), ledger_uuid_text(originator_id), "
    f"originator_version, {_ENV.format('occurred_at')}, "
    f"ledger_utc_key({_ENV.format('occurred_at')}), "
    "COALESCE(json_extract(CAST(state AS TEXT), '$.timestamp._data_'), "
    "json_extract(CAST(state AS TEXT), '$.timestamp')), "
    f"CASE WHEN {_SIG.format('type', '')} = 'object' THEN "
    f"CASE {_SIG.format('type', '.key_id')} WHEN 'null' THEN 'None' "
    f"WHEN 'true' THEN 'True' WHEN 'false' THEN 'False' "
    f"ELSE COALESCE(CAST({_SIG.format('extract', '.key_id')} AS TEXT), "
    f"CASE WHEN {_SIG.format('extract', '.unsigned')} = 'system' THEN 'system' "
    "ELSE 'unsigned' END) END "
    "ELSE 'earlier release' END "
    "FROM {source} WHERE id > ? AND id <= ? ORDER BY id"
)
#: PostgreSQL: the same rows, each state parsed once (materialized: not once per column).
_PG_SQL = (
    "WITH e AS MATERIALIZED (SELECT id, topic, originator_id, originator_version, "
    "j, j->'envelope' AS env FROM (SELECT id, topic, originator_id, originator_version, "
    "convert_from(state, 'UTF8')::jsonb AS j FROM {source} "
    "WHERE id > %s AND id <= %s) s) "
    f"INSERT INTO {actions.name} ({', '.join(c.name for c in actions.columns)}) "
    "SELECT id, COALESCE(env->>'actor', ''), env->>'post', env->>'command', "
    "env->>'command_id', split_part(topic, ':', 2), originator_id::text, "
    "originator_version, env->>'occurred_at', "
    "CASE WHEN env->>'occurred_at' <> '' THEN to_char(((env->>'occurred_at')::timestamptz)"
    " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') END, "
    "COALESCE(j->'timestamp'->>'_data_', j->>'timestamp'), "
    "CASE WHEN jsonb_typeof(env->'signature') = 'object' THEN "
    "CASE jsonb_typeof(env->'signature'->'key_id') WHEN 'null' THEN 'None' "
    "WHEN 'boolean' THEN initcap(env->'signature'->>'key_id') "
    "ELSE COALESCE(env->'signature'->>'key_id', "
    "CASE WHEN env->'signature'->>'unsigned' = 'system' AND "
    "jsonb_typeof(env->'signature'->'unsigned') = 'string' THEN 'system' "
    "ELSE 'unsigned' END) END ELSE 'earlier release' END FROM e ORDER BY id"
)


#: Aggregate ids as text (a log has far fewer aggregates than events).
_AGG: dict[Any, str] = {}


#: Aggregate ids as text, by their 16 stored bytes (for the SQL of :func:`_uuid_text`).
_IDS: dict[bytes, str] = {}


_ACTION_COLUMNS = tuple(c.name for c in actions.columns)
