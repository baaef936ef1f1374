"""Leaves in the write transaction: no committed event is ever outside the tree.

The writer (``ledger.kernel.writer``) calls :class:`TxnSealer` at the start and at the commit of
every write transaction:

- :meth:`TxnSealer.begin` reads the tree's head beside the log's head. They must agree: an
  event after the last leaf was written outside the ledger's write path (a raw INSERT), and
  the transaction is refused (``LogIntegrityError``) before it writes anything. A ledger
  written by an earlier release, which sealed only on ``ledger checkpoint``, has no identity
  row yet: its unsealed tail is sealed once, in this transaction, and the identity is made.
  Once per process it also checks the database against the signer's own record of its last
  checkpoint (``ledger.integrity.signer``), when the key file is on this machine, and refuses
  writes to a restored older copy or a rewound log (``LogForkError``).
- :meth:`TxnSealer.commit` appends the format-2 leaf of every event the transaction wrote
  (binding each command's command-log row into the leaf of its first event), the interior
  nodes they complete, and their rows in ``ledger_merkle_leaves``, in the same transaction.

The work per transaction is proportional to its events plus the tree's depth: the tree's
frontier is kept between transactions while the tree's head is where this process left it.
All statements run on the writer's driver cursor.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ledger.integrity import signer
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.integrity.errors import LogForkError, LogIntegrityError, RecordMismatchError
from ledger.integrity.sealer import (
    ORIGIN_PREFIX,
    CommandRow,
    EventRow,
    fast_leaf_v2,
    leaf_record,
    uuid_text,
)
from ledger.integrity.sqlstore import checkpoints, log_identity, merkle_leaves, merkle_nodes
from ledger.integrity.tree import IncrementalTree, NodeBatch, NodeItem, NodeKey
from ledger.kernel.config import Settings, now
from ledger.kernel.i18n import _

if TYPE_CHECKING:
    from uuid import UUID

    from eventsourcing.persistence import Mapper

__all__ = ["Identity", "TxnSealer", "new_origin_name"]

_COMMAND_COLUMNS = ("command_id, type, actor, recorded_at, first_notification_id, "
                    "last_notification_id, result")


def new_origin_name(town: str | None) -> str:
    """A fresh, unique origin: ``zq-governance-ledger/<town>/<16 hex digits>``."""
    code = "".join(c if c.isalnum() or c in "._-" else "-" for c in (town or "ledger"))
    return f"{ORIGIN_PREFIX}{code.strip('-') or 'ledger'}/{secrets.token_hex(8)}"


class Identity:
    """The current row of ``ledger_log_identity``."""

    __slots__ = ("log_id", "origin", "seq")

    def __init__(self, seq: int, origin: str, log_id: str) -> None:
        self.seq, self.origin, self.log_id = seq, origin, log_id


class _CursorNodes:
    """``NodeStore`` over ``ledger_merkle_nodes`` on a driver cursor (rebound per
    transaction)."""

    def __init__(self, mark: str) -> None:
        self.mark = mark
        self.cursor: Any = None
        self.insert = (f"INSERT INTO {merkle_nodes.name} (level, idx, hash) "
                       f"VALUES ({mark}, {mark}, {mark})")

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        found: dict[NodeKey, bytes] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 300):
            chunk = wanted[start:start + 300]
            where = " OR ".join([f"(level = {self.mark} AND idx = {self.mark})"] * len(chunk))
            params = [v for key in chunk for v in key]
            self.cursor.execute(f"SELECT level, idx, hash FROM {merkle_nodes.name} WHERE {where}",
                                params)
            for level, idx, value in self.cursor.fetchall():
                found[(int(level), int(idx))] = bytes(value)
        return found

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        if isinstance(items, NodeBatch):
            rows = [(level, first + i, h) for level, first, hashes in items.runs()
                    for i, h in enumerate(hashes)]
        else:
            rows = list(items)
        self.cursor.executemany(self.insert, rows)


class TxnSealer:
    """Appends each write transaction's leaves inside it (see the module docstring)."""

    def __init__(self, settings: Settings, events_table: str, mapper: Mapper[UUID],
                 *, pg: bool) -> None:
        self.settings = settings
        self.events = events_table
        self.mapper = mapper
        self.pg = pg
        mark = "%s" if pg else "?"
        self.mark = mark
        self.nodes = _CursorNodes(mark)
        self.insert_leaf = (f"INSERT INTO {merkle_leaves.name} (position, notification_id) "
                            f"VALUES ({mark}, {mark})")
        self._tree: IncrementalTree | None = None
        self._tree_nid = 0
        self._identity: Identity | None = None
        self._fork_checked = False
        # per transaction
        self._size = 0
        self._last_nid = 0
        self._backlog: list[tuple[Any, ...]] = []
        self._backlog_commands: list[tuple[Any, ...]] = []

    # ------------------------------------------------------------------ reads
    def tree_head(self, cursor: Any) -> tuple[int, int]:
        """(size, notification id of the last leaf); (0, 0) for an empty tree."""
        cursor.execute(f"SELECT position, notification_id FROM {merkle_leaves.name} "
                       "ORDER BY position DESC LIMIT 1")
        row = cursor.fetchone()
        return (0, 0) if row is None else (int(row[0]) + 1, int(row[1]))

    def identity(self, cursor: Any) -> Identity | None:
        """The log's current identity row (None for a ledger of an earlier release)."""
        cursor.execute(f"SELECT seq, origin, log_id FROM {log_identity.name} "
                       "ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
        return None if row is None else Identity(int(row[0]), str(row[1]), str(row[2]))

    def _tree_at(self, cursor: Any, size: int, last_nid: int) -> IncrementalTree:
        self.nodes.cursor = cursor
        tree = self._tree
        if tree is None or tree.size != size or self._tree_nid != last_nid:
            tree = self._tree = IncrementalTree(self.nodes, size)
            self._tree_nid = last_nid
        return tree

    # ------------------------------------------------------------------ transaction
    def begin(self, cursor: Any, head: int | None) -> None:
        """Check the tree against the log's head; pick up an earlier release's unsealed tail.

        When the log's head is the event this process last gave a leaf (nobody wrote since),
        the tree's head is the one kept in memory: no query."""
        tree = self._tree
        if (tree is not None and head is not None and head == self._tree_nid
                and self._identity is not None and self._fork_checked):
            size, last_nid = tree.size, self._tree_nid
        else:
            size, last_nid = self.tree_head(cursor)
        self._size, self._last_nid = size, last_nid
        self._backlog, self._backlog_commands = [], []
        if self._identity is None:
            self._identity = self.identity(cursor)
        if (head or 0) != last_nid:
            if self._identity is not None or (head or 0) < last_nid:
                first = last_nid + 1
                raise LogIntegrityError(
                    f"log position {first}" + (f"–{head}" if head and head > first else "")
                    + " has no Merkle leaf: written outside the ledger's write path (nothing "
                    "is written until this is resolved; run 'ledger verify', then restore the "
                    "last good backup)")
            cursor.execute(f"SELECT id, originator_id, originator_version, topic, state "
                           f"FROM {self.events} WHERE id > {self.mark} ORDER BY id", (last_nid,))
            self._backlog = [tuple(r) for r in cursor.fetchall()]
            cursor.execute(f"SELECT {_COMMAND_COLUMNS} FROM ledger_command_log "
                           f"WHERE first_notification_id > {self.mark}", (last_nid,))
            self._backlog_commands = [tuple(r) for r in cursor.fetchall()]
        if not self._fork_checked:
            self._check_fork(cursor, size)
            self._fork_checked = True

    def _check_fork(self, cursor: Any, size: int) -> None:
        state = signer.load_state(self.settings)
        if state is None:
            return
        identity = self._identity
        fix = ("restore the latest backup, or start a new log on purpose with 'ledger restore "
               "--new-origin'")
        if identity is not None and identity.origin != state.origin:
            raise LogForkError(_("this database's log is {origin!r} but the signer last signed "
                                 "{origin2!r}; {fix}").format(
                                   origin=identity.origin, origin2=state.origin, fix=fix))
        if size < state.size:
            raise LogForkError(
                _("this database's tree has {size} leaves, fewer than the {size2} the signer last signed: "
                  "it is an older copy or was rewound; {fix}").format(
                    size=size, size2=state.size, fix=fix))
        if state.size and self._tree_at(cursor, size, self._last_nid).root(state.size) \
                != state.root:
            raise LogForkError(
                _("this database's tree at size {size} is not the one the signer signed: history was "
                  "rewritten or this is another copy; {fix}").format(size=state.size, fix=fix))

    def commit(self, cursor: Any, events: Sequence[tuple[Any, ...]],
               commands: Sequence[Sequence[Any]]) -> None:
        """Append the leaves of *events* (rows as inserted: id, originator id, version, topic,
        state) and of any earlier release's tail, binding *commands* (command-log rows)."""
        rows = [*self._backlog, *events]
        if not rows:
            if self._identity is None and self._size:
                self._make_identity(cursor, [])
            return
        by_first: dict[int, CommandRow] = {}
        for raw in (*self._backlog_commands, *commands):
            row = CommandRow.of(raw)
            if row is not None:
                by_first[row.first] = row
        size = self._size
        mapper = self.mapper
        get = by_first.get
        leaves = [fast_leaf_v2(size + i, nid, oid, version, topic, state, get(nid), mapper)
                  for i, (nid, oid, version, topic, state) in enumerate(rows)]
        tree = self._tree_at(cursor, size, self._last_nid)
        tree.append(leaves)
        self._tree_nid = int(rows[-1][0])
        cursor.executemany(self.insert_leaf, [(size + i, int(r[0])) for i, r in enumerate(rows)])
        if self._identity is None:
            self._make_identity(cursor, rows)

    def _make_identity(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        cursor.execute(f"SELECT note FROM {checkpoints.name} ORDER BY size LIMIT 1")
        found = cursor.fetchone()
        if found is not None:  # an earlier release's ledger keeps its origin
            origin, reason = parse_checkpoint(str(found[0]))[0].origin, "earlier release"
        else:
            origin, reason = new_origin_name(self._town_code(cursor, rows)), "init"
        cursor.execute(
            f"INSERT INTO {log_identity.name} (seq, origin, log_id, created_at, reason) "
            f"VALUES ({self.mark}, {self.mark}, {self.mark}, {self.mark}, {self.mark})",
            (1, origin, origin.rsplit("/", 1)[-1], now().isoformat(), reason))
        self._identity = Identity(1, origin, origin.rsplit("/", 1)[-1])

    def _town_code(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> str | None:
        cursor.execute(f"SELECT topic, state FROM {self.events} ORDER BY id LIMIT 1")
        first = cursor.fetchone()
        if first is None and rows:
            first = (rows[0][3], rows[0][4])
        if first is not None and str(first[0]).endswith(":Town.Registered"):
            code = json.loads(bytes(first[1])).get("code")
            return code if isinstance(code, str) and code else None
        return None

    def check_bound(self, cursor: Any, command_id: str) -> None:
        """Refuse to trust a command-log row (a repeated ``command_id``'s stored result) that
        is not the row bound into the leaf of its command's first event. A row of a command
        that wrote no events, or one under a format-1 leaf of an earlier release, has no
        binding to check."""
        mark = self.mark
        cursor.execute(f"SELECT {_COMMAND_COLUMNS} FROM ledger_command_log "
                       f"WHERE command_id = {mark}", (command_id,))
        found = cursor.fetchone()
        command = None if found is None else CommandRow.of(tuple(found))
        if command is None:
            return
        cursor.execute(
            f"SELECT e.id, e.originator_id, e.originator_version, e.topic, e.state, l.position, "
            f"n.hash FROM {self.events} e "
            f"LEFT OUTER JOIN {merkle_leaves.name} l ON l.notification_id = e.id "
            f"LEFT OUTER JOIN {merkle_nodes.name} n ON n.level = 0 AND n.idx = l.position "
            f"WHERE e.id = {mark}", (command.first,))
        ev = cursor.fetchone()
        problem = None
        if ev is None or ev[5] is None or ev[6] is None:
            problem = f"its first event (log position {command.first}) has no sealed leaf"
        else:
            row = EventRow(int(ev[0]), uuid_text(ev[1]), int(ev[2]), str(ev[3]), bytes(ev[4]))
            try:
                leaf_record(int(ev[5]), row, command, bytes(ev[6]), self.mapper)
            except RecordMismatchError:
                problem = "it is not the row bound into its first event's leaf"
        if problem:
            raise LogIntegrityError(
                _("the command log's row for command_id {command_id!r} cannot be trusted: {problem} "
                  "(altered or inserted outside the ledger); nothing was written, run "
                  "'ledger verify'").format(
                    command_id=command_id, problem=problem))

    def rollback(self) -> None:
        """Forget the kept frontier (the transaction's appends did not commit)."""
        self._tree = None
        self._backlog, self._backlog_commands = [], []

    def forget(self) -> None:
        """Re-read everything next time (the identity changed, a new origin was started)."""
        self.rollback()
        self._identity = None
        self._fork_checked = False

