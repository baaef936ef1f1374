"""Incremental RFC 9162 Merkle tree over a store of complete-subtree hashes.

The tree stores the hash of every *complete* subtree: node ``(level, index)`` covers the
leaves ``[index * 2**level, (index + 1) * 2**level)`` and exists once the tree has at least
``(index + 1) * 2**level`` leaves. Level 0 holds the leaf hashes. A tree of ``n`` leaves
therefore has fewer than ``2n`` stored nodes, and a stored node never changes.

Any range ``[lo, hi)`` of leaves is covered by at most ``2 log2(n)`` complete subtrees (its
*compact range*, ``range_keys``). The root of the tree at any size ``s <= n`` folds the
compact range of ``[0, s)``, and every element of an RFC 9162 inclusion or consistency
proof is either one stored node or the fold of one compact range. So ``root``,
``inclusion_proof`` and ``consistency_proof`` for any size ``s <= n`` read ``O(log n)``
stored nodes, fetched in a single ``NodeStore.get_nodes`` call.

``IncrementalTree`` keeps the *frontier* in memory: the compact range of ``[0, n)``, one
node per set bit of ``n``. Appending ``k`` leaves hashes the ``k`` leaves' ancestors that
become complete (fewer than ``k + log2(n + k)`` node hashes) and writes them with one
``NodeStore.put_nodes`` call; opening a tree of size ``n`` reads only its frontier.

The proofs are byte-identical to ``ledger.integrity.merkle`` over the same leaves.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import count, groupby, repeat
from operator import itemgetter
from typing import Protocol, cast, overload, runtime_checkable

from ledger.integrity.errors import NodeStoreError, ProofRequestError, TreeError
from ledger.integrity.merkle import EMPTY_ROOT, HASH_SIZE
from ledger.kernel.i18n import _

__all__ = [
    "IncrementalTree",
    "MemoryNodeStore",
    "NodeBatch",
    "NodeItem",
    "NodeKey",
    "NodeStore",
    "frontier_keys",
    "range_keys",
]

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete subtree."""

NodeItem = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete subtree."""

_sha256 = hashlib.sha256
_NODE_PREFIX = b"\x01"


@runtime_checkable
class NodeStore(Protocol):
    """Storage of complete-subtree hashes, read and written in batches.

    Contract:

    - ``get_nodes(keys)`` returns a mapping holding the hash of every requested key that is
      stored; keys not stored are left out (the tree reports them as missing). The keys
      passed may repeat.
    - ``put_nodes(items)`` stores every ``(level, index, hash)`` item. All nodes produced by
      one ``IncrementalTree.append`` arrive in one call, ordered by level and then by index,
      so a database implementation can write them in one transaction. From ``append`` the
      sequence is a ``NodeBatch``, whose ``runs()`` give each level's new nodes as one run
      of consecutive indexes, for bulk writes. Nodes are immutable: writing a node again
      with the same hash must succeed (a retried append); writing it with a different hash
      must raise (``NodeStoreError``).

    The tree never asks a store for its size: the caller passes the size it recorded
    (e.g. in the same transaction as the events) to ``IncrementalTree``.
    """

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the stored hashes of ``keys``; missing keys are absent from the result."""
        ...

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        """Store ``(level, index, hash)`` items."""
        ...


