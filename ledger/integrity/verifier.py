"""``verify``: check the event log against its Merkle tree and signed checkpoints.

What is checked (one streaming pass over the log, in constant memory):

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
   current root.

Events recorded after the last seal are counted but not covered by anything signed yet:
``verify`` does not seal (it needs only the public key); run ``ledger checkpoint`` first to
cover them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, and_, func, select

from ledger.integrity import checkpoint as cp
from ledger.integrity.errors import IntegrityError, KeyFileError
from ledger.integrity.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from ledger.integrity.sealer import (
    EventRow,
    event_rows,
    key_path,
    leaf_of,
    log_origin,
    signing_key,
)
from ledger.integrity.sqlstore import (
    SqlNodeStore,
    checkpoints,
    merkle_leaves,
    merkle_nodes,
    placeholder,
)
from ledger.integrity.tree import IncrementalTree, NodeItem, NodeKey
from ledger.store import command_log

if TYPE_CHECKING:
    from ledger.application import GovernanceLedger

__all__ = ["Finding", "Verification", "verify"]

_NO_LEAF = b"\x00" * HASH_SIZE  # stands in for a leaf whose event is gone
_FLUSH = 8192


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
    key_source: str = "given"
    """Which key signatures were checked with: ``given``, ``key file``, or ``stored`` (the
    verifier key recorded with the first checkpoint: no key file and none given).
    """

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        text = (f"verified {self.events} events, tree size {self.tree_size}, root "
                f"{base64.b64encode(self.root).decode()}")
        if self.unsealed:
            text += f"; {self.unsealed} later events not sealed yet (run 'ledger checkpoint')"
        return text


class _NullStore:
    """A node store that keeps nothing: the verifier's tree needs only its frontier."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {}

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _leaf_rows(conn: Connection, page: int = 5000) -> Iterator[tuple[int, int, bytes | None]]:
    """(position, notification id, sealed leaf hash or None) in position order, paged."""
    mark = placeholder(conn)
    sql = (f"SELECT l.position, l.notification_id, n.hash FROM {merkle_leaves.name} l "
           f"LEFT OUTER JOIN {merkle_nodes.name} n ON n.level = 0 AND n.idx = l.position "
           f"WHERE l.position > {mark} ORDER BY l.position LIMIT {mark}")
    after = -1
    while True:
        rows = conn.exec_driver_sql(sql, (after, page)).all()
        for pos, nid, value in rows:
            yield pos, nid, bytes(value) if value is not None else None
        if len(rows) < page:
            return
        after = rows[-1][0]


def _command_ranges(conn: Connection, page: int = 5000) -> Iterator[tuple[int, int]]:
    """(first, last) notification ids written by each command, in log order."""
    c = command_log
    after = 0
    while True:
        rows = conn.execute(
            select(c.c.first_notification_id, c.c.last_notification_id)
            .where(and_(c.c.first_notification_id.is_not(None),
                        c.c.first_notification_id > after))
            .order_by(c.c.first_notification_id).limit(page)
        ).all()
        for first, last in rows:
            yield int(first), int(last if last is not None else first)
        if len(rows) < page:
            return
        after = int(rows[-1][0])


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
            f"signing key file {key_path(ledger.settings)} does not exist and the ledger has no "
            "checkpoint; pass the published verifier key with --key")
    name, public_key = cp.parse_verifier_key(str(stored))
    return name, public_key, "stored"


def verify(ledger: GovernanceLedger, checkpoint_note: str | None = None, *,
           verifier_key: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> Verification:
    """Check the whole log against the Merkle tree and the checkpoints; see the module doc.

    *checkpoint_note* is a signed checkpoint the auditor kept; *verifier_key* the published
    key to check signatures with (default: the public half of the ledger's key file).
    *progress* is called with (events done, events in the log) now and then.
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

        # 2-5. One pass over the leaves and the events.
        total = int(conn.execute(select(func.count()).select_from(ledger.events_table))
                    .scalar_one())
        if progress:
            progress(0, total)
        tree = IncrementalTree(_NullStore())
        pending: list[bytes] = []

        def flush() -> None:
            tree.append(pending)
            pending.clear()
            if tree.size in targets:
                targets[tree.size] = tree.root()

        if 0 in targets:
            targets[0] = EMPTY_ROOT
        events = _checked_events(conn, ledger, found)
        ev = next(events, None)
        seen = 0
        expected, last_nid = 0, 0
        mapper = ledger.mapper
        for pos, nid, sealed in _leaf_rows(conn):
            if pos != expected:
                found(Finding(expected, "leaf_gap",
                              f"the leaf map jumps from position {expected - 1} to {pos}"))
            if nid <= last_nid:
                found(Finding(pos, "leaf_order", f"leaf {pos} covers event {nid}, not after "
                              f"the previous leaf's event {last_nid}"))
            while ev is not None and ev.notification_id < nid:
                found(Finding(pos, "uncovered_event",
                              f"event {ev.notification_id} lies before leaf {pos}'s event {nid} "
                              "but no leaf covers it (inserted after sealing?)"))
                seen += 1
                ev = next(events, None)
            if ev is None or ev.notification_id > nid:
                found(Finding(pos, "missing_event", f"leaf {pos} covers event {nid}, which is "
                              "no longer in the log (deleted?)"))
                leaf = _NO_LEAF
            else:
                leaf = leaf_of(pos, ev, mapper)
                out.events += 1
                seen += 1
                if sealed is None:
                    found(Finding(pos, "leaf_node_missing",
                                  f"the sealed hash of leaf {pos} is missing from the tree"))
                elif leaf != sealed:
                    found(Finding(pos, "leaf_mismatch",
                                  f"event {nid} (aggregate {ev.aggregate_id} version "
                                  f"{ev.version}) does not hash to the sealed leaf {pos} "
                                  "(altered, or moved)"))
                ev = next(events, None)
            pending.append(leaf)
            expected, last_nid = pos + 1, max(last_nid, nid)
            if len(pending) >= _FLUSH or tree.size + len(pending) in targets:
                flush()
                if progress:
                    progress(seen, total)
        flush()
        out.tree_size = expected
        out.root = tree.root()
        while ev is not None:  # recorded after the last seal
            out.unsealed += 1
            seen += 1
            ev = next(events, None)
        if progress:
            progress(seen, total)

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

        # 6. The checkpoint the auditor kept.
        if retained is not None:
            _check_retained(out, retained, targets, stored_tree)
    return out


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


def _checked_events(conn: Connection, ledger: GovernanceLedger,
                    found: Callable[[Finding], None]) -> Iterator[EventRow]:
    """The log's events in order, each checked against the command log's ranges."""
    ranges = _command_ranges(conn)
    current = next(ranges, None)
    for row in event_rows(conn, ledger.events_table):
        nid = row.notification_id
        while current is not None and current[1] < nid:
            current = next(ranges, None)
        if current is None or not current[0] <= nid <= current[1]:
            found(Finding(None, "event_without_command",
                          f"event {nid} (aggregate {row.aggregate_id} version {row.version}) "
                          "was not written by any command in the command log (forged?)"))
        yield row
