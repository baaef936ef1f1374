"""Restoring an older backup, as an operator meets it on the command line, while a verifying
subscriber follows the feed of a real ``ledger serve``: writes and signatures are refused
until the operator decides; ``restore --new-origin`` records the new origin as an event; the
subscriber holding the old head stops (``inconsistent_checkpoint`` on the rolled-back copy,
``origin_changed`` once the new origin is started) and is never handed the reused positions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.feed.client import FeedIntegrityError, Subscriber
from ledger.feed.log import log_state
from ledger.integrity import sealer, signer
from ledger.integrity.errors import LogForkError
from ledger.integrity.sqlstore import log_identity
from ledger.kernel.config import Settings
from ledger.kernel.errors import LedgerError
from tests.conftest import store_snapshot
from tests.feedkit import serve

INIT = ["init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
        "--admin-name", "王明", "--at", "2025-01-01"]
ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ", "--at", "2025-01-02"]


def run(db: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args])


def ok(db: str, *args: str) -> str:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result.output


def register(db: str, code: str, name: str) -> click.testing.Result:
    return run(db, "community", "register", code, name, *ADMIN)


class Got:
    def __init__(self, sub: Subscriber) -> None:
        self.sub = sub
        sub.db.execute("CREATE TABLE IF NOT EXISTS got (position INTEGER, type TEXT, "
                       "aggregate TEXT)")

    def __call__(self, db: sqlite3.Connection, event: dict[str, Any]) -> None:
        db.execute("INSERT INTO got VALUES (?, ?, ?)",
                   (event["position"], event["type"], event["aggregate_id"]))

    def rows(self) -> list[tuple[Any, ...]]:
        return list(self.sub.db.execute("SELECT * FROM got ORDER BY rowid"))

    def mark(self) -> tuple[Any, ...]:
        v = self.sub.verified()
        assert v is not None and v.checkpoint is not None
        return self.sub.position(), self.rows(), v.frontier.to_bytes(), v.checkpoint.note


def _store(db: str) -> tuple[Any, ...]:
    led = GovernanceLedger(settings=Settings(db_url=db))
    try:
        with led.engine.connect() as conn:
            ids = conn.execute(sa.select(log_identity.c.origin).order_by(
                log_identity.c.seq)).scalars().all()
            cps = conn.execute(sa.text("SELECT size FROM ledger_checkpoints ORDER BY size")
                               ).scalars().all()
        return store_snapshot(led), list(ids), list(cps)
    finally:
        led.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'zq.db'}"


@contextmanager
def following(db: str, path: Path, **kw: Any) -> Iterator[tuple[Subscriber, Got]]:
    """A verifying subscriber (its state in *path*) of a ``ledger serve`` of *db*, started for
    this phase: a restore replaces the file under the server, which is stopped meanwhile."""
    with serve(db) as url, Subscriber(url, path, verify=True, **kw) as sub:
        yield sub, Got(sub)


def test_an_older_backup_refuses_writes_until_a_new_origin_and_the_subscriber_stops(
        sqlite_db: str, tmp_path: Path) -> None:
    db = sqlite_db
    ok(db, *INIT)
    assert register(db, "ZQ-001", "阳光花园").exit_code == 0
    ok(db, "checkpoint")
    older = tmp_path / "older.db"
    ok(db, "backup", str(older))
    for code, name in (("ZQ-002", "春申"), ("ZQ-003", "银都")):
        assert register(db, code, name).exit_code == 0
    ok(db, "checkpoint")
    key = ok(db, "key", "export").strip().splitlines()[-1]
    state = tmp_path / "sub.db"
    with following(db, state, log_key=key) as (sub, got):
        assert sub.catch_up(got) == 5  # town, its admin, three communities
        old_head = got.mark()

    # The older copy put back: restore says so, and writes and signatures are refused.
    restored = run(db, "restore", "--force", str(older))
    assert restored.exit_code == 0
    assert "older than the checkpoint the signer last signed" in restored.output
    assert "--new-origin" in restored.output
    before = _store(db)
    write = register(db, "ZQ-009", "冒用的位置")
    assert write.exit_code == 1 and "older copy" in write.output
    assert "Traceback" not in write.output
    assert run(db, "checkpoint").exit_code == 1
    assert _store(db) == before
    # The subscriber sees the log rolled back: it stops, and keeps what it verified.
    with following(db, state, log_key=key) as (sub, got):
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "inconsistent_checkpoint" and "rolled back" in str(e.value)
        assert got.mark() == old_head

    # A refused attempt changes nothing: no reason, or an actor without the authority.
    assert run(db, "restore", "--new-origin", *ADMIN).exit_code == 2
    denied = run(db, "restore", "--new-origin", "--reason", "试", "--actor", "P-0404",
                 "--post", "town.ledger_admin@ZQ")
    assert denied.exit_code == 1, denied.output
    assert _store(db) == before
    assert signer.load_state(Settings(db_url=db)) is not None  # the signer's record stays

    # The operator decides: a new origin, recorded as an event; writes and signatures resume.
    started = ok(db, "restore", "--new-origin", "--reason", "磁盘损坏，从备份恢复", *ADMIN)
    assert "started the new origin" in started
    after = _store(db)
    assert after[0][0] == before[0][0] + 1 and len(after[1]) == 2
    new_origin = after[1][-1]
    assert new_origin in started and new_origin != before[1][0]
    led = GovernanceLedger(settings=Settings(db_url=db))
    try:  # nothing is signed under the new origin yet: the feed shows no checkpoint
        assert log_state(led) == {"origin": new_origin, "checkpoint": None}
    finally:
        led.close()
    assert register(db, "ZQ-004", "东苑").exit_code == 0
    ok(db, "checkpoint")
    assert _store(db)[2][-1] == after[0][0] + 1
    # The subscriber holding the old head stops with the fork error; nothing reused reaches it.
    mark = _store(db)
    with following(db, state, log_key=key) as (sub, got):
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "origin_changed" and new_origin in str(e.value)
        assert got.mark() == old_head
    assert _store(db) == mark
    # A subscriber of the new origin receives the new log, the LogOrigin.Started event in it.
    new_key = ok(db, "key", "export").strip().splitlines()[-1]
    with following(db, tmp_path / "new.db", origin=new_origin, log_key=new_key) as (fresh,
                                                                                    seen):
        assert fresh.catch_up(seen) == mark[0][0]
        types = [r[1] for r in seen.rows()]
        assert types[3] == "LogOrigin.Started" and types[-1] == "Community.Registered"


def test_new_origin_on_a_ledger_as_it_is_stops_old_subscribers(
        db_url: str, tmp_path: Path) -> None:
    """Without FILE (e.g. after pg_restore): on SQLite and PostgreSQL."""
    db = db_url
    ok(db, *INIT)
    assert register(db, "ZQ-001", "阳光花园").exit_code == 0
    ok(db, "checkpoint")
    with serve(db) as url:
        key = ok(db, "key", "export").strip().splitlines()[-1]
        with Subscriber(url, tmp_path / "sub.db", verify=True, log_key=key) as sub:
            got = Got(sub)
            assert sub.catch_up(got) == 3
            held = got.mark()
            ok(db, "restore", "--new-origin", "--reason", "换用新的日志来源", *ADMIN)
            ok(db, "checkpoint")
            with pytest.raises(FeedIntegrityError) as e:
                sub.catch_up(got)
            assert e.value.kind == "origin_changed"
            assert got.mark() == held
    archived = list(tmp_path.glob("*.signer.json.*.old"))
    assert len(archived) == 1


def test_log_new_origin_is_refused_while_the_signer_keeps_the_old_origin(
        ledger: GovernanceLedger) -> None:
    from tests.conftest import ADMIN as WHO
    from tests.conftest import sunny_garden

    sunny_garden(ledger)
    sealer.ensure_key_file(ledger.settings)
    sealer.seal(ledger)
    origin = sealer.log_origin(ledger)
    before = store_snapshot(ledger)
    with pytest.raises(LedgerError, match="signer still keeps its record"):
        ledger.execute({"type": "log.new_origin", **WHO, "town": "ZQ",
                        "new_origin": "zq-governance-ledger/ZQ/00000000000000aa",
                        "previous_origin": origin, "previous_size": 5, "reason": "试"})
    assert store_snapshot(ledger) == before
    with pytest.raises(LedgerError):  # a previous origin that is not the log's
        ledger.execute({"type": "log.new_origin", **WHO, "town": "ZQ",
                        "new_origin": "zq-governance-ledger/ZQ/00000000000000aa",
                        "previous_origin": "zq-governance-ledger/ZQ/0000000000000bad",
                        "previous_size": 5, "reason": "试"})
    assert store_snapshot(ledger) == before


def test_a_write_refused_on_the_restored_copy_names_the_fork(tmp_path: Path) -> None:
    """The library refuses as the command line does (the writer's check)."""
    db = f"sqlite:///{tmp_path / 'lib.db'}"
    ok(db, *INIT)
    ok(db, "backup", str(tmp_path / "older.db"))
    assert register(db, "ZQ-001", "阳光花园").exit_code == 0
    ok(db, "checkpoint")
    ok(db, "restore", "--force", str(tmp_path / "older.db"))
    led = GovernanceLedger(settings=Settings(db_url=db))
    try:
        before = store_snapshot(led)
        with pytest.raises(LogForkError, match="--new-origin"):
            led.execute({"type": "community.register", "actor": "P-0001",
                         "post": "town.ledger_admin@ZQ", "code": "ZQ-002", "name": "春申",
                         "occurred_at": "2025-01-02"})
        assert store_snapshot(led) == before
    finally:
        led.close()