class NodeBatch(Sequence[NodeItem]):
    """The nodes written by one append, as runs of consecutive indexes per level.

    It is a read-only ``Sequence`` of ``(level, index, hash)`` items, ordered by level and
    then index, that builds each item tuple only when asked. A store may instead read
    ``runs()`` (``(level, first_index, hashes)``) to write a whole level at once.
    """

    __slots__ = ("_length", "_runs", "_starts")

    def __init__(self) -> None:
        self._runs: list[tuple[int, int, list[bytes]]] = []
        self._starts: list[int] = []
        self._length = 0

    def add_run(self, level: int, first_index: int, hashes: list[bytes]) -> None:
        """Add nodes ``(level, first_index + i, hashes[i])``; levels must be added in order."""
        if self._runs and level <= self._runs[-1][0]:
            raise NodeStoreError(_("runs must be added by increasing level, got level {level}").format(
                                     level=level))
        if hashes:
            self._runs.append((level, first_index, hashes))
            self._starts.append(self._length)
            self._length += len(hashes)

    def runs(self) -> list[tuple[int, int, list[bytes]]]:
        """``(level, first_index, hashes)`` for each level, by increasing level."""
        return list(self._runs)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[NodeItem]:
        for level, first, hashes in self._runs:
            yield from zip(repeat(level), count(first), hashes)

    @overload
    def __getitem__(self, position: int) -> NodeItem: ...

    @overload
    def __getitem__(self, position: slice) -> list[NodeItem]: ...

    def __getitem__(self, position: int | slice) -> NodeItem | list[NodeItem]:
        if isinstance(position, slice):
            return list(self)[position]
        if position < 0:
            position += self._length
        if not 0 <= position < self._length:
            raise IndexError("NodeBatch index out of range")
        run = bisect_right(self._starts, position) - 1
        level, first, hashes = self._runs[run]
        offset = position - self._starts[run]
        return (level, first + offset, hashes[offset])


class MemoryNodeStore:
    """``NodeStore`` in memory: one ``bytearray`` per level holding its hashes end to end.

    Levels are dense (a tree only ever completes the next node of a level), so 1,000,000
    leaves take about 64 MB. Writing a node beyond the next free index of its level is
    refused.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    def node_count(self) -> int:
        """Number of stored nodes over all levels."""
        return sum(len(level) for level in self._levels) // HASH_SIZE

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Return the stored hashes of ``keys``; missing keys are absent from the result."""
        levels = self._levels
        found: dict[NodeKey, bytes] = {}
        for level, index in keys:
            if 0 <= level < len(levels) and index >= 0:
                start = index * HASH_SIZE
                if start + HASH_SIZE <= len(levels[level]):
                    found[(level, index)] = bytes(levels[level][start : start + HASH_SIZE])
        return found

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        """Store items; rewriting a node with its own hash is a no-op. Either every item is
        stored or, if one is refused (``NodeStoreError``), none is.
        """
        if isinstance(items, NodeBatch):
            appends = [
                (level, self._new_run_bytes(level, first, hashes))
                for level, first, hashes in items.runs()
            ]
        else:
            by_level: dict[int, list[NodeItem]] = {}
            for level, group in groupby(items, key=itemgetter(0)):
                by_level.setdefault(level, []).extend(group)
            appends = [(level, self._new_bytes(level, group)) for level, group in by_level.items()]
        for level, new_bytes in appends:
            while len(self._levels) <= level:
                self._levels.append(bytearray())
            self._levels[level] += new_bytes

    def _new_run_bytes(self, level: int, first: int, hashes: list[bytes]) -> bytes:
        """Bytes to append for a run of consecutive nodes of one level."""
        stored = len(self._levels[level]) // HASH_SIZE if 0 <= level < len(self._levels) else 0
        if first == stored and _all_hashes(hashes):
            return b"".join(hashes)  # the common case: the next nodes of the level
        return self._new_bytes(level, list(zip(repeat(level), count(first), hashes)))

    def _new_bytes(self, level: int, items: list[NodeItem]) -> bytes:
        """Check the items of one level against what is stored; return the bytes to append."""
        if isinstance(level, bool) or not isinstance(level, int) or level < 0:
            raise NodeStoreError(_("node level {level!r} is not a non-negative integer").format(
                                     level=level))
        stored = self._levels[level] if level < len(self._levels) else bytearray()
        stored_count = len(stored) // HASH_SIZE
        hashes = list(map(itemgetter(2), items))
        if not _all_hashes(hashes):
            raise NodeStoreError(_("a node hash at level {level} is not {hash_size} bytes").format(
                                     level=level, hash_size=HASH_SIZE))
        indexes = list(map(itemgetter(1), items))
        if indexes == list(range(stored_count, stored_count + len(items))):
            return b"".join(hashes)  # the common case: the next nodes of the level, in order
        known = bytearray(stored)
        for index, value in sorted(zip(indexes, hashes, strict=True)):
            have = len(known) // HASH_SIZE
            if not isinstance(index, int) or index < 0 or index > have:
                raise NodeStoreError(
                    _("node ({level}, {index!r}) would leave a gap: level {level} has {have} nodes").format(
                        level=level, index=index, have=have)
                )
            if index == have:
                known += value
            elif known[index * HASH_SIZE : (index + 1) * HASH_SIZE] != value:
                raise NodeStoreError(_("node ({level}, {index}) is already stored with another hash").format(
                                         level=level, index=index))
        return bytes(known[len(stored) :])


