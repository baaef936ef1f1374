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
import os
import re
from binascii import b2a_base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Table, insert, select, text

from ledger.integrity import checkpoint as cp
from ledger.integrity import signer
from ledger.integrity.canonical import (
    MAX_SAFE_INTEGER,
    command_binding,
    event_record,
    event_record_v2,
    fast_event_record_bytes,
    fast_event_record_v2_bytes,
)
from ledger.integrity.errors import (
    IntegrityError,
    KeyFileError,
    LogForkError,
    LogIntegrityError,
    NotSealedError,
    RecordMismatchError,
    SignerRefusedError,
    WitnessRefusedError,
)
from ledger.integrity.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.integrity.sqlstore import (
    SqlNodeStore,
    checkpoints,
    log_identity,
    merkle_leaves,
    merkle_nodes,
    tree_head,
)
from ledger.integrity.tree import IncrementalTree, frontier_keys
from ledger.kernel.config import Settings, now
from ledger.kernel.eventlog import decode
from ledger.kernel.i18n import _
from ledger.kernel.logs import get_logger
from ledger.kernel.store import command_log, placeholder, write_intent

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper

    from ledger.kernel.ports import LedgerPort as GovernanceLedger

log = get_logger("ledger.integrity")

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
    decoded in full. Both give what ``ledger.kernel.eventlog.decode`` gives.
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
    """The format-1 leaf hash of the event *row* at leaf index *position* (leaves sealed by
    earlier releases)."""
    return leaf_hash(fast_event_record_bytes(**record_fields(position, row, mapper)))


@dataclass(frozen=True, slots=True)
class CommandRow:
    """One command-log row, as a format-2 leaf binds it (into its command's first event)."""

    command_id: str
    type: str
    actor: str
    recorded_at: str
    first: int
    last: int
    result: str

    def binding(self) -> dict[str, int | str]:
        return command_binding(command_id=self.command_id, type=self.type, actor=self.actor,
                               recorded_at=self.recorded_at, first=self.first, last=self.last,
                               result=self.result)

    @classmethod
    def of(cls, row: Sequence[Any]) -> CommandRow | None:
        """From (command_id, type, actor, recorded_at, first, last, result); None without
        events."""
        if row[4] is None:
            return None
        return cls(str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]),
                   int(row[5]), str(row[6]))


def record_fields_v2(position: int, row: EventRow, command: CommandRow | None,
                     mapper: Mapper[UUID] | None) -> dict[str, Any]:
    """The keyword arguments of ``canonical.event_record_v2`` for the event at a leaf."""
    fields = record_fields(position, row, mapper)
    fields["topic"] = row.topic
    fields["command"] = None if command is None else command.binding()
    return fields


def leaf_v2(position: int, row: EventRow, command: CommandRow | None,
            mapper: Mapper[UUID] | None = None) -> bytes:
    """The format-2 leaf hash of the event *row* at leaf index *position*; *command* is the
    command-log row when this event is its command's first (else None)."""
    return leaf_hash(fast_event_record_v2_bytes(**record_fields_v2(position, row, command,
                                                                   mapper)))


_TOPIC_JSON: dict[str, tuple[str, str]] = {}
"""Topic -> (topic, type name) as JSON strings, for :func:`fast_leaf_v2`."""


