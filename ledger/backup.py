"""Backups of a SQLite ledger (online, consistent) and restoring them.

PostgreSQL ledgers are backed up with the server's own tools (docs/reliability.md):
``pg_dump --format=custom --file=ledger.dump DBNAME`` and ``pg_restore --dbname=NEW ledger.dump``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from ledger.errors import ConfigurationError, LedgerError


class BackupError(LedgerError):
    """Raised when a backup or restore cannot be made (target exists, not SQLite, unreadable)."""

    code = "backup"


def sqlite_path(db_url: str) -> Path:
    """The file of a SQLite URL; a clear error for anything else."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ConfigurationError(
            "ledger backup/restore work on SQLite files; for PostgreSQL use pg_dump and "
            "pg_restore (see docs/reliability.md)")
    return Path(url.database)


def backup(db_url: str, target: Path) -> int:
    """Copy the live ledger to *target* with SQLite's online backup; return its size."""
    source = sqlite_path(db_url)
    if not source.exists():
        raise BackupError(f"no ledger at {source}")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    return target.stat().st_size


def restore(backup_file: Path, db_url: str, *, force: bool = False) -> None:
    """Restore *backup_file* as the ledger at *db_url* (refuses to overwrite unless *force*)."""
    target = sqlite_path(db_url)
    if not backup_file.exists():
        raise BackupError(f"no backup at {backup_file}")
    try:
        check = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        ok = check.execute("PRAGMA integrity_check").fetchone()[0]
        check.execute("SELECT count(*) FROM ledger_events").fetchone()
        check.close()
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{backup_file} is not a ledger backup: {e}") from None
    if ok != "ok":
        raise BackupError(f"{backup_file} fails SQLite's integrity check: {ok}")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; restore into a new --db, or pass --force")
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    src = sqlite3.connect(backup_file)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()