def range_keys(lo: int, hi: int) -> list[NodeKey]:
    """Keys of the complete subtrees covering leaves ``[lo, hi)`` (its compact range), left to
    right: each the largest aligned subtree starting where the previous one ends.
    """
    if not 0 <= lo <= hi:
        raise ProofRequestError(_("[{lo}, {hi}) is not a range of leaves").format(lo=lo, hi=hi))
    keys: list[NodeKey] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


def frontier_keys(size: int) -> list[NodeKey]:
    """Keys of the complete subtrees that make up the tree of ``size`` leaves, left to right
    (one per set bit of ``size``, largest first). Their fold is the root at ``size``.
    """
    return range_keys(0, size)


def _all_hashes(values: Sequence[object]) -> bool:
    """Whether every value is a ``bytes`` of ``HASH_SIZE`` (checked at C speed)."""
    return not values or (
        set(map(type, values)) == {bytes}
        and set(map(len, cast("Sequence[bytes]", values))) == {HASH_SIZE}
    )


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a compact range from its subtree hashes, left to right (fold from the right)."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = _sha256(_NODE_PREFIX + left + result).digest()
    return result


class IncrementalTree:
    """An append-only RFC 9162 Merkle tree whose complete-subtree hashes live in a
    ``NodeStore``.

    ``IncrementalTree(store, size)`` opens the tree of ``size`` leaves already in ``store``
    (reading its frontier, at most ``log2(size) + 1`` nodes). Not safe for concurrent use:
    one writer appends, and the caller serialises appends with its own transaction.
    """

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TreeError(_("tree size must be a non-negative integer, got {size!r}").format(
                                size=size))
        self._store = store
        self._size = size
        self._frontier: list[bytes | None] = [None] * size.bit_length()
        keys = frontier_keys(size)
        values = self._fetch(keys, f"the frontier of size {size}")
        for (level, _index), value in zip(keys, values, strict=True):
            self._frontier[level] = value

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return self._size

    @property
    def store(self) -> NodeStore:
        """The node store the tree reads and writes."""
        return self._store

    def _fetch(self, keys: Sequence[NodeKey], purpose: str) -> list[bytes]:
        if not keys:
            return []
        found = self._store.get_nodes(keys)
        values: list[bytes] = []
        for key in keys:
            value = found.get(key)
            if value is None:
                raise TreeError(_("node store lacks node {key}, needed for {purpose}").format(
                                    key=key, purpose=purpose))
            values.append(value)
        return values

    def append(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaves (their 32-byte leaf hashes) and return the new tree size.

        Writes the new leaves and every subtree they complete in one ``put_nodes`` call;
        the tree's size changes only once that call has returned.
        """
        leaves = list(leaf_hashes)
        if not _all_hashes(leaves):
            raise TreeError(_("every leaf hash must be {hash_size} bytes").format(hash_size=HASH_SIZE))
        if not leaves:
            return self._size
        old_size = self._size
        new_size = old_size + len(leaves)
        old_frontier = self._frontier
        frontier = old_frontier + [None] * (new_size.bit_length() - len(old_frontier))
        batch = NodeBatch()
        batch.add_run(0, old_size, leaves)
        sha256, prefix = _sha256, _NODE_PREFIX
        level = 0
        first = old_size  # index at `level` of current[0]
        current = leaves  # the nodes of `level` completed by this append
        while True:
            # `current` ends at index (new_size >> level) - 1, the last complete node.
            frontier[level] = current[-1] if (new_size >> level) & 1 else None
            if first & 1:
                # current[0] is a right child; its left sibling is the old frontier node.
                left = old_frontier[level]
                if left is None:
                    raise TreeError(_("frontier lacks level {level} at size {old_size}").format(
                                        level=level, old_size=old_size))
                current = [left, *current]
                first -= 1
            pairs = len(current) // 2
            if pairs == 0:
                break
            halves = iter(current)  # zip(halves, halves) pairs neighbours, dropping an odd last
            current = [
                sha256(prefix + a + b).digest() for a, b in zip(halves, halves, strict=False)
            ]
            level += 1
            first >>= 1
            batch.add_run(level, first, current)
        self._store.put_nodes(batch)
        self._frontier = frontier
        self._size = new_size
        return new_size

    def _check_size(self, size: int, what: str) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self._size:
            raise ProofRequestError(_("{what} {size!r} is outside a tree of size {size2}").format(
                                        what=what, size=size, size2=self._size))

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree at ``size`` leaves (default: the current size)."""
        if size is None or size == self._size:
            present = [h for h in reversed(self._frontier) if h is not None]
            return _fold(present) if present else EMPTY_ROOT
        self._check_size(size, "size")
        if size == 0:
            return EMPTY_ROOT
        return _fold(self._fetch(frontier_keys(size), f"the root at size {size}"))

    def _resolve(self, plan: Sequence[list[NodeKey]], purpose: str) -> list[bytes]:
        """Fetch every key of ``plan`` in one batch and fold each entry into one hash."""
        keys = [key for entry in plan for key in entry]
        values = iter(self._fetch(keys, purpose))
        return [_fold([next(values) for _ in entry]) for entry in plan]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree at ``size`` leaves
        (default: the current size).
        """
        if size is None:
            size = self._size
        self._check_size(size, "size")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise ProofRequestError(_("leaf index {index!r} is outside a tree of size {size}").format(
                                        index=index, size=size))
        plan: list[list[NodeKey]] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                plan.append(range_keys(lo + k, hi))
                hi = lo + k
            else:
                plan.append(range_keys(lo, lo + k))
                lo += k
        plan.reverse()
        return self._resolve(plan, f"the inclusion proof of {index} at size {size}")

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof from the tree at ``size1`` leaves to the tree at
        ``size2`` leaves (default: the current size). Empty when the sizes are equal; a
        proof from the empty tree is refused, as it proves nothing.
        """
        if size2 is None:
            size2 = self._size
        self._check_size(size2, "size2")
        if isinstance(size1, bool) or not isinstance(size1, int) or not 0 < size1 <= size2:
            raise ProofRequestError(
                _("a consistency proof needs 0 < size1 <= size2, got size1={size1!r}, size2={size2}").format(
                    size1=size1, size2=size2)
            )
        plan: list[list[NodeKey]] = []
        lo, hi, complete = 0, size2, True
        while size1 != hi:
            k = _split(hi - lo)
            if size1 <= lo + k:
                plan.append(range_keys(lo + k, hi))
                hi = lo + k
            else:
                plan.append(range_keys(lo, lo + k))
                lo += k
                complete = False
        if not complete:
            plan.append(range_keys(lo, hi))
        plan.reverse()
        return self._resolve(plan, f"the consistency proof from {size1} to {size2}")