def fast_leaf_v2(position: int, notification_id: int, originator_id: object, version: int,
                 topic: str, state: bytes, command: CommandRow | None,
                 mapper: Mapper[UUID] | None = None) -> bytes:
    """:func:`leaf_v2` straight from the stored columns (as the write path has them): the
    record's parts are fed to SHA-256 in order, as :func:`stored_leaf` does for format 1; any
    unusual shape goes through :func:`leaf_v2`. A property test checks they agree."""
    names = _TOPIC_JSON.get(topic)
    if names is None and topic.__class__ is str:
        _module, colon, qualname = topic.partition(":")
        if colon and len(_TOPIC_JSON) < _TYPE_JSON_MAX:
            names = _TOPIC_JSON[topic] = (encode_basestring(topic), encode_basestring(qualname))
    if state.__class__ is not bytes:
        state = bytes(state)
    m = MAX_SAFE_INTEGER
    if (names is not None and state.startswith(_TIMESTAMP_PREFIX)
            and position.__class__ is int and notification_id.__class__ is int
            and version.__class__ is int and 0 <= position <= m
            and 0 <= notification_id <= m and 0 <= version <= m
            and (command is None or (0 <= command.first <= m and 0 <= command.last <= m))):
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
            if command is None:
                cmd = "null"
            else:
                e = encode_basestring
                cmd = (f'{{"actor":{e(command.actor)},"command_id":{e(command.command_id)},'
                       f'"first":{command.first},"last":{command.last},'
                       f'"recorded_at":{e(command.recorded_at)},"result_sha256":"'
                       f'{_sha256(command.result.encode("utf-8")).hexdigest()}",'
                       f'"type":{e(command.type)}}}')
            digest = _sha256(f'\x00{{"aggregate_id":"{agg}","command":{cmd},"leaf_format":2,'
                             f'"notification_id":{notification_id},"payload_b64":"'.encode())
            digest.update(b2a_base64(state, newline=False))
            digest.update(f'","position":{position},"recorded_at":{recorded_at},"topic":'
                          f'{names[0]},"type":{names[1]},"version":{version}}}'.encode())
            return digest.digest()
    row = EventRow(notification_id, uuid_text(originator_id), version, topic, state)
    return leaf_v2(position, row, command, mapper)


def leaf_record(position: int, row: EventRow, command: CommandRow | None, stored: bytes | None,
                mapper: Mapper[UUID] | None = None) -> dict[str, Any]:
    """The record (format 2, or 1 for a leaf of an earlier release) whose hash is the stored
    leaf *stored*; raises :class:`RecordMismatchError` when neither is."""
    fields = record_fields_v2(position, row, command, mapper)
    if stored is not None and leaf_hash(fast_event_record_v2_bytes(**fields)) == stored:
        return event_record_v2(**fields)
    del fields["topic"], fields["command"]
    if stored is not None and leaf_hash(fast_event_record_bytes(**fields)) == stored:
        return event_record(**fields)
    raise RecordMismatchError(
        _("the event at log position {notification_id} no longer matches its leaf {position} (the event, "
          "its command-log row or the leaf was altered); run 'ledger verify'").format(
            notification_id=row.notification_id, position=position))


def command_row_of(conn: Connection, first_notification_id: int) -> CommandRow | None:
    """The command-log row whose command's first event is at *first_notification_id*."""
    mark = placeholder(conn)
    row = conn.exec_driver_sql(
        "SELECT command_id, type, actor, recorded_at, first_notification_id, "
        f"last_notification_id, result FROM {command_log.name} "
        f"WHERE first_notification_id = {mark}", (first_notification_id,)).first()
    return None if row is None else CommandRow.of(tuple(row))


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


def any_leaf(position: int, notification_id: int, originator_id: object, version: int,
             topic: str, state: bytes, command: Sequence[Any] | None, sealed: bytes | None,
             mapper: Mapper[UUID] | None = None) -> bytes:
    """The event's leaf in the format its sealed leaf *sealed* has: format 2 (with *command*,
    the command-log row as stored, when this is its command's first event), or format 1 for a
    leaf of an earlier release. When neither matches, the format-2 leaf (a mismatch)."""
    row = EventRow(notification_id, uuid_text(originator_id), version, topic, bytes(state))
    leaf = leaf_v2(position, row, None if command is None else CommandRow.of(command), mapper)
    if leaf != sealed and sealed is not None:
        old = stored_leaf(position, notification_id, originator_id, version, topic, state,
                          mapper)
        if old == sealed:
            return old
    return leaf


# ----------------------------------------------------------------------------- keys
def key_path(settings: Settings) -> Path:
    """The signing key file of a ledger (``--signing-key`` / ``LEDGER_SIGNING_KEY`` / default)."""
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
            _("signing key file {path} does not exist; create it with 'ledger init' (or point "
              "--signing-key / LEDGER_SIGNING_KEY at the ledger's key)").format(path=path))
    return cp.load_private_key(path)


def _safe_name(text_: str) -> str:
    return _NAME_UNSAFE.sub("-", text_).strip("-") or "ledger"


