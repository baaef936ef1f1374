"""The sealer, the signing key, and proofs over the ledger's Merkle log.

- :func:`seal` appends a leaf for every event recorded since the last seal (work
  proportional to what is new) and writes a signed checkpoint. Each transaction adds the
  leaves, the nodes they complete and the leaf→event map together (and, at the end, the
  checkpoint), so a seal killed half way leaves the previous consistent tree; the next seal
  carries on from it.
- :func:`inclusion_proof_document` and :func:`consistency_proof_document` build the JSON
  documents that ``ledger prove`` prints, the feed serves and ``scripts/verify-proof``
  checks.
- :func:`ensure_key_file`, :func:`signing_key`, :func:`verifier_key`: the Ed25519 key.

The leaf of the event at leaf index ``p`` is ``SHA-256(0x00 || record bytes)`` of the
record (``canonical.event_record_bytes``) with ``position = p``, the event's notification
id, aggregate id (UUID text), version, public type name (``<Aggregate>.<Event>``, as in
``LoggedEvent.type``), recorded time (ISO 8601, as in ``LoggedEvent.recorded_at``) and the
stored payload bytes (the event table's ``state`` column, unchanged).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from binascii import b2a_base64
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Table, insert, select, text

from ledger.config import Settings, now
from ledger.eventlog import decode
from ledger.integrity import checkpoint as cp
from ledger.integrity.canonical import MAX_SAFE_INTEGER, event_record, fast_event_record_bytes
from ledger.integrity.errors import (
    KeyFileError,
    NotSealedError,
    ProofRequestError,
    RecordMismatchError,
)
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.sqlstore import (
    SqlNodeStore,
    bulk_insert,
    checkpoints,
    merkle_leaves,
    tree_head,
)
from ledger.integrity.tree import IncrementalTree
from ledger.store import placeholder, write_intent

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper

    from ledger.application import GovernanceLedger

log = structlog.get_logger("ledger.integrity")

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "ORIGIN_PREFIX",
    "EventRow",
    "SealResult",
    "StoredCheckpoint",
    "checkpoint_at",
    "consistency_proof_document",
    "ensure_key_file",
    "event_page",
    "event_rows",
    "inclusion_proof_document",
    "latest_checkpoint",
    "leaf_of",
    "log_origin",
    "seal",
    "signing_key",
    "stored_leaf",
    "uuid_text",
    "verifier_key",
]

INCLUSION_FORMAT = "ledger-inclusion-proof/1"
CONSISTENCY_FORMAT = "ledger-consistency-proof/1"
ORIGIN_PREFIX = "zq-governance-ledger/"
SEAL_BATCH = 50_000
"""Events per sealing transaction; a long backlog is sealed in several, then signed once."""

_PG_SEAL_LOCK = 7342002
_TIMESTAMP_PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_sha256 = hashlib.sha256


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event, as the Merkle leaf sees it."""

    notification_id: int
    aggregate_id: str
    """The aggregate's UUID as text (8-4-4-4-12, lowercase)."""
    version: int
    topic: str
    state: bytes


def event_rows(conn: Connection, table: Table, after: int = 0, page: int = 5000,
               ) -> Iterator[EventRow]:
    """Stream the stored events with notification id > *after*, in log order, in pages."""
    while True:
        rows = event_page(conn, table, after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].notification_id


def event_page(conn: Connection, table: Table, after: int, limit: int) -> list[EventRow]:
    """Up to *limit* stored events with notification id > *after*, in log order (read
    through the driver: the id column holds 16 bytes on SQLite, a UUID on PostgreSQL).
    """
    mark = placeholder(conn)
    rows = conn.exec_driver_sql(
        f"SELECT id, originator_id, originator_version, topic, state FROM {table.name} "
        f"WHERE id > {mark} ORDER BY id LIMIT {mark}", (after, limit)).all()
    return [EventRow(r[0], uuid_text(r[1]), r[2], r[3], bytes(r[4])) for r in rows]


def uuid_text(value: object) -> str:
    """A stored aggregate id as ``str(UUID)`` (16 raw bytes on SQLite, a UUID on PostgreSQL)."""
    if isinstance(value, bytes | bytearray | memoryview) and len(value) == 16:
        h = bytes(value).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(value if isinstance(value, UUID) else UUID(str(value)))


