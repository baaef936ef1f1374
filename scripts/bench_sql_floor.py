"""What one ``execute`` costs SQLite alone: its statements replayed with ``sqlite3``, no
Python of the ledger around them, beside the raw one-row insert of ``scripts/bench``, in the
same run (SQLite, WAL, ``synchronous=NORMAL``, one command per transaction).

The tables are those a new ledger creates (their ``CREATE`` statements are read from a fresh
ledger's ``sqlite_master``), and the statements those of the write path per command
(``ledger/kernel/writer.py``, ``ledger/integrity/intxn.py``): ``BEGIN IMMEDIATE``, the
log's head, the command-id lookup, the event row, the Merkle leaf row, the tree nodes the
leaf completes, the command-log row, ``COMMIT``. Two variants show what a different stored
shape of the command log would save: ``WITHOUT ROWID``, and that without its index on the
first position.

    python scripts/bench_sql_floor.py [COMMANDS]
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

TABLES = ("ledger_events", "ledger_command_log", "ledger_merkle_nodes", "ledger_merkle_leaves")


def ledger_schema() -> list[str]:
    """The CREATE statements of the write path's tables and their indexes, from a new ledger."""
    os.environ.setdefault("LEDGER_ALLOW_UNSIGNED", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ledger.application import GovernanceLedger
    from ledger.kernel.logs import configure

    configure("warning")
    path = Path(tempfile.mkdtemp()) / "schema.db"
    GovernanceLedger(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    marks = ",".join("?" * len(TABLES))
    rows = conn.execute(f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({marks}) AND sql IS "
                        "NOT NULL ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 "
                        "ELSE 2 END", TABLES).fetchall()
    conn.close()
    return [r[0] for r in rows]


def variant(schema: list[str], name: str) -> list[str]:
    """*schema* as it is (``ledger``), or with the command log ``WITHOUT ROWID``
    (``without-rowid``), or that and without its first-position index (``no-first-index``)."""
    out = []
    for sql in schema:
        if name == "no-first-index" and sql.startswith("CREATE INDEX ledger_command_log_first"):
            continue
        without = name != "ledger" and sql.startswith("CREATE TABLE ledger_command_log")
        out.append(sql.rstrip() + " WITHOUT ROWID" if without else sql)
    return out


def connect(schema: list[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(Path(tempfile.mkdtemp()) / "x.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        conn.execute(sql)
    return conn


def replay(schema: list[str], n: int, state: bytes, result: str) -> float:
    """Commands per second of the write path's statements alone."""
    conn = connect(schema)
    t = time.perf_counter()
    for i in range(1, n + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT max(id) FROM ledger_events").fetchone()
        conn.execute("SELECT result FROM ledger_command_log WHERE command_id = ?",
                     (f"bench-{i}",)).fetchone()
        conn.executemany("INSERT INTO ledger_events (id, originator_id, originator_version, "
                         "topic, state) VALUES (?, ?, ?, ?, ?)",
                         [(i, uuid.uuid4().bytes, 1, "ledger.aggregates:Community.PostAppointed",
                           state)])
        conn.executemany("INSERT INTO ledger_merkle_leaves (position, notification_id) "
                         "VALUES (?, ?)", [(i - 1, i)])
        nodes = [(0, i - 1, hashlib.sha256(b"%d" % i).digest())]
        level, size = 1, i
        while size % 2 == 0:  # the subtrees this leaf completes
            nodes.append((level, (i >> level) - 1, b"\x00" * 32))
            size //= 2
            level += 1
        conn.executemany("INSERT INTO ledger_merkle_nodes (level, idx, hash) VALUES (?, ?, ?)",
                         nodes)
        conn.executemany("INSERT INTO ledger_command_log (command_id, type, actor, recorded_at, "
                         "first_notification_id, last_notification_id, result) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(f"bench-{i}", "post.appoint", "P-0001",
                           "2026-12-07T10:00:00.000000+08:00", i, i, result)])
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t)
    conn.close()
    return rate


def raw(n: int, state: bytes) -> float:
    """The raw baseline of ``scripts/bench``: one row per transaction."""
    conn = connect(["CREATE TABLE ev (id INTEGER PRIMARY KEY AUTOINCREMENT, originator_id BLOB, "
                    "originator_version INTEGER, topic TEXT, state BLOB)",
                    "CREATE UNIQUE INDEX ev_agg ON ev (originator_id, originator_version)"])
    t = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ev (originator_id, originator_version, topic, state) "
                     "VALUES (?, ?, ?, ?)", (uuid.uuid4().bytes, i, "t", state))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t)
    conn.close()
    return rate


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    schema = ledger_schema()
    state = b"x" * 600  # about the size of a post.appoint event's state
    result = json.dumps({"digest": "a" * 64, "result": {
        "command_id": f"bench-{n}", "type": "post.appoint", "outcome": "accepted",
        "positions": [n], "events": ["PostAppointed"], "detail": {},
        "recorded_at": "2026-12-07T10:00:00.000000+08:00"}})
    for run in (1, 2):
        base = raw(n, state)
        line = {"run": run, "raw_insert_per_s": round(base)}
        for name in ("ledger", "without-rowid", "no-first-index"):
            rate = replay(variant(schema, name), n, state, result)
            line[name] = {"commands_per_s": round(rate), "ratio_to_raw": round(rate / base, 3)}
        print(json.dumps(line))


if __name__ == "__main__":
    main()