def log_origin(ledger: GovernanceLedger, conn: Connection | None = None) -> str:
    """The log's origin (and key name): the current row of ``ledger_log_identity`` (made by
    the first write: ``zq-governance-ledger/<town>/<random log id>``); for a ledger of an
    earlier release not yet written to, that of its first checkpoint; before any, it is
    ``zq-governance-ledger/<town code>`` from the town bootstrap at the head of the log, else
    ``zq-governance-ledger/<database name>``.
    """
    if conn is None:
        with ledger.engine.connect() as c:
            return log_origin(ledger, c)
    current = current_origin(ledger, conn)
    if current is not None:
        return current
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
    """What :func:`seal` did: the latest checkpoint, how many leaves it newly signed, and
    the witnesses that gave no cosignature (unreachable, with the quorum met)."""

    checkpoint: StoredCheckpoint
    added: int
    unwitnessed: tuple[Any, ...] = ()


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
class _DictNodes:
    """A ``NodeStore`` in a dict: the signer's frontier plus what it appends to it."""

    def __init__(self, items: Sequence[tuple[int, int, bytes]] = ()) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {(lv, ix): h for lv, ix, h in items}

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self.nodes[k] for k in keys if k in self.nodes}

    def put_nodes(self, items: Sequence[tuple[int, int, bytes]]) -> None:
        self.nodes.update({(lv, ix): h for lv, ix, h in items})


def _refuse(message: str) -> SignerRefusedError:
    log.error("signer refused", reason=message)
    return SignerRefusedError(_("the signer refuses to sign: {message}").format(message=message))


def _stored_leaves(conn: Connection, lo: int, hi: int) -> dict[int, bytes]:
    rows = conn.exec_driver_sql(
        f"SELECT idx, hash FROM {merkle_nodes.name} WHERE level = 0 AND idx >= "
        f"{placeholder(conn)} AND idx < {placeholder(conn)}", (lo, hi)).all()
    return {int(i): bytes(h) for i, h in rows}


def _first_difference(conn: Connection, mine: Sequence[bytes], lo: int) -> int | None:
    """The first position from *lo* whose stored leaf differs from *mine* (or is missing)."""
    for start in range(0, len(mine), 50_000):
        stored = _stored_leaves(conn, lo + start, lo + start + 50_000)
        for i, leaf in enumerate(mine[start:start + 50_000]):
            if stored.get(lo + start + i) != leaf:
                return lo + start + i
    return None


def _new_leaves(ledger: GovernanceLedger, conn: Connection, state: signer.SignerState,
                size: int) -> list[bytes]:
    """The format-2 leaves of the events after the signer's last signed one, recomputed from
    their own stored bytes and command-log rows; checked against the leaf map."""
    mark = placeholder(conn)
    rows = conn.exec_driver_sql(
        f"SELECT e.id, e.originator_id, e.originator_version, e.topic, e.state, c.command_id, "
        f"c.type, c.actor, c.recorded_at, c.first_notification_id, c.last_notification_id, "
        f"c.result, l.position FROM {ledger.events_table.name} e "
        f"LEFT OUTER JOIN {command_log.name} c ON c.first_notification_id = e.id "
        f"LEFT OUTER JOIN {merkle_leaves.name} l ON l.notification_id = e.id "
        f"WHERE e.id > {mark} ORDER BY e.id", (state.last_notification_id,)).all()
    mapper = ledger.mapper
    leaves: list[bytes] = []
    for i, r in enumerate(rows):
        position = state.size + i
        if r[12] is None or int(r[12]) != position:
            where = "no leaf" if r[12] is None else f"leaf {r[12]}"
            raise _refuse(f"the event at log position {r[0]} should be leaf {position} but has "
                          f"{where}: the log or the leaf map was altered (run 'ledger verify')")
        command = None if r[5] is None else CommandRow.of(tuple(r[5:12]))
        ev = EventRow(int(r[0]), uuid_text(r[1]), int(r[2]), str(r[3]), bytes(r[4]))
        leaves.append(leaf_v2(position, ev, command, mapper))
    if state.size + len(leaves) != size:
        raise _refuse(f"the tree has {size} leaves but the log holds {len(leaves)} events after "
                      f"the {state.size} signed, so leaves {state.size + len(leaves)}.. cover "
                      "no event: the log or the leaf map was altered (run 'ledger verify')")
    return leaves