def _type_and_time(row: EventRow, mapper: Mapper[UUID] | None) -> tuple[str, str]:
    """(``LoggedEvent.type``, ``LoggedEvent.recorded_at.isoformat()``) of a stored event.

    The fast path reads the type from the topic (``module:Aggregate.Event``) and the time
    from the start of the stored JSON, where the event store writes it; any other shape is
    decoded in full. Both give what ``ledger.eventlog.decode`` gives.
    """
    _module, colon, qualname = row.topic.partition(":")
    state = row.state
    if colon and state.startswith(_TIMESTAMP_PREFIX):
        end = state.find(b'"', len(_TIMESTAMP_PREFIX))
        if end > 0 and state[end : end + 2] == b'"}':
            return qualname, state[len(_TIMESTAMP_PREFIX) : end].decode("ascii")
    ev = decode(mapper, row.notification_id, UUID(row.aggregate_id), row.version, row.topic,
                state)
    return ev.type, ev.recorded_at.isoformat()


def record_fields(position: int, row: EventRow, mapper: Mapper[UUID] | None) -> dict[str, Any]:
    """The keyword arguments of ``canonical.event_record_bytes`` for the event at a leaf."""
    type_name, recorded_at = _type_and_time(row, mapper)
    return {
        "position": position,
        "notification_id": row.notification_id,
        "aggregate_id": row.aggregate_id,
        "version": row.version,
        "type": type_name,
        "recorded_at": recorded_at,
        "payload": row.state,
    }


def leaf_of(position: int, row: EventRow, mapper: Mapper[UUID] | None = None) -> bytes:
    """The leaf hash of the event *row* at leaf index *position*."""
    return leaf_hash(fast_event_record_bytes(**record_fields(position, row, mapper)))


_TYPE_JSON: dict[str, str] = {}
"""Topic -> its type name as a JSON string (``"Town.Registered"``), for :func:`stored_leaf`."""
_TYPE_JSON_MAX = 4096
_TS_START = len(_TIMESTAMP_PREFIX)


def stored_leaf(position: int, notification_id: int, originator_id: object, version: int,
                topic: str, state: bytes, mapper: Mapper[UUID] | None = None) -> bytes:
    """:func:`leaf_of` straight from the stored columns, as the driver returns them.

    The same hash as ``leaf_of(position, EventRow(...), mapper)``, without building the row,
    the field dict, the record dict or the record text: for the usual shape (a 16-byte or
    ``UUID`` aggregate id, a ``module:Type`` topic, the stored JSON starting with its
    timestamp, integers in range) the record's parts are fed to SHA-256 in order, with the
    escaping of ``fast_event_record_bytes``; anything else goes through :func:`leaf_of`.
    """
    type_json = _TYPE_JSON.get(topic)
    if type_json is None and topic.__class__ is str:
        _module, colon, qualname = topic.partition(":")
        if colon and len(_TYPE_JSON) < _TYPE_JSON_MAX:
            type_json = _TYPE_JSON[topic] = encode_basestring(qualname)
    if state.__class__ is not bytes:
        state = bytes(state)
    if (type_json is not None and state.startswith(_TIMESTAMP_PREFIX)
            and position.__class__ is int and notification_id.__class__ is int
            and version.__class__ is int and 0 <= position <= MAX_SAFE_INTEGER
            and 0 <= notification_id <= MAX_SAFE_INTEGER and 0 <= version <= MAX_SAFE_INTEGER):
        if originator_id.__class__ is bytes and len(originator_id) == 16:
            h = originator_id.hex()
            agg = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        elif originator_id.__class__ is UUID:
            agg = str(originator_id)
        else:
            agg = ""
        end = state.find(b'"', _TS_START)
        if agg and end > 0 and state[end : end + 2] == b'"}':
            recorded_at = encode_basestring(state[_TS_START:end].decode("ascii"))
            digest = _sha256(f'\x00{{"aggregate_id":"{agg}","notification_id":{notification_id},'
                             '"payload_b64":"'.encode())
            digest.update(b2a_base64(state, newline=False))
            digest.update(f'","position":{position},"recorded_at":{recorded_at},"type":'
                          f'{type_json},"version":{version}}}'.encode())
            return digest.digest()
    row = EventRow(notification_id, uuid_text(originator_id), version, topic, state)
    return leaf_of(position, row, mapper)


# ----------------------------------------------------------------------------- keys
def key_path(settings: Settings) -> Path:
    """The signing key file of a ledger (``--key-file`` / ``LEDGER_KEY_FILE`` / default)."""
    return Path(settings.resolved_key_file())


def ensure_key_file(settings: Settings) -> tuple[Path, bool]:
    """Create the signing key (mode 0600) unless it exists; return (path, created)."""
    path = key_path(settings)
    if path.exists():
        cp.load_private_key(path)  # refuses a file others can read, or one that is not a key
        return path, False
    cp.generate_key_file(path)
    log.info("signing key created", path=str(path))
    return path, True


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Load the ledger's signing key, with the fix in the message when it is missing."""
    path = key_path(settings)
    if not path.exists():
        raise KeyFileError(
            f"signing key file {path} does not exist; create it with 'ledger init' (or point "
            "--key-file / LEDGER_KEY_FILE at the ledger's key)")
    return cp.load_private_key(path)


