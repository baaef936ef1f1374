"""Snapshots of aggregate state: a cache beside the log, checked before it is used.

A snapshot holds one aggregate's state at one version, in the library's own form (the
``Snapshot`` event of ``eventsourcing``, stored through the ledger's mapper), so the state of
an aggregate with thousands of events is one decode plus the events after the snapshot
instead of a replay of all of them. Snapshots are **not** part of the audited log: they are
not sealed, nothing is decided from them, and they can be deleted and taken again at any
time. So none is trusted blindly (docs/integrity.md, "Snapshots"):

- every row carries ``digest``, the SHA-256 of all its other columns, and ``signature``, an
  Ed25519 signature of that digest by the ledger's signing key (the checkpoint key: taking
  snapshots needs the key file, like ``ledger checkpoint``), so a row edited in any way,
  even with its digest recomputed, no longer verifies; the ledger version that made it
  (``made_by``; another version's snapshots are not used, as the aggregate code may
  differ); and what it covers: the notification id (``position``) and the SHA-256 of the
  stored event at its version (``head_sha256``) and a digest of all the events up to it
  (``events_sha256``);
- before use (:func:`aggregate_state`), the cheap checks run: the digest and the signature
  (with the public half of the key file, else the verifier key stored with the first
  checkpoint), the version, the event at the snapshot's version is still the one it was
  taken after (same notification id, same bytes) and the aggregate has exactly that many
  events up to it. A snapshot that fails is skipped (the next older one is tried, else the
  events are replayed) and reported in the answer's ``ignored_snapshots``; it is never
  used;
- ``ledger verify --snapshots`` (:func:`check_snapshots`) does the full check of every
  stored snapshot: the events digest recomputed from the events, and the state replayed from
  the events by the library equal to the state the snapshot decodes to.

Snapshots are taken by an explicit step (``ledger snapshot``, :func:`take_snapshots`), outside
the command transactions: the state written is always replayed from the events by the
library, never built on an earlier snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import DBAPIError

from ledger import __version__
from ledger.kernel.config import Settings, now
from ledger.kernel.errors import AggregateNotFoundError, LedgerError
from ledger.kernel.eventlog import gc_paused
from ledger.kernel.i18n import _
from ledger.kernel.logs import get_logger
from ledger.kernel.store import ID, id_param, metadata, placeholder, write_intent

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

log = get_logger("ledger.snapshots")

__all__ = [
    "SNAPSHOT_EVERY",
    "SnapshotCheck",
    "aggregate_state",
    "check_snapshots",
    "snapshots",
    "take_snapshots",
]

SNAPSHOT_EVERY = 500
"""``ledger snapshot`` without keys snapshots aggregates with at least this many events since
their latest snapshot."""

snapshots = Table(
    "ledger_snapshots",
    metadata,
    Column("aggregate_id", String(36), nullable=False),
    Column("version", ID, nullable=False),
    Column("position", ID, nullable=False),
    Column("head_sha256", LargeBinary(32), nullable=False),
    Column("events_sha256", LargeBinary(32), nullable=False),
    Column("topic", Text(), nullable=False),
    Column("state", LargeBinary(), nullable=False),
    Column("made_by", String(40), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    Column("tree_size", ID, nullable=True),
    Column("tree_root", LargeBinary(32), nullable=True),
    PrimaryKeyConstraint("aggregate_id", "version", name="ledger_snapshots_pk"),
)
"""One row per snapshot: the aggregate (UUID text) and version, the notification id of the
event at that version, the SHA-256 of that event's stored bytes and the digest of all its
events up to it, the library's stored snapshot (topic and state bytes), the ledger version
that made it, when, the SHA-256 of all of that (``digest``) and the signing key's Ed25519
signature of the digest (``signature``); the Merkle tree's size and root when it was taken
(``tree_size``, ``tree_root``; null in rows of earlier releases, which are not used)."""

_EVENTS_DOMAIN = b"ledger-snapshot-events/1\n"
_ROW_DOMAIN = b"ledger-snapshot/1\n"
_SIGNED_DOMAIN = b"ledger-snapshot-signature/1\n"


class SnapshotError(LedgerError):
    """Raised when a snapshot is asked for something it cannot do (a version the aggregate
    does not have)."""

    code = "snapshot"


# ----------------------------------------------------------------------------- digests
class EventsDigest:
    """SHA-256 over an aggregate's stored events in version order, each framed as
    ``"<notification id> <version> <topic length> <state length>\\n" topic state``."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(_EVENTS_DOMAIN)

    def add(self, notification_id: int, version: int, topic: str, state: bytes) -> None:
        t = topic.encode("utf-8")
        self._hash.update(b"%d %d %d %d\n" % (notification_id, version, len(t), len(state)))
        self._hash.update(t)
        self._hash.update(state)

    def digest(self) -> bytes:
        return self._hash.digest()