def _check_extension(ledger: GovernanceLedger, conn: Connection,
                     state: signer.SignerState, size: int) -> tuple[bytes, list[bytes], Any]:
    """Recompute the new root from the signer's state and the new events; refuse unless the
    database's tree is exactly that append-only extension. Returns (root, new leaves, the
    recomputed frontier store)."""
    settings = ledger.settings
    if size < state.size:
        raise LogForkError(
            _("the database's tree has {size} leaves, fewer than the {size2} the signer last signed: the "
              "log was rewound, or this is an older copy; first missing position {size}. Restore the "
              "latest backup, or start a new log on purpose with 'ledger restore --new-origin'").format(
                size=size, size2=state.size))
    tree = IncrementalTree(SqlNodeStore(conn), size)
    try:
        old_root = tree.root(state.size) if state.size else None
    except IntegrityError:
        old_root = None
    if state.size and old_root != state.root:
        mine = signer.signed_leaves(settings, 0, state.size)
        first = _first_difference(conn, mine, 0)
        where = (f"first differing position {first}" if first is not None else
                 "every leaf is as signed but interior nodes differ (run 'ledger verify --full')")
        raise _refuse(f"the database's tree at the signed size {state.size} is not the tree "
                      f"the signer signed ({where}): history was rewritten")
    leaves = _new_leaves(ledger, conn, state, size)
    store = _DictNodes(state.frontier)
    mine_tree = IncrementalTree(store, state.size)
    mine_tree.append(leaves)
    root = mine_tree.root()
    try:
        stored_root = tree.root(size)
    except IntegrityError:
        stored_root = None
    if stored_root != root:
        first = _first_difference(conn, leaves, state.size)
        where = (f"first differing position {first}" if first is not None else
                 "the leaves agree but interior nodes differ (run 'ledger verify --full')")
        raise _refuse(f"the database's tree at size {size} is not the extension of the signed "
                      f"tree by the events' own bytes ({where})")
    return root, leaves, store


def _first_state(ledger: GovernanceLedger, conn: Connection, size: int,
                 ) -> tuple[bytes, list[bytes], Any]:
    """The signer's first signature with this release (no state beside its key yet): it takes
    the database's tree as it is (trust on first use), checked against the newest stored
    checkpoint."""
    tree = IncrementalTree(SqlNodeStore(conn), size)
    root = tree.root()
    latest = latest_checkpoint(ledger, conn)
    if latest is not None and (latest.size > size or tree.root(latest.size) != latest.root):
        raise _refuse(f"the database's tree does not extend its own checkpoint at size "
                      f"{latest.size} (run 'ledger verify')")
    leaves: list[bytes] = []
    for start in range(0, size, 50_000):
        stored = _stored_leaves(conn, start, min(size, start + 50_000))
        leaves += [stored[i] for i in range(start, min(size, start + 50_000))]
    keys = frontier_keys(size)
    found = SqlNodeStore(conn).get_nodes(keys)
    return root, leaves, _DictNodes([(lv, ix, found[(lv, ix)]) for lv, ix in keys])


def current_origin(ledger: GovernanceLedger, conn: Connection) -> str | None:
    """The origin in ``ledger_log_identity`` (its newest row), if any."""
    value = conn.execute(select(log_identity.c.origin).order_by(log_identity.c.seq.desc())
                         .limit(1)).scalar()
    return None if value is None else str(value)


