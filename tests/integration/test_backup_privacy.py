"""Backups and restores of a SQLite ledger; personal data sealed per subject and erased."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.backup import BackupError, restore
from ledger.cli import cli
from ledger.kernel import privacy
from tests.conftest import store_snapshot


def _rows(led: GovernanceLedger) -> list[list[tuple[object, ...]]]:
    led.catch_up()
    out = []
    with led.engine.connect() as conn:
        for projection in led.projections.values():
            for table in projection.tables:
                out.append(sorted(tuple(r) for r in conn.execute(sa.select(table))))
    return out


def test_backup_and_restore_give_the_same_log_and_identical_read_models(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'live.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db, "demo"]).exit_code == 0
    copy = tmp_path / "backup.db"
    result = runner.invoke(cli, ["--db", db, "backup", str(copy)])
    assert result.exit_code == 0, result.output
    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    result = runner.invoke(cli, ["--db", restored, "restore", str(copy)])
    assert result.exit_code == 0, result.output
    live, back = GovernanceLedger(db), GovernanceLedger(restored)
    assert store_snapshot(back) == store_snapshot(live)
    assert _rows(back) == _rows(live)
    live.close()
    back.close()
    if "verify" in cli.commands:
        assert runner.invoke(cli, ["--db", restored, "verify", "--allow-unverified"]).exit_code == 0


def test_backup_refuses_to_overwrite_and_restore_refuses_a_non_ledger(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'live.db'}"
    GovernanceLedger(db).close()
    existing = tmp_path / "exists.db"
    existing.write_bytes(b"x")
    r = CliRunner().invoke(cli, ["--db", db, "backup", str(existing)])
    assert r.exit_code == 1 and "already exists" in r.output
    r = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'new.db'}", "restore",
                                 str(existing)])
    assert r.exit_code == 1 and "is not a ledger backup" in r.output
    copy = tmp_path / "copy.db"
    CliRunner().invoke(cli, ["--db", db, "backup", str(copy)])
    with pytest.raises(BackupError, match="already exists"):
        restore(copy, db)


def test_backup_of_postgres_points_to_pg_dump() -> None:
    r = CliRunner().invoke(cli, ["--db", "postgresql+psycopg://u@127.0.0.1:1/x", "backup", "f"])
    assert r.exit_code == 1 and "pg_dump" in r.output


def test_sealed_personal_data_reads_back_until_the_subject_is_erased(ledger: GovernanceLedger
                                                                     ) -> None:
    with ledger.engine.begin() as conn:
        sealed = privacy.seal(conn, "S-0001", {"name": "张三", "phone": "13800138000"})
    assert "13800138000" not in str(sealed) and "张三" not in str(sealed)
    with ledger.engine.connect() as conn:
        assert privacy.unseal(conn, sealed) == {"name": "张三", "phone": "13800138000"}
    assert privacy.erase(ledger, "S-0001")["already"] is False
    with ledger.engine.connect() as conn:
        assert privacy.unseal(conn, sealed) is None
    assert privacy.erase(ledger, "S-0001")["already"] is True
    with pytest.raises(privacy.SubjectNotFoundError):
        privacy.erase(ledger, "S-9999")