@dataclass(frozen=True)
class SnapshotRow:
    """A stored snapshot row (see :data:`snapshots`)."""

    aggregate_id: str
    version: int
    position: int
    head_sha256: bytes
    events_sha256: bytes
    topic: str
    state: bytes
    made_by: str
    created_at: str
    digest: bytes
    signature: bytes
    tree_size: int | None = None
    tree_root: bytes | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> SnapshotRow:
        return cls(str(row[0]), int(row[1]), int(row[2]), bytes(row[3]), bytes(row[4]),
                   str(row[5]), bytes(row[6]), str(row[7]), str(row[8]), bytes(row[9]),
                   bytes(row[10]), None if row[11] is None else int(row[11]),
                   None if row[12] is None else bytes(row[12]))

    def signature_ok(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, _SIGNED_DOMAIN + self.digest)
        except InvalidSignature:
            return False
        return True

    def computed_digest(self) -> bytes:
        """SHA-256 over every other column, each length-framed."""
        h = hashlib.sha256(_ROW_DOMAIN)
        for text in (self.aggregate_id, str(self.version), str(self.position), self.topic,
                     self.made_by, self.created_at):
            part = text.encode("utf-8")
            h.update(b"%d\n" % len(part))
            h.update(part)
        for blob in (self.head_sha256, self.events_sha256, self.state):
            h.update(b"%d\n" % len(blob))
            h.update(blob)
        if self.tree_size is not None or self.tree_root is not None:  # rows of this release
            size = str(self.tree_size).encode()
            root = self.tree_root or b""
            h.update(b"tree %d\n" % len(size))
            h.update(size)
            h.update(b"%d\n" % len(root))
            h.update(root)
        return h.digest()

    def public(self) -> dict[str, Any]:
        return {"aggregate_id": self.aggregate_id, "version": self.version,
                "position": self.position, "made_by": self.made_by,
                "created_at": self.created_at, "bytes": len(self.state),
                "tree_size": self.tree_size}


_COLUMNS = (snapshots.c.aggregate_id, snapshots.c.version, snapshots.c.position,
            snapshots.c.head_sha256, snapshots.c.events_sha256, snapshots.c.topic,
            snapshots.c.state, snapshots.c.made_by, snapshots.c.created_at, snapshots.c.digest,
            snapshots.c.signature, snapshots.c.tree_size, snapshots.c.tree_root)


def public_state(agg: Any) -> dict[str, Any]:
    """An aggregate's attributes (leading underscores dropped, as ``audit.as_of`` shows
    them), ``id`` and ``version`` first whether it was replayed or restored from a snapshot."""
    out = {"id": agg.id, "version": agg.version}
    out.update((k.lstrip("_"), v) for k, v in vars(agg).items()
               if k not in ("_pending_events", "_id", "_version"))
    return out


# ----------------------------------------------------------------------------- reading