def seal(ledger: GovernanceLedger, *, key: Ed25519PrivateKey | None = None,
         policy: Any = None) -> SealResult:
    """Sign a checkpoint of the tree as it is now, if the signer can vouch for it.

    Every event already has its leaf (written in its own transaction). An earlier release's
    unsealed tail is sealed first, by an empty write transaction. Then the signer recomputes
    the new root from its own record of the last checkpoint it signed (beside its key,
    ``ledger.integrity.signer``) plus the new events' own stored bytes, and signs only if the
    database's tree is exactly that append-only extension; otherwise it raises
    ``SignerRefusedError`` (or ``LogForkError``) naming the first position that differs, and
    signs nothing. With a witness *policy* (default: ``LEDGER_WITNESS_POLICY``) the note is
    sent to its witnesses and stored with their cosignatures; a witness that refuses, or a
    quorum not reached, raises ``WitnessRefusedError`` after the checkpoint is stored.
    Returns the latest checkpoint (the existing one when nothing is new).
    """
    private_key = key or signing_key(ledger.settings)
    settings = ledger.settings
    state = signer.load_state(settings)
    try:
        ledger.write_nothing()  # checks the tree; seals an earlier release's tail
    except LogIntegrityError as e:
        raise _refuse(str(e)) from None
    with write_intent(), ledger.engine.begin() as conn:
        if ledger.engine.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_SEAL_LOCK})"))
        head = tree_head(conn)
        size = head.size
        origin = current_origin(ledger, conn) or log_origin(ledger, conn)
        if state is not None and state.origin != origin:
            raise LogForkError(
                _("the database's log is {origin!r} but the signer last signed {origin2!r}; restore the "
                  "latest backup, or start a new log on purpose with 'ledger restore --new-origin'").format(
                    origin=origin, origin2=state.origin))
        latest = latest_checkpoint(ledger, conn)
        if state is None:
            root, new_leaves, frontier = _first_state(ledger, conn, size)
        else:
            root, new_leaves, frontier = _check_extension(ledger, conn, state, size)
        if latest is not None and latest.size == size and (state is None or state.size == size):
            if state is None:
                _save(settings, origin, size, root, frontier, head.last_notification_id,
                      latest.note, new_leaves)
            return SealResult(latest, 0)
        head_cp = cp.Checkpoint(origin, size, root)
        note = cp.sign_checkpoint(head_cp, origin, private_key)
        _save(settings, origin, size, root, frontier, head.last_notification_id, note, new_leaves)
    refusals: list[Any] = []
    policy = policy if policy is not None else _configured_policy()
    if policy is not None:
        note, refusals = _witness(ledger, note, policy, state.size if state else 0, size)
    stored = StoredCheckpoint(size, root, note,
                              cp.format_verifier_key(origin, private_key.public_key()),
                              now().isoformat())
    with write_intent(), ledger.engine.begin() as conn:
        if checkpoint_at(ledger, size, conn) is None:
            conn.execute(insert(checkpoints).values(
                size=stored.size, root=stored.root, note=stored.note,
                verifier_key=stored.verifier_key, created_at=stored.created_at))
    log.info("signed", size=size, root=_b64(root), witnesses=policy is not None)
    if policy is not None:
        _check_witnessed(note, policy, origin, private_key, refusals)
    return SealResult(stored, len(new_leaves) if state is not None else 0, tuple(refusals))


def _save(settings: Settings, origin: str, size: int, root: bytes, frontier: Any,
          last_nid: int, note: str, new_leaves: Sequence[bytes]) -> None:
    keys = frontier_keys(size)
    nodes = frontier.get_nodes(keys)
    signer.save_state(settings, signer.SignerState(
        origin, size, root, tuple((lv, ix, nodes[(lv, ix)]) for lv, ix in keys), last_nid, note,
        now().isoformat()), new_leaves)


def _configured_policy() -> Any:
    path = os.environ.get("LEDGER_WITNESS_POLICY")
    if not path:
        return None
    from ledger.integrity import cosign

    return cosign.load_policy(path)


def _witness(ledger: GovernanceLedger, note: str, policy: Any, old_size: int, size: int,
             ) -> tuple[str, list[Any]]:
    from ledger.integrity import witness_client

    def proof_for(old: int) -> list[bytes]:
        if not 0 < old < size:
            return []
        with ledger.engine.connect() as conn:
            return IncrementalTree(SqlNodeStore(conn), size).consistency_proof(old, size)

    cosigned, refusals = witness_client.submit_all(note, policy, old_size, proof_for)
    return cosigned, list(refusals)


def _check_witnessed(note: str, policy: Any, origin: str, private_key: Ed25519PrivateKey,
                     refusals: list[Any]) -> None:
    from ledger.integrity import cosign

    said = "; ".join(str(r) for r in refusals)
    try:
        cosign.check_quorum(note, policy, origin, private_key.public_key())
    except IntegrityError as e:
        raise WitnessRefusedError(f"{e}" + (f" ({said})" if said else "")) from None
    refused = [r for r in refusals if r.refused]
    if refused:  # a witness said no: that is news, whatever the quorum
        raise WitnessRefusedError("checkpoint stored with its quorum, but witnesses refused "
                                  "it: " + "; ".join(str(r) for r in refused))
    for r in refusals:  # unreachable, the quorum met without it
        log.warning("witness unreachable", witness=r.witness, reason=r.message)


