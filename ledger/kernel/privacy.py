"""Residents' personal data, encrypted with a key per person (crypto-erasure).

A resident's name, phone or other contact details never enter an event in clear: the command
handler seals them with AES-GCM under that person's own key (one row per data subject in
``ledger_subject_keys``) and the event stores only the subject id, the nonce and the
ciphertext. ``ledger erase-subject SUBJECT`` destroys the key: the data can no longer be read
anywhere, while every event stays in the log, every other field stays readable, and
``ledger verify`` still passes (the Merkle log hashes the ciphertext, which does not change).

The key table is the one mutable store of secrets in the ledger; it is not in the event log
and erasure is not undone by replaying events. Backups made before an erasure still hold the
key: destroy them too (docs/reliability.md).
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Connection, LargeBinary, String, Table, select, update

from ledger.kernel.config import now
from ledger.kernel.errors import LedgerError, NotFoundError
from ledger.kernel.i18n import _
from ledger.kernel.store import metadata

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger
    from ledger.kernel.writer import WriteTxn

subject_keys = Table(
    "ledger_subject_keys", metadata,
    Column("subject", String(64), primary_key=True),
    Column("key", LargeBinary(), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("erased_at", String(40), nullable=True),
)

SUBJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
ERASED = "[erased]"


class SubjectNotFoundError(NotFoundError):
    """Raised when erasing a data subject the ledger holds no key for."""

    code = "unknown_subject"


class PersonalDataError(LedgerError):
    """Raised when sealed personal data is malformed or cannot be decrypted with its key."""

    code = "personal_data"


def _key_for(conn: Connection, subject: str, *, create: bool) -> bytes | None:
    row = conn.execute(select(subject_keys.c.key, subject_keys.c.erased_at)
                       .where(subject_keys.c.subject == subject)).first()
    if row is not None:
        return bytes(row[0]) if row[0] is not None else None
    if not create:
        return None
    key = AESGCM.generate_key(bit_length=256)
    conn.execute(subject_keys.insert().values(subject=subject, key=key,
                                              created_at=now().isoformat()))
    return key


def _key_in(txn: WriteTxn, subject: str) -> bytes | None:
    """The subject's key read (or created) inside the command's write transaction."""
    mark = txn.sql.mark
    row = txn.cursor.execute(
        f"SELECT key FROM {subject_keys.name} WHERE subject = {mark}", (subject,)).fetchone()
    if row is not None:
        return bytes(row[0]) if row[0] is not None else None
    key = AESGCM.generate_key(bit_length=256)
    if txn.batch_line:
        txn.begin_line()  # undone with the line if the line is refused
    txn.cursor.execute(
        f"INSERT INTO {subject_keys.name} (subject, key, created_at) "
        f"VALUES ({mark}, {mark}, {mark})", (subject, key, now().isoformat()))
    return key


def seal(conn: Connection | WriteTxn, subject: str, data: dict[str, Any]) -> dict[str, str]:
    """Encrypt *data* for *subject* (creating the subject's key in this transaction)."""
    if not SUBJECT_RE.match(subject):
        raise PersonalDataError(_("subject id {subject!r} is not a valid id").format(
                                    subject=subject[:40]))
    key = (_key_for(conn, subject, create=True) if isinstance(conn, Connection)
           else _key_in(conn, subject))
    if key is None:
        raise PersonalDataError(
            _("subject {subject} was erased; new personal data needs a new subject id").format(
                subject=subject))
    nonce = os.urandom(12)
    plain = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    sealed = AESGCM(key).encrypt(nonce, plain, subject.encode())
    return {"subject": subject, "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode()}


def unseal(conn: Connection, sealed: dict[str, str]) -> dict[str, Any] | None:
    """The personal data in *sealed*, or ``None`` once its subject has been erased."""
    try:
        subject = sealed["subject"]
        nonce = base64.b64decode(sealed["nonce"])
        ciphertext = base64.b64decode(sealed["ciphertext"])
    except (KeyError, TypeError, ValueError):
        raise PersonalDataError(_("sealed personal data is malformed")) from None
    key = _key_for(conn, subject, create=False)
    if key is None:
        return None
    try:
        plain = AESGCM(key).decrypt(nonce, ciphertext, subject.encode())
    except Exception:  # noqa: BLE001 - cryptography raises InvalidTag; say which subject only
        raise PersonalDataError(_("personal data of {subject} does not decrypt").format(
                                    subject=subject)) from None
    result: dict[str, Any] = json.loads(plain)
    return result


def erase(ledger: GovernanceLedger, subject: str) -> dict[str, Any]:
    """Destroy *subject*'s key; return what was erased (never the data itself).

    After the key is gone, the old copies of it are removed from the database files
    (:func:`purge`): SQLite overwrites the freed row with zeros (``secure_delete``) and
    truncates its write-ahead log; PostgreSQL rewrites the key table and vacuums the signed
    commands, so no dead row keeps the key or the blanked bytes."""
    ledger.check_writable()
    result = _erase_key(ledger, subject)
    result["purged"] = purge(ledger)  # again for an erased subject: finishes a busy purge
    return result


def purge(ledger: GovernanceLedger) -> dict[str, Any]:
    """Remove old copies of erased keys and blanked bytes from the database files.

    SQLite: ``PRAGMA wal_checkpoint(TRUNCATE)`` (retried while readers hold the log, up to
    about 10 s): the pages written since the last checkpoint, the key's earlier page images
    among them, go to the database file, whose freed space ``secure_delete`` zeroed, and the
    ``-wal`` file is cut to zero bytes. PostgreSQL: ``VACUUM FULL`` of the key table (a new
    file without dead rows; small, so its exclusive lock is short) and ``VACUUM`` of the
    signed commands (dead rows removed without blocking writers). What the server's own
    write-ahead log and any backup still hold is in docs/reliability.md."""
    import time

    if ledger.engine.dialect.name == "sqlite":
        if ledger.engine.url.database in (None, "", ":memory:"):
            return {"wal": "none (in-memory database)"}
        raw = ledger.engine.raw_connection()
        try:
            busy = 1
            for _ in range(100):
                busy, _log, _done = raw.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if busy == 0:
                    break
                time.sleep(0.1)
        finally:
            raw.close()
        return {"wal": "truncated" if busy == 0 else "busy: readers held the log; run "
                "'ledger erase-subject' again to finish"}
    conn = ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.exec_driver_sql(f"VACUUM FULL {subject_keys.name}")
        from ledger.kernel.store import signed_commands

        conn.exec_driver_sql(f"VACUUM {signed_commands.name}")
    finally:
        conn.close()
    return {"vacuumed": [subject_keys.name, "ledger_signed_commands"]}


def _erase_key(ledger: GovernanceLedger, subject: str) -> dict[str, Any]:
    with ledger.engine.begin() as conn:
        row = conn.execute(select(subject_keys.c.erased_at)
                           .where(subject_keys.c.subject == subject)).first()
        if row is None:
            raise SubjectNotFoundError(_("the ledger holds no personal data for {subject!r}").format(
                                           subject=subject))
        if row[0] is not None:
            return {"subject": subject, "erased_at": row[0], "already": True}
        when = now().isoformat()
        conn.execute(update(subject_keys).where(subject_keys.c.subject == subject)
                     .values(key=None, erased_at=when))
        # The signed bytes of the commands that carried the subject's data in clear: blanked
        # (their digest and signature stay on the events; verify counts them as erased).
        from ledger.kernel.store import signed_commands

        blanked = 0
        for cid, subjects in conn.execute(
                select(signed_commands.c.command_id, signed_commands.c.subjects)
                .where(signed_commands.c.subjects.is_not(None))
                .where(signed_commands.c.payload.is_not(None))).all():
            if subject in str(subjects).split(","):
                conn.execute(update(signed_commands)
                             .where(signed_commands.c.command_id == cid)
                             .values(payload=None, erased_at=when))
                blanked += 1
    return {"subject": subject, "erased_at": when, "already": False,
            "signed_commands_blanked": blanked}