def _safe_name(text_: str) -> str:
    return _NAME_UNSAFE.sub("-", text_).strip("-") or "ledger"


def log_origin(ledger: GovernanceLedger, conn: Connection | None = None) -> str:
    """The log's origin (and key name): that of its first checkpoint; before any, it is
    ``zq-governance-ledger/<town code>`` from the town bootstrap at the head of the log, else
    ``zq-governance-ledger/<database name>``.
    """
    if conn is None:
        with ledger.engine.connect() as c:
            return log_origin(ledger, c)
    note = conn.execute(select(checkpoints.c.note).order_by(checkpoints.c.size).limit(1)).scalar()
    if note is not None:
        return cp.parse_checkpoint(str(note))[0].origin
    t = ledger.events_table
    first = conn.execute(select(t.c.topic, t.c.state).order_by(t.c.id).limit(1)).first()
    if first is not None and str(first[0]).endswith(":Town.Registered"):
        code = json.loads(bytes(first[1])).get("code")
        if isinstance(code, str) and code:
            return ORIGIN_PREFIX + _safe_name(code)
    database = ledger.engine.url.database or "ledger"
    return ORIGIN_PREFIX + _safe_name(Path(database).stem if ledger.engine.dialect.name == "sqlite"
                                      else database)


def verifier_key(ledger: GovernanceLedger) -> str:
    """The verifier key auditors check checkpoints with (needs the signing key file)."""
    key = signing_key(ledger.settings)
    return cp.format_verifier_key(log_origin(ledger), key.public_key())


