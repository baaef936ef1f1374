"""``verify``: check the event log against its Merkle tree and signed checkpoints.

What is checked (streaming over the log in pages, in constant memory):

1. every stored checkpoint: the note parses, its signature verifies with the ledger's key
   (or the verifier key given), and its row's size and root equal the note's;
2. every leaf is recomputed from the stored event it covers (``sealer.leaf_of``) and compared
   with the sealed leaf hash;
3. contiguity: the leaf map covers the log exactly once, in order — no event in the sealed
   range without a leaf (inserted), no leaf whose event is gone (deleted), positions without
   gaps, notification ids increasing;
4. the root recomputed from the events at every checkpoint's size equals the checkpoint's
   root, and so does the root the stored nodes give (the one proofs are built from);
5. every event (sealed or not) was written by a command recorded in the command log;
6. with a checkpoint the auditor kept: it verifies with the key, the recomputed tree has that
   root at that size, and a consistency proof from the stored tree leads from it to the
   current root;
7. with a witness policy: the latest checkpoint carries the policy's quorum of cosignatures;
8. with ``full``: every stored interior node equals the node the recomputed leaves give
   (``node_mismatch``), and no node is stored beyond the tree (``node_extra``);
9. with ``projections``: every read model rebuilt into shadow tables equals the live one, row
   by row (``projection_row``); with ``snapshots``: every stored snapshot (``snapshot_*``).

How it stays fast: the leaves are read joined to their sealed hashes and to their events in
one query, through the driver's cursor (no SQLAlchemy rows); each page is checked as a whole
first (positions without gaps, notification ids increasing, every event present, the leaves
recomputed by ``sealer.stored_leaf`` equal to the sealed ones: list comparisons in C), and only
a page that fails is gone through leaf by leaf to say what is wrong. The format-2 leaf is
hashed straight from the joined row (event and command-log columns, :func:`_v2_leaf`); only a
leaf that differs goes through ``sealer.any_leaf`` (format 1, unusual shapes). Events that no leaf covers
are looked for only when the sealed range holds more events than leaves. The command log's
ranges are sorted once and merged with the log's ids (paging them would sort the unindexed
column once per page: that made ``verify`` quadratic in the size of the log).

Events recorded after the last seal are counted but not covered by anything signed yet:
``verify`` does not seal (it needs only the public key); run ``ledger checkpoint`` first to
cover them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import itertools
import multiprocessing
import os
import threading
from binascii import b2a_base64
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from multiprocessing.context import BaseContext
from operator import lt
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Column, Connection, Engine, String, Table, create_engine, func, select, text
from sqlalchemy.pool import NullPool

from ledger.integrity import checkpoint as cp
from ledger.integrity.canonical import MAX_SAFE_INTEGER
from ledger.integrity.errors import IntegrityError, KeyFileError
from ledger.integrity.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from ledger.integrity.sealer import (
    any_leaf,
    current_origin,
    key_path,
    log_origin,
    signing_key,
    uuid_text,
)
from ledger.integrity.sqlstore import (
    SqlNodeStore,
    checkpoints,
    merkle_leaves,
    merkle_nodes,
    tree_head,
)
from ledger.integrity.tree import IncrementalTree, NodeBatch, NodeItem, NodeKey
from ledger.kernel.i18n import _
from ledger.kernel.store import command_log, placeholder

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

__all__ = ["Finding", "Verification", "verify"]

_NO_LEAF = b"\x00" * HASH_SIZE  # stands in for a leaf whose event is gone
_FLUSH = 8192
PARALLEL_MIN = 100_000
"""Sealed leaves from which ``verify`` recomputes leaves in worker processes."""
PARALLEL_CHUNK = 50_000
"""Leaves per worker task."""


@dataclass(frozen=True)
class Finding:
    """One problem ``verify`` found: the leaf position (or None), a kind, and a detail."""

    position: int | None
    kind: str
    detail: str

    def public(self) -> dict[str, Any]:
        return {"position": self.position, "kind": self.kind, "detail": self.detail}


@dataclass
class Verification:
    """The outcome of :func:`verify`."""

    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    """Sealed events recomputed and checked."""
    tree_size: int = 0
    root: bytes = EMPTY_ROOT
    """Root recomputed from the events at ``tree_size``."""
    checkpoints: int = 0
    unsealed: int = 0
    """Events after the last sealed one (not yet covered by a checkpoint)."""
    snapshots: int | None = None
    """Snapshots checked in full (``verify --snapshots``), None when they were not."""
    nodes: int | None = None
    """Interior tree nodes compared (``verify --full``), None when they were not."""
    projection_rows: int | None = None
    """Read-model rows compared (``verify --projections``), None when they were not."""
    witnesses: list[str] | None = None
    """Witnesses whose cosignature on the latest checkpoint verified (with a policy)."""
    signatures: Any = None
    """What the signature pass counted (``ledger.integrity.sigcheck.SignatureStats``), or
    None when it did not run."""
    key_source: str = "given"
    """Which key signatures were checked with: ``given``, ``key file``, or ``stored`` (the
    verifier key recorded with the first checkpoint: no key file and none given).
    """

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """What was verified, in the reader's language."""
        text = _("verified {events} events, tree size {size}, root {root}").format(
            events=self.events, size=self.tree_size, root=base64.b64encode(self.root).decode())
        if self.unsealed:
            text += _("; {n} later events not sealed yet (run 'ledger checkpoint')").format(
                n=self.unsealed)
        if self.snapshots is not None:
            text += _("; {n} snapshots checked against the events").format(n=self.snapshots)
        if self.nodes is not None:
            text += _("; {n} tree nodes recomputed").format(n=self.nodes)
        if self.projection_rows is not None:
            text += _("; {n} read-model rows compared with a rebuild").format(
                n=self.projection_rows)
        if self.witnesses is not None:
            text += _("; cosigned by {witnesses}").format(
                witnesses=", ".join(self.witnesses) or _("no witness"))
        if self.signatures is not None:
            text += "; " + self.signatures.summary()
        return text


