"""The refusals of the trust checks, as a clerk or an operator meets them on the command line:
one clear line, exit 1, nothing written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.cli import cli

INIT = ["init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
        "--admin-name", "王明", "--at", "2025-01-01"]
ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ", "--at", "2025-01-02"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(db: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args])


def _count(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        return (conn.execute("SELECT count(*) FROM ledger_events").fetchone()[0],
                conn.execute("SELECT count(*) FROM ledger_checkpoints").fetchone()[0])


def test_a_forged_row_stops_writes_and_signatures(db: str, tmp_path: Path) -> None:
    assert run(db, *INIT).exit_code == 0
    assert run(db, "community", "register", "ZQ-001", "阳光花园", *ADMIN).exit_code == 0
    path = tmp_path / "cli.db"
    with sqlite3.connect(path) as conn:  # an INSERT as any writer of the file could do
        last = conn.execute("SELECT id, originator_id, originator_version, topic, state FROM "
                            "ledger_events ORDER BY id DESC LIMIT 1").fetchone()
        conn.execute("INSERT INTO ledger_events (id, originator_id, originator_version, topic, "
                     "state) VALUES (?, ?, ?, ?, ?)", (last[0] + 1, last[1], last[2] + 1,
                                                       last[3], last[4]))
    before = _count(path)
    signed = run(db, "checkpoint")
    assert signed.exit_code == 1
    assert "refuses to sign" in signed.output and f"log position {last[0] + 1}" in signed.output
    write = run(db, "community", "register", "ZQ-002", "春申", *ADMIN)
    assert write.exit_code == 1
    assert "no Merkle leaf" in write.output and "Traceback" not in write.output
    assert _count(path) == before


def test_restoring_an_older_backup_refuses_writes_until_the_operator_decides(
        db: str, tmp_path: Path) -> None:
    assert run(db, *INIT).exit_code == 0
    older = tmp_path / "older.db"
    assert run(db, "backup", str(older)).exit_code == 0
    assert run(db, "community", "register", "ZQ-001", "阳光花园", *ADMIN).exit_code == 0
    assert run(db, "checkpoint").exit_code == 0
    assert run(db, "restore", "--force", str(older)).exit_code == 0
    write = run(db, "community", "register", "ZQ-002", "春申", *ADMIN)
    assert write.exit_code == 1
    assert "older copy" in write.output and "--new-origin" in write.output
    assert run(db, "checkpoint").exit_code == 1
    assert _count(tmp_path / "cli.db")[0] == 2
