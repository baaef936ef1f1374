"""Append-only at the database: triggers that refuse UPDATE and DELETE on the event tables.

Installed by :class:`~ledger.application.GovernanceLedger` on start (idempotent). They stop
accidents and casual edits; a determined administrator can drop them, which the Merkle log and
signed checkpoints then detect (``ledger verify``).
"""

from __future__ import annotations

from sqlalchemy import Engine, text

MESSAGE = "is append-only: events are never changed or deleted (see docs/integrity.md)"


def install(engine: Engine, tables: list[str]) -> None:
    """Create the triggers on *tables* unless they exist."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            for table in tables:
                for op in ("UPDATE", "DELETE"):
                    conn.execute(text(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, '{table} {MESSAGE}'); END"))
        return
    if engine.dialect.name != "postgresql":  # pragma: no cover - only two stores are supported
        return
    with engine.begin() as conn:
        existing = set(conn.execute(text(
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = ANY (current_schemas(false)::regnamespace[])"
        )).scalars().all())
        wanted = {f"{t}_append_only" for t in tables} | {f"{t}_no_truncate" for t in tables}
        if wanted <= existing:
            return
        conn.execute(text("SELECT pg_advisory_xact_lock(7342001)"))
        conn.execute(text(
            "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '% {MESSAGE}', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"))
        for table in tables:
            if f"{table}_append_only" not in existing:
                conn.execute(text(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"))
            if f"{table}_no_truncate" not in existing:
                conn.execute(text(
                    f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"))


def remove(engine: Engine, tables: list[str]) -> None:
    """Drop the triggers (for tamper tests and deliberate maintenance only)."""
    with engine.begin() as conn:
        for table in tables:
            if engine.dialect.name == "sqlite":
                for op in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{op}"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}"))
