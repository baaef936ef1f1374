"""Backups of a SQLite ledger (online, consistent), restoring them, and what a restored copy
means for the log: :func:`check_against_signer` (is it older than what the signer signed?) and
:func:`start_new_origin` (go on under a new origin, on purpose).

PostgreSQL ledgers are backed up with the server's own tools (docs/reliability.md):
``pg_dump --format=custom --file=ledger.dump DBNAME`` and ``pg_restore --dbname=NEW ledger.dump``.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url

from ledger.integrity import sealer, signer
from ledger.integrity.errors import IntegrityError
from ledger.integrity.intxn import new_origin_name
from ledger.integrity.merkle import EMPTY_ROOT
from ledger.integrity.sqlstore import SqlNodeStore, tree_head
from ledger.integrity.tree import IncrementalTree
from ledger.kernel.config import Settings
from ledger.kernel.errors import ConfigurationError, LedgerError
from ledger.kernel.i18n import _

if TYPE_CHECKING:
    from ledger.application import CommandResult, GovernanceLedger


class BackupError(LedgerError):
    """Raised when a backup or restore cannot be made (target exists, not SQLite, unreadable)."""

    code = "backup"


def sqlite_path(db_url: str) -> Path:
    """The file of a SQLite URL; a clear error for anything else."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ConfigurationError(
            _("ledger backup/restore work on SQLite files; for PostgreSQL use pg_dump and pg_restore (see "
              "docs/reliability.md)"))
    return Path(url.database)


def backup(db_url: str, target: Path) -> int:
    """Copy the live ledger to *target* with SQLite's online backup; return its size."""
    source = sqlite_path(db_url)
    if not source.exists():
        raise BackupError(_("no ledger at {source}").format(source=source))
    if target.exists():
        raise BackupError(_("{target} already exists; choose a new file").format(target=target))
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
        raise BackupError(_("no backup at {backup_file}").format(backup_file=backup_file))
    try:
        check = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        ok = check.execute("PRAGMA integrity_check").fetchone()[0]
        check.execute("SELECT count(*) FROM ledger_events").fetchone()
        check.close()
    except sqlite3.DatabaseError as e:
        raise BackupError(_("{backup_file} is not a ledger backup: {e}").format(
                              backup_file=backup_file, e=e)) from None
    if ok != "ok":
        raise BackupError(_("{backup_file} fails SQLite's integrity check: {ok}").format(
                              backup_file=backup_file, ok=ok))
    if target.exists() and not force:
        raise BackupError(_("{target} already exists; restore into a new --db, or pass --force").format(
                              target=target))
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


# ----------------------------------------------------------------------------- the log's state
@dataclass(frozen=True)
class SignerCheck:
    """How a (restored) ledger's tree compares with the signer's record of its last checkpoint.

    ``status``: ``current`` (the tree is the signed one, or extends it), ``older`` (fewer
    leaves than signed: an older copy), ``diverged`` (another tree at the signed size),
    ``other_origin`` (the signer last signed another origin), ``no_record`` (no signer record
    beside the key on this machine). Writes are refused unless ``current`` or ``no_record``.
    """

    status: str
    origin: str
    size: int
    signed_origin: str | None = None
    signed_size: int | None = None

    @property
    def refused(self) -> bool:
        return self.status not in ("current", "no_record")


def check_against_signer(ledger: GovernanceLedger) -> SignerCheck:
    """Compare the ledger's tree with ``signer.load_state`` (what the writer refuses on)."""
    state = signer.load_state(ledger.settings)
    with ledger.engine.connect() as conn:
        size = tree_head(conn).size
        origin = sealer.log_origin(ledger, conn)
        if state is None:
            return SignerCheck("no_record", origin, size)
        if state.origin != origin:
            status = "other_origin"
        elif size < state.size:
            status = "older"
        else:
            try:
                root = IncrementalTree(SqlNodeStore(conn), size).root(state.size) \
                    if state.size else EMPTY_ROOT
            except IntegrityError:
                root = b""
            status = "current" if not state.size or root == state.root else "diverged"
    return SignerCheck(status, origin, size, state.origin, state.size)


@dataclass(frozen=True)
class NewOrigin:
    """What :func:`start_new_origin` did."""

    origin: str
    previous_origin: str
    previous_size: int
    archived: list[Path]
    result: CommandResult


def start_new_origin(ledger: GovernanceLedger, *, reason: str, actor: str, post: str | None,
                     occurred_at: str | None = None, command_id: str | None = None,
                     ) -> NewOrigin:
    """Start a new origin on purpose (``ledger restore --new-origin``).

    The command ``log.new_origin`` is checked first (a dry run: the actor's authority, the
    reason); then the signer's record of the previous origin is set aside
    (``signer.start_new_origin``) and the command recorded through the ledger's write path,
    which adds the new row of ``ledger_log_identity`` in the same transaction. If that write
    fails, the signer's record is put back.
    """
    settings = ledger.settings
    state = signer.load_state(settings)
    with ledger.engine.connect() as conn:
        previous = sealer.log_origin(ledger, conn)
        latest = sealer.latest_checkpoint(ledger, conn)
        town = _town_code(ledger, conn)
    if state is not None and state.origin == previous:
        size, root = state.size, state.root
    elif latest is not None:
        size, root = latest.size, latest.root
    else:
        size, root = 0, None
    new = new_origin_name(town)
    command: dict[str, Any] = {
        "type": "log.new_origin", "actor": actor, "post": post, "town": town or "",
        "new_origin": new, "previous_origin": previous, "previous_size": size,
        "previous_root": None if root is None else base64.b64encode(root).decode("ascii"),
        "reason": reason, "occurred_at": occurred_at}
    if command_id:
        command["command_id"] = command_id
    command = {k: v for k, v in command.items() if v is not None}
    ledger.execute(command, dry_run=True)
    archived = signer.start_new_origin(settings, new)
    ledger.txn_sealer.forget()
    try:
        result = ledger.execute(command)
    except BaseException:
        _put_back(settings, archived)
        raise
    finally:
        ledger.txn_sealer.forget()
    return NewOrigin(new, previous, size, archived, result)


def _put_back(settings: Settings, archived: list[Path]) -> None:
    for original in (signer.state_path(settings), signer.leaves_path(settings)):
        for path in archived:
            if path.name.startswith(original.name + ".") and not original.exists():
                os.replace(path, original)


def _town_code(ledger: GovernanceLedger, conn: Connection) -> str | None:
    t = ledger.events_table
    first = conn.execute(select(t.c.topic, t.c.state).order_by(t.c.id).limit(1)).first()
    if first is not None and str(first[0]).endswith(":Town.Registered"):
        code = json.loads(bytes(first[1])).get("code")
        return code if isinstance(code, str) and code else None
    return None