# ----------------------------------------------------------------------------- proofs
def _checkpoint_for(ledger: GovernanceLedger, conn: Connection, size: int | None,
                    ) -> StoredCheckpoint:
    if size is None:
        found = latest_checkpoint(ledger, conn)
        if found is None:
            raise NotSealedError(_("the ledger has no signed checkpoint yet; run 'ledger checkpoint'"))
        return found
    found = checkpoint_at(ledger, size, conn)
    if found is None:
        latest = latest_checkpoint(ledger, conn)
        hint = f"the latest is at size {latest.size}" if latest else "there is none yet"
        raise NotSealedError(_("no signed checkpoint at tree size {size}; {hint} (omit --size for the "
                               "latest)").format(size=size, hint=hint))
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
                _("event {ref} (log position {position}) is not sealed yet; run 'ledger "
                  "checkpoint' first").format(
                    ref=ref, position=ev.position))
        position = int(position)
        if size is None:
            latest = latest_checkpoint(ledger, conn)
            if latest is None or position >= latest.size:
                at = f"the latest is at size {latest.size}" if latest else "there is none yet"
                raise NotSealedError(
                    _("event {ref} (log position {position}, Merkle leaf index {leaf}) is not "
                      "sealed yet by a signed checkpoint ({at}); run 'ledger checkpoint' first"
                      ).format(ref=ref, position=ev.position, leaf=position, at=at))
        stored = _checkpoint_for(ledger, conn, size)
        if position >= stored.size:
            raise NotSealedError(
                _("event {ref} (log position {position}) is Merkle leaf index {leaf}, outside "
                  "the checkpoint at size {size}; ask for a later size").format(
                      ref=ref, position=ev.position, leaf=position, size=stored.size))
        tree = IncrementalTree(SqlNodeStore(conn), tree_head(conn).size)
        proof = tree.inclusion_proof(position, stored.size)
        sealed = SqlNodeStore(conn).get_nodes([(0, position)]).get((0, position))
        command = command_row_of(conn, ev.position)
    row = EventRow(ev.position, str(ev.aggregate_id), ev.version, ev.topic, ev.state)
    try:
        record = leaf_record(position, row, command, sealed, ledger.mapper)
    except RecordMismatchError:
        raise RecordMismatchError(
            _("event {ref} (log position {position}) no longer matches its sealed Merkle leaf "
              "(index {leaf}): the log, its command-log row or the leaf was altered; run "
              "'ledger verify'").format(ref=ref, position=ev.position, leaf=position)) from None
    leaf = sealed
    assert leaf is not None
    # A proof is checked before it is served: stored interior nodes can be altered too.
    if not verify_inclusion(leaf, position, stored.size, proof, stored.root):
        raise RecordMismatchError(
            _("the stored tree gives no valid proof of leaf {position} in the checkpoint at size {size}: "
              "interior nodes were altered; run 'ledger verify --full'").format(
                position=position, size=stored.size))
    return {
        "format": INCLUSION_FORMAT,
        "origin": stored.origin,
        "leaf_index": position,
        "tree_size": stored.size,
        "leaf_hash": _b64(leaf),
        "record": record,
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
        from_root = old.root if old is not None else tree.root(from_size)
    # Checked before it is served: the stored nodes it is built from can be altered.
    if not verify_consistency(from_size, target.size, proof, from_root, target.root):
        raise RecordMismatchError(
            _("the stored tree gives no valid consistency proof from size {from_size} to {size}: interior "
              "nodes were altered; run 'ledger verify --full'").format(
                from_size=from_size, size=target.size))
    return {
        "format": CONSISTENCY_FORMAT,
        "origin": target.origin,
        "from_size": from_size,
        "to_size": target.size,
        "from_root": _b64(from_root),
        "to_root": _b64(target.root),
        "proof": [_b64(h) for h in proof],
        "from_checkpoint": old.note if old else None,
        "to_checkpoint": target.note,
        "verifier_key": target.verifier_key,
    }

