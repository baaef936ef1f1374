"""The Merkle log's tables, and the SQL ``NodeStore`` the sealer and the proofs use.

Tables (in ``ledger.kernel.store.metadata``, created with the ledger's other tables; all three are
append-only at the database, like the event log):

- ``ledger_merkle_nodes(level, idx, hash)``: every complete subtree's hash (level 0 holds
  the leaf hashes), see ``ledger.integrity.tree``.
- ``ledger_merkle_leaves(position, notification_id)``: which event each leaf covers. The
  tree's size is ``max(position) + 1``; it changes only in the sealer's transaction, together
  with the leaves and nodes it adds.
- ``ledger_checkpoints(size, root, note, verifier_key, created_at)``: every signed
  checkpoint the sealer wrote (the C2SP signed note as text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
)

from ledger.integrity.errors import NodeStoreError
from ledger.integrity.merkle import HASH_SIZE
from ledger.integrity.tree import NodeBatch, NodeItem, NodeKey
from ledger.kernel.i18n import _
from ledger.kernel.store import metadata, placeholder

__all__ = [
    "INTEGRITY_TABLES",
    "SqlNodeStore",
    "TreeHead",
    "checkpoints",
    "log_identity",
    "merkle_leaves",
    "merkle_nodes",
    "tree_head",
]

_BigInt = BigInteger().with_variant(Integer(), "sqlite")

merkle_nodes = Table(
    "ledger_merkle_nodes",
    metadata,
    Column("level", Integer(), nullable=False),
    Column("idx", _BigInt, nullable=False),
    Column("hash", LargeBinary(HASH_SIZE), nullable=False),
    PrimaryKeyConstraint("level", "idx", name="ledger_merkle_nodes_pk"),
    sqlite_with_rowid=False,  # one b-tree, not a rowid table beside its key (new ledgers)
)

merkle_leaves = Table(
    "ledger_merkle_leaves",
    metadata,
    Column("position", _BigInt, primary_key=True, autoincrement=False),
    Column("notification_id", _BigInt, nullable=False, unique=True),
)

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", _BigInt, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(HASH_SIZE), nullable=False),
    Column("note", Text(), nullable=False),
    Column("verifier_key", Text(), nullable=False),
    Column("created_at", String(40), nullable=False),
)

log_identity = Table(
    "ledger_log_identity",
    metadata,
    Column("seq", Integer(), primary_key=True, autoincrement=False),
    Column("origin", Text(), nullable=False, unique=True),
    Column("log_id", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("previous_origin", Text()),
    Column("previous_size", _BigInt),
    Column("previous_root", LargeBinary(HASH_SIZE)),
)
"""The log's identity: its origin (the name every checkpoint carries), one row per origin the
ledger has had; the row with the highest ``seq`` is the current one. Written by the first write
of this release (a random log id for a new ledger, the first checkpoint's origin for an older
one) and by ``ledger restore --new-origin``."""

INTEGRITY_TABLES = [merkle_nodes.name, merkle_leaves.name, checkpoints.name, log_identity.name]
"""The tables made append-only by ``appendonly.install``."""

_IN_CHUNK = 400  # keys per IN (...) query, well under every driver's parameter limit


class SqlNodeStore:
    """``NodeStore`` over ``ledger_merkle_nodes``, on one connection (so inside the caller's
    transaction). Reads batch all keys into one query; writes insert each level's run of new
    nodes with one multi-row insert.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Return the stored hashes of ``keys``; missing keys are absent from the result."""
        wanted = list(dict.fromkeys(keys))
        found: dict[NodeKey, bytes] = {}
        t = merkle_nodes
        for start in range(0, len(wanted), _IN_CHUNK):
            by_level: dict[int, list[int]] = {}
            for level, idx in wanted[start : start + _IN_CHUNK]:
                by_level.setdefault(level, []).append(idx)
            # One (level = ? AND idx IN (...)) term per level, so both databases search the
            # primary key (a row-value IN list makes SQLite scan the table).
            rows = self.conn.execute(
                select(t.c.level, t.c.idx, t.c.hash).where(or_(*(
                    and_(t.c.level == level, t.c.idx.in_(idxs))
                    for level, idxs in by_level.items()
                )))
            )
            for level, idx, value in rows:
                found[(int(level), int(idx))] = bytes(value)
        return found

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        """Insert new nodes. The sealer only ever writes nodes beyond the tree's recorded
        size, in its own transaction, so a node that exists already is a conflict: the
        database's primary key refuses it and the transaction rolls back.
        """
        if isinstance(items, NodeBatch):
            runs = items.runs()
        else:
            runs = [(level, idx, [value]) for level, idx, value in items]
        if any(len(value) != HASH_SIZE for _, _, hashes in runs for value in hashes):
            raise NodeStoreError(_("a node hash is not {hash_size} bytes").format(hash_size=HASH_SIZE))
        rows = [
            (level, first + offset, value)
            for level, first, hashes in runs
            for offset, value in enumerate(hashes)
        ]
        bulk_insert(self.conn, merkle_nodes, ("level", "idx", "hash"), rows)


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[tuple[object, ...]], chunk: int = 20_000) -> None:
    """Insert many rows through the driver's ``executemany`` (no per-row SQLAlchemy work)."""
    marks = ", ".join([placeholder(conn)] * len(columns))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
    for start in range(0, len(rows), chunk):
        conn.exec_driver_sql(sql, list(rows[start : start + chunk]))


@dataclass(frozen=True)
class TreeHead:
    """The sealed tree's size and the notification id of its last leaf (0 when empty)."""

    size: int
    last_notification_id: int


def tree_head(conn: Connection) -> TreeHead:
    """The tree's size (leaves recorded) and the last event it covers."""
    t = merkle_leaves
    row = conn.execute(
        select(t.c.position, t.c.notification_id).order_by(t.c.position.desc()).limit(1)
    ).first()
    if row is None:
        return TreeHead(0, 0)
    return TreeHead(int(row[0]) + 1, int(row[1]))