class _NullStore:
    """A node store that keeps nothing: the verifier's tree needs only its frontier."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {}

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        return None


NODE_FINDINGS_MAX = 1000
"""``verify --full`` names at most this many differing nodes, then counts the rest."""


class _ComparingStore(_NullStore):
    """``verify --full``: every interior node the verifier's tree completes (computed from
    the leaves recomputed from the events) is compared with the stored node at the same
    (level, index), each level's run of new nodes read back with one range query. Level 0 is
    the leaves themselves, which the leaf checks compare already."""

    def __init__(self, conn: Connection, found: Callable[[Finding], None]) -> None:
        self.conn = conn
        self.found = found
        self.checked = 0
        self.bad = 0
        mark = placeholder(conn)
        self.sql = (f"SELECT idx, hash FROM {merkle_nodes.name} WHERE level = {mark} "
                    f"AND idx >= {mark} AND idx < {mark}")

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        runs = items.runs() if isinstance(items, NodeBatch) else [
            (level, idx, [value]) for level, idx, value in items]
        for level, first, hashes in runs:
            if level == 0 or not hashes:
                continue
            stored = {int(i): bytes(h) for batch in _cursor_rows(
                self.conn, self.sql, (level, first, first + len(hashes))) for i, h in batch}
            self.checked += len(hashes)
            for offset, value in enumerate(hashes):
                index = first + offset
                have = stored.get(index)
                if have == value:
                    continue
                self.bad += 1
                if self.bad > NODE_FINDINGS_MAX:
                    continue
                what = "is missing" if have is None else f"is {_b64(have)}"
                self.found(Finding(index << level, "node_mismatch",
                                   f"tree node level {level} index {index} (leaves "
                                   f"{index << level}..{((index + 1) << level) - 1}) {what}; "
                                   f"the leaves give {_b64(value)} (proofs through it fail)"))

    def finish(self, size: int) -> None:
        """Name the differing nodes beyond the cap, and stored nodes the tree of *size*
        leaves does not have (written beyond it)."""
        if self.bad > NODE_FINDINGS_MAX:
            self.found(Finding(None, "node_mismatch", f"and {self.bad - NODE_FINDINGS_MAX} "
                               "more tree nodes that differ from the leaves"))
        mark = placeholder(self.conn)
        top = size.bit_length()
        for level in range(top + 1):
            extra = self.conn.exec_driver_sql(
                f"SELECT idx FROM {merkle_nodes.name} WHERE level = {mark} AND idx >= {mark} "
                "ORDER BY idx LIMIT 10", (level, size >> level)).scalars().all()
            for index in extra:
                self.found(Finding(int(index) << level, "node_extra",
                                   f"tree node level {level} index {index} is stored, but a "
                                   f"tree of {size} leaves has no such node"))
        higher = self.conn.exec_driver_sql(
            f"SELECT level, idx FROM {merkle_nodes.name} WHERE level > {mark} LIMIT 10",
            (top,)).all()
        for level, index in higher:
            self.found(Finding(None, "node_extra",
                               f"tree node level {level} index {index} is stored, but a "
                               f"tree of {size} leaves has no such node"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _cursor_rows(conn: Connection, sql: str, params: tuple[Any, ...], *, name: str | None = None,
                 size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
    """Run *sql* on the connection's DB-API cursor (no SQLAlchemy rows) and yield its rows in
    batches of up to *size*. With *name*, on PostgreSQL the cursor is a server-side one, so a
    long ordered result streams instead of arriving whole; SQLite's cursors step lazily anyway.
    """
    raw: Any = conn.connection.dbapi_connection
    server_side = name is not None and conn.dialect.name == "postgresql"
    cur = raw.cursor(name=name) if server_side else raw.cursor()
    try:
        if server_side:
            cur.itersize = size
        cur.execute(sql, params)
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield rows
    finally:
        cur.close()


def _leaf_pages(conn: Connection, events: str, lo: int = 0, hi: int | None = None,
                page: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
    """Each leaf with *lo* <= position < *hi*, in position order, joined to its sealed hash
    and to the event it covers: (position, notification id, sealed hash or None, originator
    id or None, version, topic, state, then the seven columns of the command-log row whose
    first event this is (command id, type, actor, recorded at, first, last, result; None
    where it is no command's first), as the driver returns them (:func:`_split_row` makes
    them the arguments of ``sealer.any_leaf``). The event columns are None when the event is
    gone. Paged by position.
    """
    mark = placeholder(conn)
    sql = (f"SELECT l.position, l.notification_id, n.hash, e.originator_id, "
           f"e.originator_version, e.topic, e.state, c.command_id, c.type, c.actor, "
           f"c.recorded_at, c.first_notification_id, c.last_notification_id, c.result "
           f"FROM {merkle_leaves.name} l "
           f"LEFT OUTER JOIN {merkle_nodes.name} n ON n.level = 0 AND n.idx = l.position "
           f"LEFT OUTER JOIN {events} e ON e.id = l.notification_id "
           f"LEFT OUTER JOIN {command_log.name} c ON c.first_notification_id = l.notification_id "
           f"WHERE l.position > {mark}"
           + (f" AND l.position < {mark}" if hi is not None else "")
           + f" ORDER BY l.position LIMIT {mark}")
    after = lo - 1
    while True:
        params = (after, page) if hi is None else (after, hi, page)
        rows = [r for batch in _cursor_rows(conn, sql, params, size=page) for r in batch]
        if rows:
            yield rows
        if len(rows) < page:
            return
        after = rows[-1][0]


_TS_PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
_TS_START = len(_TS_PREFIX)
_TOPIC_PARTS: dict[str, str] = {}
"""Topic -> ``,"topic":<topic>,"type":<type>,"version":`` of a format-2 record."""
_TOPIC_MAX = 4096
_AGG_TEXT: dict[Any, str] = {}
"""Stored aggregate id (16 bytes, or a UUID) -> its UUID text: aggregates have many events."""
_AGG_MAX = 65_536
_enc = encode_basestring
_sha256 = hashlib.sha256
_b2a = b2a_base64
_MAX = MAX_SAFE_INTEGER


def _v2_leaf(position: int, nid: int, oid: Any, version: int, topic: Any, state: Any,
             cid: Any, ctype: Any, actor: Any, at: Any, first: Any, last: Any, result: Any,
             ) -> bytes | None:
    """The format-2 leaf straight from a row of :func:`_leaf_pages` (what
    ``sealer.fast_leaf_v2`` computes, without building its ``CommandRow``), or None for any
    shape it does not handle (then :func:`sealer.any_leaf` decides)."""
    try:
        parts = _TOPIC_PARTS.get(topic)
        if parts is None:
            if topic.__class__ is not str or len(_TOPIC_PARTS) >= _TOPIC_MAX:
                return None
            _module, colon, qualname = topic.partition(":")
            if not colon:
                return None
            parts = _TOPIC_PARTS[topic] = (f',"topic":{_enc(topic)},"type":{_enc(qualname)},'
                                           '"version":')
        if state.__class__ is not bytes:
            state = bytes(state)
        if not (state.startswith(_TS_PREFIX) and position.__class__ is int
                and nid.__class__ is int and version.__class__ is int
                and 0 <= position <= _MAX and 0 <= nid <= _MAX and 0 <= version <= _MAX):
            return None
        agg = _AGG_TEXT.get(oid)
        if agg is None:
            if oid.__class__ is bytes and len(oid) == 16:
                h = oid.hex()
                agg = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            elif oid.__class__ is UUID:
                agg = str(oid)
            else:
                return None
            if len(_AGG_TEXT) >= _AGG_MAX:
                _AGG_TEXT.clear()
            _AGG_TEXT[oid] = agg
        end = state.find(b'"', _TS_START)
        if end < 0 or not state.startswith(b'"}', end):
            return None
        if first is None:
            cmd = "null"
        else:
            if not (first.__class__ is int and last.__class__ is int and 0 <= first <= _MAX
                    and 0 <= last <= _MAX):
                return None
            # encode_basestring refuses anything but str (TypeError): the general path.
            cmd = (f'{{"actor":{_enc(actor)},"command_id":{_enc(cid)},"first":{first},'
                   f'"last":{last},"recorded_at":{_enc(at)},"result_sha256":"'
                   f'{_sha256(result.encode()).hexdigest()}","type":{_enc(ctype)}}}')
        digest = _sha256(f'\x00{{"aggregate_id":"{agg}","command":{cmd},"leaf_format":2,'
                         f'"notification_id":{nid},"payload_b64":"'.encode())
        digest.update(_b2a(state, newline=False))
        digest.update(f'","position":{position},"recorded_at":'
                      f'{_enc(state[_TS_START:end].decode("ascii"))}{parts}{version}}}'.encode())
    except (UnicodeError, TypeError, AttributeError):  # not a shape this path handles
        return None
    return digest.digest()


def _split_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row of :func:`_leaf_pages` as (position, notification id, sealed hash, originator
    id, version, topic, state, command tuple or None)."""
    return (*row[:7], None if row[7] is None else tuple(row[7:]))


def _fast_leaves(rows: Sequence[tuple[Any, ...]], expected: int, last_nid: int,
                 ) -> list[bytes] | None:
    """The leaves of a page of :func:`_leaf_pages` rows if the whole page is right: positions
    from *expected* without gaps, notification ids increasing after *last_nid*, every event
    present, every recomputed leaf equal to the sealed one (list operations in C). None if
    anything is wrong: then the page is gone through leaf by leaf.
    """
    (positions, nids, sealed, oids, versions, topics, states, cids, ctypes, actors, ats, firsts,
     lasts, results) = zip(*rows, strict=True)
    first = positions[0]
    if not (first == expected and positions[-1] == first + len(rows) - 1  # no gap
            and nids[0] > last_nid and all(map(lt, nids, nids[1:]))  # in log order
            and None not in oids and None not in sealed):  # every event and sealed leaf there
        return None
    leaves = list(map(_v2_leaf, positions, nids, oids, versions, topics, states, cids, ctypes,
                      actors, ats, firsts, lasts, results))
    if leaves == list(sealed):
        return leaves  # type: ignore[return-value]  # equal to the sealed hashes: no None
    try:  # leaves of earlier releases (format 1), unusual shapes: the general path
        for i, (leaf, want) in enumerate(zip(leaves, sealed, strict=True)):
            if leaf != want:
                pos, nid, _sealed, oid, version, topic, state, command = _split_row(rows[i])
                leaves[i] = any_leaf(pos, nid, oid, version, topic, state, command, want)
    except (IntegrityError, ValueError):
        return None
    return leaves if leaves == list(sealed) else None  # type: ignore[return-value]


@dataclass(frozen=True)
class _Chunk:
    """What a worker found right in a range of leaves: their count, first position, first
    and last notification ids, and the leaf hashes end to end."""

    count: int
    first_position: int
    first_nid: int
    last_nid: int
    leaves: bytes


_WORKER_ENGINES: dict[str, Engine] = {}


def _chunk_leaves(url: str, events: str, lo: int, hi: int) -> _Chunk | None:
    """In a worker process: the leaves at positions [lo, hi) if every page of them passes
    :func:`_fast_leaves` (the first from position *lo*), else None (the parent then checks
    the range leaf by leaf). Reads through an engine of its own."""
    out: list[bytes] = []
    expected, last_nid, first_nid = lo, -1, -1
    with _worker_engine(url).connect() as conn:
        for rows in _leaf_pages(conn, events, lo, hi):
            leaves = _fast_leaves(rows, expected, last_nid)
            if leaves is None:
                return None
            if first_nid < 0:
                first_nid = rows[0][1]
            out.extend(leaves)
            expected, last_nid = rows[-1][0] + 1, rows[-1][1]
    return _Chunk(len(out), lo, first_nid, last_nid, b"".join(out))


def _worker_engine(url: str) -> Engine:
    engine = _WORKER_ENGINES.get(url)
    if engine is None:
        engine = _WORKER_ENGINES[url] = create_engine(url, poolclass=NullPool)
    return engine


def _command_gaps_of(url: str, events: str) -> list[int]:
    """In a worker process: :func:`_command_gaps` through an engine of its own."""
    with _worker_engine(url).connect() as conn:
        return list(_command_gaps(conn, events))


def _pool_context() -> BaseContext:
    """``fork`` where it exists and no other thread runs (cheap: nothing to import again),
    else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    fork = "fork" in methods and threading.active_count() == 1
    return multiprocessing.get_context("fork" if fork else "spawn")


def _uncovered_events(conn: Connection, events: str, last_nid: int,
                      ) -> Iterator[tuple[int, Any, int, int | None]]:
    """Events up to *last_nid* that no leaf covers: (notification id, originator id, version,
    position of the first leaf covering a later event).
    """
    mark = placeholder(conn)
    sql = (f"SELECT e.id, e.originator_id, e.originator_version, "
           f"(SELECT min(l2.position) FROM {merkle_leaves.name} l2 "
           f" WHERE l2.notification_id > e.id) "
           f"FROM {events} e WHERE e.id <= {mark} AND NOT EXISTS (SELECT 1 FROM "
           f"{merkle_leaves.name} l WHERE l.notification_id = e.id) ORDER BY e.id")
    for batch in _cursor_rows(conn, sql, (last_nid,)):
        yield from batch


def _command_islands(conn: Connection) -> Iterator[tuple[int, int]]:
    """The notification ids the command log's rows cover, as maximal runs ``(first, last)``
    of consecutive ids, in order: the rows' ranges sorted by their first id (one sort,
    streamed through a server-side cursor on PostgreSQL: the column has no index, so paging
    it would sort the table once per page) and merged where they touch or overlap.
    """
    sql = (f"SELECT first_notification_id, last_notification_id FROM {command_log.name} "
           "WHERE first_notification_id IS NOT NULL ORDER BY first_notification_id")
    start = end = -2
    for batch in _cursor_rows(conn, sql, (), name="ledger_verify_commands"):
        for first, last_or_none in batch:
            last = first if last_or_none is None else last_or_none
            if last < first:
                continue  # a malformed range covers nothing
            if first > end + 1:
                if end >= 0:
                    yield start, end
                start, end = first, last
            elif last > end:
                end = last
    if end >= 0:
        yield start, end


def _command_gaps(conn: Connection, events: str, page: int = 50_000) -> Iterator[int]:
    """Notification ids of events that no command-log row's range covers, in log order."""
    islands = _command_islands(conn)
    first, last = next(islands, (-1, -1))
    mark = placeholder(conn)
    sql = f"SELECT id FROM {events} WHERE id > {mark} ORDER BY id LIMIT {mark}"
    after = 0
    while True:
        ids = [r[0] for batch in _cursor_rows(conn, sql, (after, page), size=page)
               for r in batch]
        i, n = 0, len(ids)
        while i < n:
            nid = ids[i]
            while last < nid and last >= 0:
                first, last = next(islands, (-1, -1))
            if nid < first or last < 0:
                yield nid
                i += 1
            else:  # every id up to `last` is covered: skip them at once
                i = bisect_right(ids, last, i)
        if n < page:
            return
        after = ids[-1]