# ----------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: tree ``size``, ``root``, the signed ``note`` text, the
    ``verifier_key`` it was signed with, and when it was written.
    """

    size: int
    root: bytes
    note: str
    verifier_key: str
    created_at: str

    @property
    def origin(self) -> str:
        return cp.parse_checkpoint(self.note)[0].origin

    def public(self) -> dict[str, Any]:
        """JSON shape (``ledger-checkpoint/1``)."""
        return {"format": "ledger-checkpoint/1", "origin": self.origin, "size": self.size,
                "root": _b64(self.root), "note": self.note, "verifier_key": self.verifier_key,
                "created_at": self.created_at}


@dataclass(frozen=True)
class SealResult:
    """What :func:`seal` did: the latest checkpoint and how many leaves it added."""

    checkpoint: StoredCheckpoint
    added: int


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _stored(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row.size), bytes(row.root), str(row.note), str(row.verifier_key),
                            str(row.created_at))


def latest_checkpoint(ledger: GovernanceLedger, conn: Connection | None = None,
                      ) -> StoredCheckpoint | None:
    """The newest stored checkpoint, or None before the first seal."""
    if conn is None:
        with ledger.engine.connect() as c:
            return latest_checkpoint(ledger, c)
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
    return _stored(row) if row is not None else None


def checkpoint_at(ledger: GovernanceLedger, size: int, conn: Connection | None = None,
                  ) -> StoredCheckpoint | None:
    """The stored checkpoint at tree size *size*, if one was signed."""
    if conn is None:
        with ledger.engine.connect() as c:
            return checkpoint_at(ledger, size, c)
    row = conn.execute(select(checkpoints).where(checkpoints.c.size == size)).first()
    return _stored(row) if row is not None else None


# ----------------------------------------------------------------------------- sealing
def seal(ledger: GovernanceLedger, *, key: Ed25519PrivateKey | None = None,
         batch: int = SEAL_BATCH) -> SealResult:
    """Seal every event recorded since the last seal and sign a checkpoint at the new size.

    Returns the latest checkpoint (the existing one when nothing is new). Events are added in
    transactions of up to *batch* events; each commits the leaves, their nodes and the
    leaf→event map together, and the last one also the signed checkpoint. Concurrent sealers
    are serialised (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL).
    """
    if batch < 1:
        raise ProofRequestError(f"seal batch must be at least 1, got {batch}")
    private_key = key or signing_key(ledger.settings)
    added = 0
    while True:
        with write_intent(), ledger.engine.begin() as conn:
            if ledger.engine.dialect.name == "postgresql":
                conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_SEAL_LOCK})"))
            head = tree_head(conn)
            rows = event_page(conn, ledger.events_table, head.last_notification_id, batch)
            size = head.size
            store = SqlNodeStore(conn)
            tree = IncrementalTree(store, size)
            if rows:
                mapper = ledger.mapper
                tree.append([leaf_of(size + i, r, mapper) for i, r in enumerate(rows)])
                bulk_insert(conn, merkle_leaves, ("position", "notification_id"),
                            [(size + i, r.notification_id) for i, r in enumerate(rows)])
                added += len(rows)
            if len(rows) == batch:
                continue  # commit this part; more events may follow
            latest = latest_checkpoint(ledger, conn)
            if latest is not None and latest.size == tree.size:
                return SealResult(latest, added)
            origin = log_origin(ledger, conn)
            head_cp = cp.Checkpoint(origin, tree.size, tree.root())
            note = cp.sign_checkpoint(head_cp, origin, private_key)
            stored = StoredCheckpoint(
                tree.size, head_cp.root, note,
                cp.format_verifier_key(origin, private_key.public_key()), now().isoformat())
            conn.execute(insert(checkpoints).values(
                size=stored.size, root=stored.root, note=stored.note,
                verifier_key=stored.verifier_key, created_at=stored.created_at))
        log.info("sealed", added=added, size=stored.size, root=_b64(stored.root))
        return SealResult(stored, added)


# ----------------------------------------------------------------------------- proofs
def _checkpoint_for(ledger: GovernanceLedger, conn: Connection, size: int | None,
                    ) -> StoredCheckpoint:
    if size is None:
        found = latest_checkpoint(ledger, conn)
        if found is None:
            raise NotSealedError("the ledger has no signed checkpoint yet; run 'ledger checkpoint'")
        return found
    found = checkpoint_at(ledger, size, conn)
    if found is None:
        latest = latest_checkpoint(ledger, conn)
        hint = f"the latest is at size {latest.size}" if latest else "there is none yet"
        raise NotSealedError(f"no signed checkpoint at tree size {size}; {hint} "
                             "(omit --size for the latest)")
    return found


def inclusion_proof_document(ledger: GovernanceLedger, ref: str | int,
                             size: int | None = None) -> dict[str, Any]:
    """The ``ledger-inclusion-proof/1`` document for one event (a log position or
    KEY@VERSION) in the signed checkpoint at *size* (default: the latest) — exactly what
    ``scripts/verify-proof`` checks.
    """
    from ledger.audit import event_at

    ev = event_at(ledger, ref)
    with ledger.engine.connect() as conn:
        position = conn.execute(select(merkle_leaves.c.position).where(
            merkle_leaves.c.notification_id == ev.position)).scalar()
        if position is None:
            raise NotSealedError(
                f"event {ref} (log position {ev.position}) is not sealed yet; run 'ledger "
                "checkpoint' first")
        position = int(position)
        stored = _checkpoint_for(ledger, conn, size)
        if position >= stored.size:
            raise NotSealedError(
                f"event {ref} is leaf {position}, outside the checkpoint at size {stored.size}; "
                "ask for a later size")
        tree = IncrementalTree(SqlNodeStore(conn), tree_head(conn).size)
        proof = tree.inclusion_proof(position, stored.size)
        stored_leaf = SqlNodeStore(conn).get_nodes([(0, position)]).get((0, position))
    row = EventRow(ev.position, str(ev.aggregate_id), ev.version, ev.topic, ev.state)
    fields = record_fields(position, row, ledger.mapper)
    leaf = leaf_hash(fast_event_record_bytes(**fields))
    if stored_leaf != leaf:
        raise RecordMismatchError(
            f"event {ref} no longer matches its sealed leaf {position}: the log was altered; "
            "run 'ledger verify'")
    return {
        "format": INCLUSION_FORMAT,
        "leaf_index": position,
        "tree_size": stored.size,
        "leaf_hash": _b64(leaf),
        "record": event_record(**fields),
        "proof": [_b64(h) for h in proof],
        "root": _b64(stored.root),
        "checkpoint": stored.note,
        "verifier_key": stored.verifier_key,
    }


def consistency_proof_document(ledger: GovernanceLedger, from_size: int,
                               to_size: int | None = None) -> dict[str, Any]:
    """The ``ledger-consistency-proof/1`` document: the RFC 9162 proof that the tree at
    *from_size* is a prefix of the tree at *to_size* (default: the latest checkpoint), with
    both roots and the signed checkpoints stored at those sizes (``null`` where none is).
    """
    with ledger.engine.connect() as conn:
        target = _checkpoint_for(ledger, conn, to_size)
        tree = IncrementalTree(SqlNodeStore(conn), tree_head(conn).size)
        proof = tree.consistency_proof(from_size, target.size)
        old = checkpoint_at(ledger, from_size, conn)
        from_root = tree.root(from_size)
    return {
        "format": CONSISTENCY_FORMAT,
        "from_size": from_size,
        "to_size": target.size,
        "from_root": _b64(from_root),
        "to_root": _b64(target.root),
        "proof": [_b64(h) for h in proof],
        "from_checkpoint": old.note if old else None,
        "to_checkpoint": target.note,
        "verifier_key": target.verifier_key,
    }

