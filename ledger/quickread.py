"""Reads answered from a SQLite file's read-model tables with ``sqlite3`` alone, when current.

``ledger status`` and ``ledger roster`` are the clerk's most frequent questions, and each is a
new process. When the ledger is a SQLite file and the ``status`` read model has caught up with
the log's head (its tracking row is at the highest event position and at the schema version
this release builds), the answer is already in its tables: this module reads it there in one
read-only transaction, without loading SQLAlchemy, eventsourcing or pydantic. Otherwise (a
read model behind the log, another schema version, PostgreSQL, a file that cannot be opened)
it answers ``None`` and the caller opens the ledger, which catches the read model up first.
The rows are shaped by the same functions :class:`~ledger.application.GovernanceLedger` uses
(:func:`status_answer`, :func:`with_also_holds`), and ``tests/integration/test_quickread.py``
shows both paths give the same answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.kernel.sqlitefile import has_log, is_read_only, read_only_uris

#: The ``status`` read model's schema version this release builds (a test keeps it equal to
#: ``StatusProjection.schema_version``).
STATUS_SCHEMA = 1

_TERMS = ("SELECT * FROM rm_post_terms WHERE scope IN ({marks}) AND from_utc <= ? "
          "AND (to_utc IS NULL OR to_utc > ?) ORDER BY scope, post, from_utc")


def utc_key(value: datetime) -> str:
    """Fixed-width UTC text of a datetime, as the read models store business times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def with_also_holds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark each term with the other posts its holder held at the same moment (兼任)."""
    by_person: dict[str, list[str]] = {}
    for r in rows:
        by_person.setdefault(r["person"], []).append(r["post"])
    for r in rows:
        r["also_holds"] = [p for p in by_person[r["person"]] if p != r["post"]]
    return rows


def status_answer(comms: list[dict[str, Any]], town_rows: list[dict[str, Any]],
                  holders: Iterable[dict[str, Any]], community: str | None,
                  as_of: datetime) -> dict[str, Any]:
    """The answer of ``status``: towns and communities, each with the posts held now."""
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for h in holders:
        by_scope.setdefault(h["scope"], []).append(h)
    for c in comms:
        c["posts"] = by_scope.get(c["code"], [])
    for t in town_rows:
        t["posts"] = by_scope.get(t["code"], [])
    return {"as_of": as_of.isoformat(), "towns": [] if community else town_rows,
            "communities": comms}


def _open(db_url: str) -> sqlite3.Connection | None:
    if not db_url.startswith("sqlite:///") or ":memory:" in db_url or "?" in db_url:
        return None
    path = Path(db_url.removeprefix("sqlite:///"))
    if not path.is_file() or (is_read_only(path) and has_log(path)):
        return None  # missing, or a log the ledger reads through a private copy
    try:
        conn = sqlite3.connect(read_only_uris(path)[0], uri=True, isolation_level=None)
    except sqlite3.Error:
        return None
    conn.row_factory = sqlite3.Row
    return conn


def _current(conn: sqlite3.Connection) -> bool:
    tracked = conn.execute("SELECT position, schema_version FROM ledger_projection_tracking "
                           "WHERE name = 'status'").fetchone()
    head = conn.execute("SELECT max(id) FROM ledger_events").fetchone()[0] or 0
    return tracked is not None and tuple(tracked) == (head, STATUS_SCHEMA)


def _rows(conn: sqlite3.Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params)]


def _terms(conn: sqlite3.Connection, scopes: list[str], at: str) -> list[dict[str, Any]]:
    if not scopes:
        return []
    sql = _TERMS.format(marks=", ".join("?" * len(scopes)))
    return with_also_holds(_rows(conn, sql, *scopes, at, at))


def _read(db_url: str, question: Any) -> dict[str, Any] | None:
    conn = _open(db_url)
    if conn is None:
        return None
    try:
        conn.execute("BEGIN")  # one snapshot: the tracking row and the tables agree
        if not _current(conn):
            return None
        answer: dict[str, Any] | None = question(conn)
        return answer
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def lookup(db_url: str, sql: str, *params: Any) -> list[dict[str, Any]] | None:
    """Rows of a read-model table as they are (current or not), or None when *db_url* is not
    a SQLite file that exists or the table is not there: for lists of words and for shell
    completion, which must be fast and never fail."""
    conn = _open(db_url)
    if conn is None:
        return None
    try:
        return _rows(conn, sql, *params)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def status(db_url: str, community: str | None, as_of: datetime) -> dict[str, Any] | None:
    """``GovernanceLedger.status(community)`` at *as_of* (now), or None (see the module doc);
    also None for an unknown community, so that the caller reports it as it always does."""

    def question(conn: sqlite3.Connection) -> dict[str, Any] | None:
        comms = _rows(conn, "SELECT * FROM rm_communities"
                      + (" WHERE code = ?" if community else "") + " ORDER BY code",
                      *([community] if community else []))
        if community and not comms:
            return None
        town_rows = _rows(conn, "SELECT * FROM rm_towns ORDER BY code")
        scopes = [c["code"] for c in comms] + ([] if community else [t["code"] for t in town_rows])
        holders = _terms(conn, scopes, utc_key(as_of))
        return status_answer(comms, town_rows, holders, community, as_of)

    return _read(db_url, question)


def roster(db_url: str, community: str, as_of: datetime) -> dict[str, Any] | None:
    """``GovernanceLedger.roster(community, as_of)``, or None (see the module doc)."""

    def question(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = _rows(conn, "SELECT * FROM rm_communities WHERE code = ?", community)
        if not row:
            return None
        return {"community": row[0], "as_of": as_of.isoformat(),
                "posts": _terms(conn, [community], utc_key(as_of))}

    return _read(db_url, question)