def _keys(ledger: GovernanceLedger, verifier_key: str | None,
          ) -> tuple[str, Ed25519PublicKey, str]:
    """(key name, public key, where it came from): the key given, else the ledger's key file,
    else (a restored copy, an auditor's replica) the verifier key stored with the first
    checkpoint, which only shows the ledger is consistent with itself.
    """
    if verifier_key is not None:
        name, public_key = cp.parse_verifier_key(verifier_key)
        return name, public_key, "given"
    if key_path(ledger.settings).exists():
        return log_origin(ledger), signing_key(ledger.settings).public_key(), "key file"
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(checkpoints.c.verifier_key).order_by(checkpoints.c.size)
                              .limit(1)).scalar()
    if stored is None:
        raise KeyFileError(
            _("signing key file {key_path} does not exist and the ledger has no checkpoint; pass the "
              "published verifier key with --key").format(key_path=key_path(ledger.settings)))
    name, public_key = cp.parse_verifier_key(str(stored))
    return name, public_key, "stored"


def verify(ledger: GovernanceLedger, checkpoint_note: str | None = None, *,
           verifier_key: str | None = None,
           progress: Callable[[int, int], None] | None = None,
           snapshots: bool = False, full: bool = False, projections: bool = False,
           witness_policy: Any = None, workers: int | None = None,
           chunk: int = PARALLEL_CHUNK, signatures: bool = True,
           require_signed: bool = False) -> Verification:
    """Check the whole log against the Merkle tree and the checkpoints; see the module doc.

    *checkpoint_note* is a signed checkpoint the auditor kept; *verifier_key* the published
    key to check signatures with (default: the public half of the ledger's key file).
    *progress* is called with (events done, events in the log) now and then. With
    *snapshots*, every stored snapshot of aggregate state is also checked in full against
    the events (``ledger.snapshots.check_snapshots``; findings ``snapshot_*``). With *full*,
    every stored interior node of the tree is compared with the node the recomputed leaves
    give (``node_mismatch``, ``node_extra``). With *projections*, every read model is rebuilt
    into shadow tables and compared row by row with the live ones (``projection_row``; see
    :func:`check_projections`). With *witness_policy* (a ``ledger.integrity.cosign.Policy``),
    the latest checkpoint must carry the policy's quorum of cosignatures
    (``witness_quorum``). With *signatures* (the default), every event's signature is checked
    against the key history in the log (``ledger.integrity.sigcheck``; findings
    ``signature_*``); with *require_signed* an event accepted unsigned is a finding too.

    Leaves are recomputed by *workers* processes (default: one per CPU, up to four, from
    ``PARALLEL_MIN`` sealed leaves on; 1 keeps it in this process), *chunk* leaves at a time.
    """
    name, public_key, source = _keys(ledger, verifier_key)
    out = Verification(key_source=source)
    found = out.findings.append
    with ledger.engine.connect() as conn:
        # 1. The stored checkpoints.
        targets: dict[int, bytes] = {}  # size -> root recomputed there (filled in below)
        signed: list[tuple[int, bytes]] = []  # (size, root) of every valid checkpoint
        for row in conn.execute(select(checkpoints).order_by(checkpoints.c.size)):
            out.checkpoints += 1
            size = int(row.size)
            try:
                head = cp.parse_checkpoint(str(row.note))[0]
            except IntegrityError as e:
                found(Finding(size, "checkpoint_malformed", f"checkpoint at size {size}: {e}"))
                continue
            try:
                cp.verify_checkpoint(str(row.note), name, public_key)
            except IntegrityError as e:
                found(Finding(size, "checkpoint_signature", f"checkpoint at size {size}: {e}"))
            if head.size != size or head.root != bytes(row.root):
                found(Finding(size, "checkpoint_row",
                              f"checkpoint row at size {size} differs from its signed note "
                              f"(size {head.size}, root {_b64(head.root)})"))
            signed.append((head.size, head.root))
            targets[head.size] = b""
        retained: cp.Checkpoint | None = None
        if checkpoint_note is not None:
            try:
                retained = cp.parse_checkpoint(checkpoint_note)[0]
            except IntegrityError as e:
                found(Finding(None, "retained_checkpoint_malformed", str(e)))
            else:
                try:
                    cp.verify_checkpoint(checkpoint_note, name, public_key)
                except IntegrityError as e:
                    found(Finding(retained.size, "retained_checkpoint_signature",
                                  f"the checkpoint you kept does not verify with {name}'s key: "
                                  f"{e}"))
                targets[retained.size] = b""

        # 2-5. The leaves and the events, a page (or a worker's chunk) at a time.
        total = int(conn.execute(select(func.count()).select_from(ledger.events_table))
                    .scalar_one())
        if progress:
            progress(0, total)
        comparing = _ComparingStore(conn, found) if full else None
        tree = IncrementalTree(comparing or _NullStore())
        pending: list[bytes] = []

        def flush() -> None:
            tree.append(pending)
            pending.clear()
            if tree.size in targets:
                targets[tree.size] = tree.root()

        if 0 in targets:
            targets[0] = EMPTY_ROOT
        events = ledger.events_table.name
        expected, last_nid, covered = 0, 0, 0
        mapper = ledger.mapper

        def check_leaf(pos: int, nid: int, stored: bytes | None, oid: object, version: int,
                       topic: str, state: bytes, command: tuple[Any, ...] | None,
                       expected: int, last_nid: int) -> bytes:
            """The leaf at *pos*, with a finding for everything wrong with it."""
            if pos != expected:
                found(Finding(expected, "leaf_gap",
                              f"the leaf map jumps from position {expected - 1} to {pos}"))
            if nid <= last_nid:
                found(Finding(pos, "leaf_order", f"leaf {pos} covers event {nid}, not after "
                              f"the previous leaf's event {last_nid}"))
            if oid is None:
                found(Finding(pos, "missing_event", f"leaf {pos} covers event {nid}, which "
                              "is no longer in the log (deleted?)"))
                return _NO_LEAF
            try:
                leaf = any_leaf(pos, nid, oid, version, topic, state, command, stored, mapper)
            except (IntegrityError, ValueError) as e:
                found(Finding(pos, "leaf_mismatch", f"event {nid} cannot be made into a "
                              f"record ({e}), so it does not hash to the sealed leaf {pos}"))
                return _NO_LEAF
            if stored is None:
                found(Finding(pos, "leaf_node_missing",
                              f"the sealed hash of leaf {pos} is missing from the tree"))
            elif leaf != stored:
                found(Finding(pos, "leaf_mismatch",
                              f"event {nid} (aggregate {uuid_text(oid)} version {version}) "
                              f"does not hash to the sealed leaf {pos} (altered, or moved)"))
            return leaf

        def serial(lo: int, hi: int | None) -> Iterator[list[bytes]]:
            """The leaves at positions [lo, hi), a page at a time, with findings."""
            nonlocal expected, last_nid, covered
            for rows in _leaf_pages(conn, events, lo, hi):
                leaves = _fast_leaves(rows, expected, last_nid)
                if leaves is not None:
                    expected, last_nid = rows[-1][0] + 1, rows[-1][1]
                    covered += len(rows)
                else:  # something is wrong in this page: find what, leaf by leaf
                    leaves = []
                    for pos, nid, stored, oid, version, topic, state, command in map(_split_row,
                                                                                      rows):
                        leaves.append(check_leaf(pos, nid, stored, oid, version, topic, state,
                                                 command,
                                                 expected, last_nid))
                        covered += oid is not None
                        expected, last_nid = pos + 1, max(last_nid, nid)
                yield leaves

        gaps: Future[list[int]] | None = None
        key_history: Future[Any] | None = None

        def parallel(size: int, n: int) -> Iterator[list[bytes]]:
            """The leaves at positions [0, size) checked by *n* worker processes, a chunk
            each at a time (a few chunks ahead, in order); a chunk with anything wrong, or
            not following on from the previous one, is checked again here leaf by leaf."""
            nonlocal expected, last_nid, covered
            url = ledger.engine.url.render_as_string(hide_password=False)
            ranges = iter([(lo, min(lo + chunk, size)) for lo in range(0, size, chunk)])
            with ProcessPoolExecutor(n, mp_context=_pool_context()) as pool:
                window: deque[tuple[int, int, Future[_Chunk | None]]] = deque()

                def submit() -> None:
                    for lo, hi in itertools.islice(ranges, 1):
                        window.append((lo, hi, pool.submit(_chunk_leaves, url, events, lo, hi)))

                nonlocal gaps, key_history  # these run beside the leaves
                gaps = pool.submit(_command_gaps_of, url, events)
                if signatures:
                    from ledger.integrity.sigcheck import plain_key_history

                    key_history = pool.submit(plain_key_history, url, events)
                for _ in range(2 * n):
                    submit()
                while window:
                    lo, hi, future = window.popleft()
                    submit()
                    got = future.result()
                    if got is not None and (got.count == 0 or (
                            got.first_position == expected and got.first_nid > last_nid)):
                        if got.count:
                            expected, last_nid = lo + got.count, got.last_nid
                            covered += got.count
                        data = got.leaves
                        yield [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
                    else:
                        yield from serial(lo, hi)
                gaps.result()  # before the pool closes
                if key_history is not None:
                    key_history.result()

        # The sizes where the pending leaves must be folded in (a checkpoint's root is needed).
        stops = sorted(s for s in targets if s > 0)
        stop_at = iter(stops)
        next_stop = next(stop_at, -1)
        sealed_size = tree_head(conn).size
        n = (min(os.cpu_count() or 1, 4) if sealed_size >= PARALLEL_MIN else 1) \
            if workers is None else workers
        batches = itertools.chain(parallel(sealed_size, n), serial(sealed_size, None)) \
            if n > 1 else serial(0, None)
        for leaves in batches:
            # Fold the page in, stopping at each size where a checkpoint's root is needed.
            done = 0
            while 0 < next_stop <= tree.size + len(pending) + len(leaves) - done:
                cut = next_stop - tree.size - len(pending) + done
                pending.extend(leaves[done:cut])
                done = cut
                flush()
                while 0 < next_stop <= tree.size:
                    next_stop = next(stop_at, -1)
            pending.extend(leaves[done:])
            if len(pending) >= _FLUSH:
                flush()
            if progress:
                progress(covered, total)
        flush()
        out.events = covered
        out.tree_size = expected
        out.root = tree.root()
        if comparing is not None:
            comparing.finish(expected)
            out.nodes = comparing.checked
        # 3. Events no leaf covers: inside the sealed range, inserted after sealing; after it,
        # recorded since the last seal.
        in_range = int(conn.exec_driver_sql(
            f"SELECT count(*) FROM {events} WHERE id <= {placeholder(conn)}",
            (last_nid,)).scalar_one()) if expected else 0
        if in_range != covered:
            for nid, oid, version, before in _uncovered_events(conn, events, last_nid):
                found(Finding(before, "uncovered_event",
                              f"event {nid} (aggregate {uuid_text(oid)} version {version}) "
                              f"lies before leaf {before}'s event but no leaf covers it "
                              "(inserted after sealing?)"))
        out.unsealed = total - in_range
        if out.unsealed and current_origin(ledger, conn) is not None:
            # This release writes each event's leaf with it: an event after the last leaf
            # was written outside the ledger's write path.
            shown = conn.exec_driver_sql(
                f"SELECT id FROM {events} WHERE id > {placeholder(conn)} ORDER BY id LIMIT 100",
                (last_nid,)).scalars().all()
            for nid in shown:
                found(Finding(None, "unsealed_event",
                              f"event {nid} has no Merkle leaf: every event gets its leaf in "
                              "the transaction that writes it, so this one was written outside "
                              "the ledger's write path"))
            if out.unsealed > len(shown):
                found(Finding(None, "unsealed_event", f"and {out.unsealed - len(shown)} more "
                              "events without a leaf"))
        # 5. Every event was written by a recorded command.
        who = (f"SELECT originator_id, originator_version FROM {events} "
               f"WHERE id = {placeholder(conn)}")
        for nid in gaps.result() if gaps is not None else list(_command_gaps(conn, events)):
            oid, version = conn.exec_driver_sql(who, (nid,)).one()
            found(Finding(None, "event_without_command",
                          f"event {nid} (aggregate {uuid_text(oid)} version {version}) was not "
                          "written by any command in the command log (forged?)"))
        if progress:
            progress(total, total)

        # 4. Roots at the checkpoints: recomputed, and from the stored nodes.
        try:
            stored_tree: IncrementalTree | None = IncrementalTree(SqlNodeStore(conn), out.tree_size)
        except IntegrityError as e:
            found(Finding(out.tree_size, "tree_nodes_missing", str(e)))
            stored_tree = None
        for size, root in signed:
            if size > out.tree_size:
                found(Finding(size, "checkpoint_beyond_tree",
                              f"checkpoint at size {size} is beyond the tree's {out.tree_size} "
                              "leaves (leaves removed?)"))
                continue
            if targets.get(size) != root:
                found(Finding(size, "checkpoint_root",
                              f"the events give root {_b64(targets.get(size) or b'')} at size "
                              f"{size}, the signed checkpoint {_b64(root)}"))
            if stored_tree is not None:
                try:
                    stored_root = stored_tree.root(size)
                except IntegrityError as e:
                    found(Finding(size, "tree_nodes_missing", str(e)))
                    continue
                if stored_root != root:
                    found(Finding(size, "stored_tree_root",
                                  f"the stored nodes give root {_b64(stored_root)} at size {size},"
                                  f" the signed checkpoint {_b64(root)} (proofs would fail)"))

        # 5b. Every event's signature, against the key history in the log.
        if signatures:
            from ledger.integrity.sigcheck import check_signatures

            leaf_at = (f"SELECT position FROM {merkle_leaves.name} "
                       f"WHERE notification_id = {placeholder(conn)}")

            def position_of(nid: int) -> int | None:
                value = conn.exec_driver_sql(leaf_at, (nid,)).scalar()
                return None if value is None else int(value)

            out.signatures = check_signatures(
                conn, events, lambda p, kind, detail: found(Finding(p, kind, detail)),
                require_signed=require_signed, position_of=position_of,
                workers=min(os.cpu_count() or 1, 4) if workers is None else workers,
                url=ledger.engine.url.render_as_string(hide_password=False),
                plain_keys=None if key_history is None else key_history.result())
        # 6. The checkpoint the auditor kept.
        if retained is not None:
            _check_retained(out, retained, targets, stored_tree)
        # The witnesses' cosignatures on the latest checkpoint.
        if witness_policy is not None:
            _check_witnessed(out, conn, witness_policy, name, public_key)
    # 7. Snapshots: a cache beside the log, each checked against the events it covers.
    if snapshots:
        from ledger.snapshots import check_snapshots

        def counted(done: int) -> None:
            out.snapshots = done

        out.snapshots = 0
        for problem in check_snapshots(ledger, public_key, counted):
            found(Finding(None, problem.kind, problem.detail))
    # 8. Read models: rebuilt beside the live tables and compared row by row.
    if projections:
        out.projection_rows = 0
        for finding in check_projections(ledger, out):
            found(finding)
    return out


def load_cosign() -> Any:
    """``ledger.integrity.cosign`` (witness policies and cosignatures), or a clear error."""
    try:
        return importlib.import_module("ledger.integrity.cosign")
    except ModuleNotFoundError:
        raise IntegrityError(_("witness policies need ledger.integrity.cosign, which this installation "
                               "does not have")) from None


def load_witness_policy(path: str | None) -> Any:
    """The ``ledger-witness-policy/1`` file at *path*, or None without one."""
    return load_cosign().load_policy(path) if path else None


def _check_witnessed(out: Verification, conn: Connection, policy: Any, name: str,
                     public_key: Ed25519PublicKey) -> None:
    """A finding unless the latest stored checkpoint carries the policy's quorum."""
    cosign = load_cosign()
    row = conn.execute(select(checkpoints.c.size, checkpoints.c.note)
                       .order_by(checkpoints.c.size.desc()).limit(1)).first()
    if row is None:
        out.findings.append(Finding(None, "witness_quorum", "the ledger has no signed "
                                    "checkpoint for the witnesses to have cosigned"))
        return
    try:
        out.witnesses = list(cosign.check_quorum(str(row.note), policy, name, public_key))
    except IntegrityError as e:
        out.findings.append(Finding(int(row.size), "witness_quorum",
                                    f"latest checkpoint (size {row.size}): {e}"))


def _check_retained(out: Verification, retained: cp.Checkpoint, targets: dict[int, bytes],
                    stored_tree: IncrementalTree | None) -> None:
    found = out.findings.append
    size = retained.size
    if size > out.tree_size:
        found(Finding(size, "retained_checkpoint_beyond_tree",
                      f"the checkpoint you kept is at size {size}, but the log's tree has only "
                      f"{out.tree_size} leaves (truncated or rebuilt)"))
        return
    if targets.get(size) != retained.root:
        found(Finding(size, "retained_checkpoint_root",
                      f"the events give root {_b64(targets.get(size) or b'')} at size {size}, "
                      f"the checkpoint you kept {_b64(retained.root)} (the log was rewritten)"))
    if size == 0 or stored_tree is None:
        return
    try:
        proof = stored_tree.consistency_proof(size, out.tree_size)
    except IntegrityError as e:
        found(Finding(size, "retained_checkpoint_inconsistent", str(e)))
        return
    if not verify_consistency(size, out.tree_size, proof, retained.root, out.root):
        found(Finding(size, "retained_checkpoint_inconsistent",
                      f"no consistency proof leads from the checkpoint you kept (size {size}) "
                      f"to the current tree (size {out.tree_size})"))


# ----------------------------------------------------------------------------- read models
PROJECTION_FINDINGS_MAX = 200
"""``verify --projections`` names at most this many differing rows per table."""


def _shown(value: object) -> str:
    text = repr(bytes(value) if isinstance(value, memoryview) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ordered_rows(conn: Connection, table: Table, key: list[Column[Any]],
                  ) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(key, row) of every row of *table* in key order, streamed. Text keys are ordered
    by code point on both stores (``COLLATE "C"`` on PostgreSQL), as Python compares them."""
    pg = conn.dialect.name == "postgresql"
    order = [c.collate("C") if pg and isinstance(c.type, String) else c for c in key]
    at = [list(table.columns).index(c) for c in key]
    result = conn.execution_options(yield_per=5000).execute(select(table).order_by(*order))
    for row in result:
        values = tuple(row)
        yield tuple(values[i] for i in at), values


def _compare_table(live: Connection, shadow: Connection, table: Table,
                   ) -> Iterator[tuple[int, Finding | None]]:
    """Each live row against the rebuilt one with the same key: (rows compared, a finding
    or None) as it goes."""
    key = list(table.primary_key.columns) or list(table.columns)
    names = [c.name for c in table.columns]
    a, b = _ordered_rows(live, table, key), _ordered_rows(shadow, table, key)
    x, y = next(a, None), next(b, None)
    shown = 0

    def where(k: tuple[Any, ...]) -> str:
        return ", ".join(f"{c.name}={_shown(v)}" for c, v in zip(key, k, strict=True))

    while x is not None or y is not None:
        problem: str | None = None
        if y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            problem, x = f"row ({where(x[0])}) is not in the rebuild (added?)", next(a, None)
        elif x is None or y[0] < x[0]:
            problem, y = f"row ({where(y[0])}) is missing (deleted?)", next(b, None)
        else:
            diff = [f"{n}: {_shown(p)} (rebuilt: {_shown(q)})"
                    for n, p, q in zip(names, x[1], y[1], strict=True) if p != q]
            if diff:
                problem = f"row ({where(x[0])}) differs: {'; '.join(diff)}"
            x, y = next(a, None), next(b, None)
        shown += problem is not None
        if problem is None or shown > PROJECTION_FINDINGS_MAX:
            yield 1, None
        else:
            yield 1, Finding(None, "projection_row", f"read model table {table.name}: {problem}")
    if shown > PROJECTION_FINDINGS_MAX:
        yield 0, Finding(None, "projection_row", f"read model table {table.name}: and "
                         f"{shown - PROJECTION_FINDINGS_MAX} more rows that differ")


def _build_until(ledger: GovernanceLedger, router: Any, shadow: Engine, stop: int,
                 batch: int) -> None:
    """Apply the events up to notification id *stop* to the shadow tables."""
    from ledger.kernel.eventlog import read_log_page

    pos = 0
    while pos < stop:
        with ledger.engine.connect() as rconn:
            events, read, last = read_log_page(rconn, ledger.events_table, ledger.mapper, pos,
                                               batch, stop=stop, types=router.types)
        if not read:
            return
        with shadow.begin() as wconn:
            router.apply(wconn, events)
        pos = last


def check_projections(ledger: GovernanceLedger, out: Verification | None = None,
                      batch: int = 10_000) -> Iterator[Finding]:
    """``verify --projections``: rebuild every read model from the log into shadow tables (the
    rebuild's shadow space: a schema of its own on PostgreSQL, a file beside the database on
    SQLite), each up to the position its live tables are at, and compare them row by row,
    by primary key, with the live tables: a ``projection_row`` finding for every row that
    differs (with the table, the key and the differing columns), is only live, or only
    rebuilt. Nothing is swapped in and nothing live is written; the shadow is dropped.
    """
    from sqlalchemy.schema import CreateTable

    from ledger.kernel.errors import LedgerError
    from ledger.projections import Router, discover, position
    from ledger.projections.runner import _shadow_engine, can_swap

    if not can_swap(ledger):
        raise LedgerError(_("verify --projections needs a database file or PostgreSQL (an in-memory "
                            "database has no room for the rebuilt tables)"))
    projections = list(discover().values())
    with ledger.engine.connect() as conn:
        tracked = {p.name: position(conn, p.name) for p in projections}
    groups: dict[int, list[Any]] = {}
    for p in projections:
        at = tracked[p.name]
        if at is not None and at[1] != p.schema_version:
            yield Finding(None, "projection_version",
                          f"read model {p.name} is at schema version {at[1]}, this ledger "
                          f"builds {p.schema_version}: rebuild it ('ledger projections "
                          "rebuild') before comparing")
            continue
        groups.setdefault(0 if at is None else int(at[0]), []).append(p)
    with _shadow_engine(ledger) as (shadow, _where):
        for stop, group in sorted(groups.items()):
            router = Router(sorted((type(p)() for p in group), key=lambda p: p.name))
            tables = [t for p in router.projections for t in p.tables]
            with shadow.begin() as sconn:
                for table in reversed(tables):
                    sconn.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
                for table in tables:
                    sconn.execute(CreateTable(table))
            for p in router.projections:
                p.start_empty()
            try:
                _build_until(ledger, router, shadow, stop, batch)
            finally:
                router.discard()
            with ledger.engine.connect() as live, shadow.connect() as sconn:
                for table in tables:
                    for rows, finding in _compare_table(live, sconn, table):
                        if out is not None and out.projection_rows is not None:
                            out.projection_rows += rows
                        if finding is not None:
                            yield finding