def _event_rows(conn: Connection, table: str, agg_id: UUID, after: int = 0,
                upto: int | None = None) -> list[tuple[int, int, str, bytes]]:
    """(notification id, version, topic, state) of the aggregate's events with
    *after* < version <= *upto*, in version order, through the driver's cursor."""
    m = placeholder(conn)
    sql = (f"SELECT id, originator_version, topic, state FROM {table} "
           f"WHERE originator_id = {m} AND originator_version > {m}")
    params: tuple[Any, ...] = (id_param(conn, agg_id), after)
    if upto is not None:
        sql += f" AND originator_version <= {m}"
        params += (upto,)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql + " ORDER BY originator_version", params)
        return [(int(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in cur.fetchall()]
    finally:
        cur.close()


def replay(mapper: Mapper[UUID], agg_id: UUID, rows: Sequence[tuple[int, int, str, bytes]],
            agg: Any = None) -> Any:
    """Apply the stored events *rows* to *agg* (None: from the start), as the library's
    repository does (``mutate`` of each domain event in turn)."""
    for _nid, version, topic, state in rows:
        event: Any = mapper.to_domain_event(StoredEvent(
            originator_id=agg_id, originator_version=version, topic=topic, state=state))
        agg = event.mutate(agg)
    return agg


def _public_key(ledger: GovernanceLedger, conn: Connection) -> Ed25519PublicKey | None:
    """The key snapshot signatures are checked with: the public half of the ledger's key
    file, else the verifier key stored with the first checkpoint, else none."""
    from ledger.integrity import checkpoint as cp
    from ledger.integrity.sealer import key_path, signing_key
    from ledger.integrity.sqlstore import checkpoints

    path = key_path(ledger.settings)
    if path.exists():
        stat = path.stat()
        return _file_public_key(str(path), stat.st_mtime_ns, stat.st_size,
                                lambda: signing_key(ledger.settings).public_key())
    stored = conn.execute(select(checkpoints.c.verifier_key).order_by(checkpoints.c.size)
                          .limit(1)).scalar()
    return None if stored is None else cp.parse_verifier_key(str(stored))[1]


_KEYS: dict[tuple[str, int, int], Ed25519PublicKey] = {}


def _file_public_key(path: str, mtime: int, size: int,
                     load: Callable[[], Ed25519PublicKey]) -> Ed25519PublicKey:
    """The public half of the key file, loaded once per version of the file."""
    found = _KEYS.get((path, mtime, size))
    if found is None:
        found = _KEYS[(path, mtime, size)] = load()
    return found


_UPGRADED: set[str] = set()


def ensure_tree_columns(engine: Engine) -> None:
    """Add ``tree_size`` and ``tree_root`` to a ``ledger_snapshots`` table of an earlier
    release (nullable: its rows read as before, and are not used until taken again)."""
    url = engine.url.render_as_string(hide_password=False)
    if url in _UPGRADED:
        return
    with engine.connect() as conn:
        have = {c["name"] for c in inspect(conn).get_columns(snapshots.name)}
    wanted = [("tree_size", "BIGINT"),
              ("tree_root", "BYTEA" if engine.dialect.name == "postgresql" else "BLOB")]
    for name, sql_type in wanted:
        if name in have:
            continue
        try:
            with write_intent(), engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {snapshots.name} ADD COLUMN {name} {sql_type}")
        except DBAPIError:  # another process added it meanwhile
            with engine.connect() as conn:
                if name not in {c["name"] for c in inspect(conn).get_columns(snapshots.name)}:
                    raise
    _UPGRADED.add(url)


RECORD_SUFFIX = ".snapshots"


def record_path(settings: Settings) -> Path:
    """The signer's record of the snapshots it took: ``<key file>.snapshots`` beside the
    signing key (owner-only), one line per snapshot, the hex of its digest."""
    from ledger.integrity.sealer import key_path

    path = key_path(settings)
    return path.with_name(path.name + RECORD_SUFFIX)


def _record(settings: Settings, digest: bytes) -> None:
    """Append *digest* to the record beside the key (created owner-only), synced."""
    fd = os.open(record_path(settings), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, digest.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


_RECORDS: dict[tuple[str, int, int], frozenset[bytes]] = {}


def recorded_digests(settings: Settings) -> frozenset[bytes] | None:
    """The digests of the snapshots the signer took (its record beside the key, read once
    per version of the file), or None when there is no record here."""
    path = record_path(settings)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _RECORDS.get(key)
    if found is None:
        found = frozenset(bytes.fromhex(line) for line in path.read_text("ascii").split()
                          if len(line) == 64)
        _RECORDS.clear()
        _RECORDS[key] = found
    return found


def tree_at(conn: Connection) -> tuple[int, bytes]:
    """The Merkle tree's (size, root) as stored now."""
    from ledger.integrity.sqlstore import SqlNodeStore, tree_head
    from ledger.integrity.tree import IncrementalTree

    size = tree_head(conn).size
    return size, IncrementalTree(SqlNodeStore(conn), size).root()


def _tree_rejection(conn: Connection, row: SnapshotRow) -> str | None:
    """Why the snapshot's recorded tree does not hold: the root the stored tree has at the
    recorded size is not the recorded root, or the event it was taken after is not inside it."""
    from ledger.integrity.errors import IntegrityError
    from ledger.integrity.sqlstore import SqlNodeStore, merkle_leaves, tree_head
    from ledger.integrity.tree import IncrementalTree

    if row.tree_size is None or row.tree_root is None:
        return ("it records no tree size and root (taken by an earlier release): take it "
                "again")
    size = row.tree_size
    head = tree_head(conn).size
    if size > head:
        return f"it was taken at tree size {size}, but the tree has {head} leaves"
    try:
        root = IncrementalTree(SqlNodeStore(conn), head).root(size)
    except IntegrityError as e:
        return f"the tree's root at size {size} cannot be computed ({e})"
    if root != row.tree_root:
        return (f"the tree's root at size {size} is not the root it was taken at (the log or "
                "the tree was rewritten)")
    leaf = conn.exec_driver_sql(
        f"SELECT position FROM {merkle_leaves.name} WHERE notification_id = "
        f"{placeholder(conn)}", (row.position,)).scalar()
    if leaf is None or int(leaf) >= size:
        return f"the event it was taken after is not in the tree at size {size}"
    return None


def _rejection(conn: Connection, table: str, row: SnapshotRow,
               public_key: Ed25519PublicKey | None, settings: Settings) -> str | None:
    """Why the snapshot *row* must not be used (the checks before use), or None."""
    if row.computed_digest() != row.digest:
        return "its digest does not match its content (the row was altered)"
    if public_key is None:
        return "there is no key to check its signature with (no key file, no checkpoint)"
    if not row.signature_ok(public_key):
        return "its signature does not verify with the ledger's key (altered or forged)"
    if row.made_by != __version__:
        return f"it was made by ledger {row.made_by}, this is {__version__}"
    if row.tree_size is None or row.tree_root is None:
        return ("it records no tree size and root (taken by an earlier release): take it "
                "again")
    recorded = recorded_digests(settings)
    if recorded is None:
        return (f"there is no record of the snapshots the signer took here "
                f"({record_path(settings).name} beside the signing key), so a re-signed one "
                "cannot be told apart")
    if row.digest not in recorded:
        return ("the signer never took it (not in its record beside the key): re-signed or "
                "forged")
    reason = _tree_rejection(conn, row)
    if reason is not None:
        return reason
    rows = _event_rows(conn, table, UUID(row.aggregate_id), 0, row.version)
    head = rows[-1] if rows else None
    if head is None or head[1] != row.version or head[0] != row.position \
            or hashlib.sha256(head[3]).digest() != row.head_sha256:
        return f"the event at version {row.version} is not the one it was taken after"
    if len(rows) != row.version:
        return (f"the aggregate has {len(rows)} events up to version {row.version}, not "
                f"{row.version}")
    digest = EventsDigest()
    for nid, version, topic, state in rows:
        digest.add(nid, version, topic, state)
    if digest.digest() != row.events_sha256:
        return "the events up to its version are not the ones it was taken from"
    return None


def aggregate_state(ledger: GovernanceLedger, key: str, version: int | None = None, *,
                    public_key: Ed25519PublicKey | None = None) -> dict[str, Any]:
    """The state of the aggregate *key* at *version* (default: its latest), from the latest
    usable snapshot at or before it and the events after that snapshot.

    Returns ``key``, ``aggregate_id``, ``type``, ``version``, ``state`` (the aggregate's
    attributes), ``snapshot`` (the snapshot used and how many events were applied after it, or
    null) and ``ignored_snapshots`` (snapshots that failed their checks, with the reason).
    Signatures are checked with *public_key* (default: see :func:`_public_key`).
    """
    if version is not None and version < 1:
        raise SnapshotError(_("version must be at least 1, got {version}").format(version=version))
    _kind, _key, agg_id = ledger.resolve_key(key)
    ensure_tree_columns(ledger.engine)
    table = ledger.events_table.name
    s = snapshots.c
    query = select(*_COLUMNS).where(s.aggregate_id == str(agg_id))
    if version is not None:
        query = query.where(s.version <= version)
    ignored: list[dict[str, Any]] = []
    used: SnapshotRow | None = None
    agg: Any = None
    mapper = ledger.mapper
    with ledger.engine.connect() as conn:
        looked_up = public_key is not None
        while True:  # the newest first; an older one only if it fails its checks
            raw = conn.execute(query.order_by(s.version.desc()).limit(1)).first()
            if raw is None:
                break
            if not looked_up:
                public_key, looked_up = _public_key(ledger, conn), True
            row = SnapshotRow.from_row(raw)
            query = query.where(s.version < row.version)
            reason = _rejection(conn, table, row, public_key, ledger.settings)
            if reason is None:
                try:
                    with gc_paused():
                        agg = mapper.to_domain_event(StoredEvent(
                            originator_id=agg_id, originator_version=row.version,
                            topic=row.topic, state=row.state)).mutate(None)  # type: ignore[attr-defined]
                except Exception as e:  # noqa: BLE001 - any undecodable snapshot is skipped
                    reason = f"it cannot be decoded ({type(e).__name__}: {e})"
            if reason is not None:
                log.warning("snapshot ignored", aggregate=row.aggregate_id, version=row.version,
                            reason=reason)
                ignored.append({"version": row.version, "reason": reason})
                continue
            used = row
            break
        tail = _event_rows(conn, table, agg_id, used.version if used else 0, version)
    agg = replay(mapper, agg_id, tail, agg)
    if agg is None:
        raise AggregateNotFoundError(_("no events for {key!r}").format(key=key))
    if version is not None and agg.version != version:
        raise SnapshotError(_("{key!r} has {version} versions, not {version2}").format(
                                key=key, version=agg.version, version2=version))
    return {
        "key": key,
        "aggregate_id": str(agg_id),
        "type": type(agg).__name__,
        "version": agg.version,
        "state": public_state(agg),
        "snapshot": None if used is None else {**used.public(), "events_after": len(tail)},
        "ignored_snapshots": ignored,
    }


# ----------------------------------------------------------------------------- writing
def _due(conn: Connection, table: str, every: int) -> list[UUID]:
    """Aggregates with at least *every* events after their latest snapshot."""
    latest = {str(a): int(v) for a, v in conn.execute(
        select(snapshots.c.aggregate_id, snapshots.c.version).order_by(snapshots.c.version))}
    out = []
    for raw_id, head in conn.exec_driver_sql(
            f"SELECT originator_id, max(originator_version) FROM {table} "
            f"GROUP BY originator_id HAVING max(originator_version) >= {int(every)}"):
        agg_id = raw_id if isinstance(raw_id, UUID) else UUID(bytes=bytes(raw_id))
        if int(head) - latest.get(str(agg_id), 0) >= every:
            out.append(agg_id)
    return out


def take_snapshots(ledger: GovernanceLedger, keys: Sequence[str] = (), *,
                   every: int = SNAPSHOT_EVERY, key: Ed25519PrivateKey | None = None,
                   ) -> list[dict[str, Any]]:
    """Snapshot the aggregates *keys* at their latest version, or (no keys) every aggregate
    with at least *every* events since its latest snapshot. Returns one entry per aggregate
    (``new`` is false where a snapshot at that version existed already and was kept).

    Each state is replayed from all the aggregate's events by the library's own mapper (never
    from an earlier snapshot); the digest of those events is computed in the same pass.
    Each snapshot is written in its own short transaction; one that exists already is kept.
    Rows are signed with *key* (default: the ledger's signing key file).
    """
    if every < 1:
        raise SnapshotError(_("--every must be at least 1, got {every}").format(every=every))
    if key is None:
        from ledger.integrity.sealer import signing_key

        key = signing_key(ledger.settings)
    ensure_tree_columns(ledger.engine)
    table = ledger.events_table.name
    with ledger.engine.connect() as conn:
        targets = ([ledger.resolve_key(k)[2] for k in keys] if keys
                   else _due(conn, table, every))
    written = []
    for agg_id in targets:
        with ledger.engine.connect() as conn:
            rows = _event_rows(conn, table, agg_id)
            tree_size, tree_root = tree_at(conn)  # read after the events: it covers them
        if not rows:
            raise AggregateNotFoundError(_("no events for aggregate {agg_id}").format(agg_id=agg_id))
        digest = EventsDigest()
        for nid, version, topic, state in rows:
            digest.add(nid, version, topic, state)
        agg = replay(ledger.mapper, agg_id, rows)
        stored = ledger.mapper.to_stored_event(Snapshot.take(agg))
        head = rows[-1]
        row = SnapshotRow(str(agg_id), head[1], head[0], hashlib.sha256(head[3]).digest(),
                          digest.digest(), stored.topic, stored.state, __version__,
                          now().isoformat(), b"", b"", tree_size, tree_root)
        digest_ = row.computed_digest()
        row = SnapshotRow(**{**vars(row), "digest": digest_,
                             "signature": key.sign(_SIGNED_DOMAIN + digest_)})
        with write_intent(), ledger.engine.begin() as conn:
            exists = conn.execute(select(snapshots.c.version).where(and_(
                snapshots.c.aggregate_id == row.aggregate_id,
                snapshots.c.version == row.version))).first()
            if exists is None:
                # The signer's record first: a row it has no record of is never used.
                _record(ledger.settings, digest_)
                conn.execute(insert(snapshots).values(**vars(row)))
        if exists is None:
            log.info("snapshot taken", aggregate=row.aggregate_id, version=row.version,
                     bytes=len(row.state))
        written.append({"type": type(agg).__name__, **row.public(), "new": exists is None})
    return written


# ----------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class SnapshotCheck:
    """One problem with a stored snapshot: its aggregate and version, a kind, a detail."""

    aggregate_id: str
    version: int
    kind: str
    detail: str


def _same_state(mapper: Mapper[UUID], a: Any, b: Any) -> bool:
    if public_state(a) == public_state(b):
        return True
    # Attribute objects without their own equality: compare their stored JSON, keys sorted.
    def canonical(agg: Any) -> str:
        data = mapper.transcoder.encode(Snapshot.take(agg).state)
        return json.dumps(json.loads(data), sort_keys=True)
    return canonical(a) == canonical(b)


def check_snapshots(ledger: GovernanceLedger, public_key: Ed25519PublicKey,
                    progress: Callable[[int], None] | None = None) -> Iterator[SnapshotCheck]:
    """The full check of every stored snapshot (``verify --snapshots``): the row's digest and
    its signature (with *public_key*, the key ``verify`` checks checkpoints with), that the
    signer's record beside the key (where there is one) lists it, the tree it was taken at
    (its recorded root is the stored tree's root at its recorded size), the events
    it covers (notification id and bytes of the head event, the digest of all of
    them, recomputed) and its state against the state the library replays from the events.

    Aggregates are replayed once, in version order, stopping at each snapshot's version.
    """
    ensure_tree_columns(ledger.engine)
    table = ledger.events_table.name
    s = snapshots.c
    with ledger.engine.connect() as conn:
        ids = [str(a) for a in conn.execute(
            select(s.aggregate_id).distinct().order_by(s.aggregate_id)).scalars()]
    recorded = recorded_digests(ledger.settings)
    done = 0
    for text_id in ids:
        with ledger.engine.connect() as conn:
            rows = [SnapshotRow.from_row(r) for r in conn.execute(
                select(*_COLUMNS).where(s.aggregate_id == text_id).order_by(s.version))]
            try:
                agg_id = UUID(text_id)
            except ValueError:
                for row in rows:
                    yield SnapshotCheck(text_id, row.version, "snapshot_unreadable",
                                        f"aggregate id {text_id!r} is not a UUID")
                continue
            events = _event_rows(conn, table, agg_id)
            trees = {row.version: _tree_rejection(conn, row) for row in rows
                     if row.tree_size is not None}
        yield from _check_aggregate(ledger, agg_id, rows, events, public_key, trees, recorded)
        done += len(rows)
        if progress:
            progress(done)


def _check_aggregate(ledger: GovernanceLedger, agg_id: UUID, rows: list[SnapshotRow],
                     events: list[tuple[int, int, str, bytes]], public_key: Ed25519PublicKey,
                     trees: dict[int, str | None], recorded: frozenset[bytes] | None,
                     ) -> Iterator[SnapshotCheck]:
    mapper = ledger.mapper
    digest = EventsDigest()
    agg: Any = None
    i = 0
    for row in rows:
        def problem(kind: str, detail: str, row: SnapshotRow = row) -> SnapshotCheck:
            return SnapshotCheck(row.aggregate_id, row.version, kind,
                                 f"snapshot of {row.aggregate_id} at version {row.version}: "
                                 f"{detail}")

        if row.computed_digest() != row.digest:
            yield problem("snapshot_digest", "its digest does not match its content (altered)")
        elif not row.signature_ok(public_key):
            yield problem("snapshot_signature", "its signature does not verify with the key "
                          "(altered or forged)")
        elif row.tree_size is not None and recorded is not None \
                and row.digest not in recorded:
            yield problem("snapshot_unrecorded", "the signer's record beside the key has no "
                          "such snapshot (re-signed or forged)")
        tree = trees.get(row.version)
        if tree is not None:
            yield problem("snapshot_tree", tree)
        while i < len(events) and events[i][1] <= row.version:
            nid, version, topic, state = events[i]
            digest.add(nid, version, topic, state)
            agg = replay(mapper, agg_id, [events[i]], agg)
            i += 1
        head = events[i - 1] if i else None
        if head is None or head[1] != row.version or i != row.version:
            yield problem("snapshot_events", f"the aggregate has {i} events up to version "
                          f"{row.version} (events missing, or the snapshot is of another log)")
            continue
        if head[0] != row.position or hashlib.sha256(head[3]).digest() != row.head_sha256 \
                or digest.digest() != row.events_sha256:
            yield problem("snapshot_events", "the events up to its version are not the ones "
                          "it was taken from")
        try:
            snap: Any = mapper.to_domain_event(StoredEvent(
                originator_id=agg_id, originator_version=row.version, topic=row.topic,
                state=row.state))
            from_snapshot = snap.mutate(None)
        except Exception as e:  # noqa: BLE001 - reported, whatever it is
            yield problem("snapshot_unreadable", f"it cannot be decoded ({type(e).__name__})")
            continue
        if not _same_state(mapper, from_snapshot, agg):
            yield problem("snapshot_state", "its state differs from the state replayed from "
                          "the events")
