"""The reference Merkle functions and the incremental tree, which must agree byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity import merkle
from ledger.integrity.errors import NodeStoreError, ProofRequestError, TreeError
from ledger.integrity.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from ledger.integrity.tree import (
    IncrementalTree,
    MemoryNodeStore,
    NodeBatch,
    NodeItem,
    NodeKey,
    NodeStore,
    frontier_keys,
    range_keys,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9162"

# The leaf data of the transparency-dev/merkle test tree the vectors' happy paths use.
TEST_TREE_DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
TEST_TREE_LEAVES = [leaf_hash(d) for d in TEST_TREE_DATA]


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [leaf_hash(salt + i.to_bytes(8, "big")) for i in range(n)]


def _tree(leaves: Sequence[bytes], batch: int = 7) -> IncrementalTree:
    tree = IncrementalTree(MemoryNodeStore())
    for start in range(0, len(leaves), batch):
        tree.append(leaves[start : start + batch])
    return tree


class CountingStore:
    """A MemoryNodeStore that records every call made to it."""

    def __init__(self) -> None:
        self.inner = MemoryNodeStore()
        self.get_calls: list[list[NodeKey]] = []
        self.put_calls: list[list[NodeItem]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.get_calls.append(list(keys))
        return self.inner.get_nodes(keys)

    def put_nodes(self, items: Sequence[NodeItem]) -> None:
        self.put_calls.append(list(items))
        self.inner.put_nodes(items)


# --- the reference functions (merkle.py) ---------------------------------------------


def test_hashes_use_the_rfc_9162_domain_separation_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root([]) == EMPTY_ROOT


def test_root_of_the_reference_test_tree_matches_the_published_value() -> None:
    expected = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert root(TEST_TREE_LEAVES).hex() == expected
    assert _tree(TEST_TREE_LEAVES, batch=3).root().hex() == expected


def _happy_paths(kind: str) -> list[Path]:
    return sorted(p for p in (VECTORS / kind).glob("[0-9]*/happy-path.json"))


@pytest.mark.parametrize("path", _happy_paths("inclusion"), ids=lambda p: p.parent.name)
def test_generated_inclusion_proof_equals_the_vector_happy_path(path: Path) -> None:
    case = json.loads(path.read_text())
    size, index = case["treeSize"], case["leafIdx"]
    want = [base64.b64decode(h) for h in case["proof"] or []]
    leaves = TEST_TREE_LEAVES[:size]
    assert base64.b64decode(case["root"]) == root(leaves)
    assert inclusion_proof(leaves, index) == want
    assert _tree(TEST_TREE_LEAVES, batch=3).inclusion_proof(index, size) == want


@pytest.mark.parametrize("path", _happy_paths("consistency"), ids=lambda p: p.parent.name)
def test_generated_consistency_proof_equals_the_vector_happy_path(path: Path) -> None:
    case = json.loads(path.read_text())
    size1, size2 = case["size1"], case["size2"]
    want = [base64.b64decode(h) for h in case["proof"] or []]
    assert consistency_proof(TEST_TREE_LEAVES[:size2], size1) == want
    assert _tree(TEST_TREE_LEAVES, batch=3).consistency_proof(size1, size2) == want


def test_every_generated_proof_up_to_40_leaves_verifies() -> None:
    leaves = _leaves(40)
    for size in range(1, 41):
        prefix = leaves[:size]
        r = root(prefix)
        for index in range(size):
            proof = inclusion_proof(prefix, index)
            assert verify_inclusion(prefix[index], index, size, proof, r)
            flipped = bytes([r[0] ^ 1]) + r[1:]
            assert not verify_inclusion(prefix[index], index, size, proof, flipped)
            if proof:
                bad = [bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
                assert not verify_inclusion(prefix[index], index, size, proof[:-1] + bad, r)
        for size1 in range(1, size + 1):
            proof = consistency_proof(prefix, size1)
            assert verify_consistency(size1, size, proof, root(prefix[:size1]), r)


def test_inclusion_proof_for_an_index_outside_the_tree_is_refused() -> None:
    with pytest.raises(ProofRequestError, match="outside a tree of size 3"):
        inclusion_proof(_leaves(3), 3)


def test_consistency_proof_from_empty_tree_is_refused_by_the_generator() -> None:
    with pytest.raises(ProofRequestError, match="empty tree"):
        consistency_proof(_leaves(3), 0)
    with pytest.raises(ProofRequestError, match="outside a tree of size 3"):
        consistency_proof(_leaves(3), 4)


def test_consistency_proof_between_equal_sizes_is_empty() -> None:
    assert consistency_proof(_leaves(5), 5) == []


def test_consistency_proof_from_empty_tree_is_rejected() -> None:
    assert not verify_consistency(0, 3, [], EMPTY_ROOT, root(_leaves(3)))
    assert not verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


@pytest.mark.parametrize(
    "garbage",
    [
        {"leaf_hash": "not bytes"},
        {"leaf_hash": b"short"},
        {"root": None},
        {"root": b"x" * 33},
        {"index": -1},
        {"index": True},
        {"index": 1.0},
        {"index": 4},
        {"size": "4"},
        {"proof": "abc"},
        {"proof": None},
        {"proof": [b"x" * 31]},
        {"proof": [object()]},
    ],
    ids=repr,
)
def test_inclusion_verifier_returns_false_on_garbage_without_raising(
    garbage: dict[str, object],
) -> None:
    leaves = _leaves(4)
    args: dict[str, object] = {
        "leaf_hash": leaves[1],
        "index": 1,
        "size": 4,
        "proof": inclusion_proof(leaves, 1),
        "root": root(leaves),
    }
    assert verify_inclusion(**args)  # type: ignore[arg-type]
    args.update(garbage)
    assert verify_inclusion(**args) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "garbage",
    [
        {"size1": 5},
        {"size1": -1},
        {"size1": False},
        {"size2": "4"},
        {"proof": None},
        {"proof": [b"x"]},
        {"proof": b"x" * 32},
        {"root1": b"short"},
        {"root2": None},
    ],
    ids=repr,
)
def test_consistency_verifier_returns_false_on_garbage_without_raising(
    garbage: dict[str, object],
) -> None:
    leaves = _leaves(4)
    args: dict[str, object] = {
        "size1": 3,
        "size2": 4,
        "proof": consistency_proof(leaves, 3),
        "root1": root(leaves[:3]),
        "root2": root(leaves),
    }
    assert verify_consistency(**args)  # type: ignore[arg-type]
    args.update(garbage)
    assert verify_consistency(**args) is False  # type: ignore[arg-type]


# --- the incremental tree -----------------------------------------------------------


def test_memory_node_store_satisfies_the_node_store_protocol() -> None:
    assert isinstance(MemoryNodeStore(), NodeStore)
    assert isinstance(CountingStore(), NodeStore)


def test_empty_tree_has_the_empty_root() -> None:
    tree = IncrementalTree(MemoryNodeStore())
    assert tree.size == 0
    assert tree.root() == EMPTY_ROOT
    assert tree.root(0) == EMPTY_ROOT
    assert tree.append([]) == 0


def test_range_keys_cover_the_range_with_aligned_complete_subtrees() -> None:
    for lo in range(40):
        for hi in range(lo, 70):
            covered = []
            for level, index in range_keys(lo, hi):
                start = index << level
                covered.extend(range(start, start + (1 << level)))
            assert covered == list(range(lo, hi))
    assert frontier_keys(13) == [(3, 0), (2, 2), (0, 12)]
    assert frontier_keys(0) == []


def test_appending_stores_every_complete_subtree_and_nothing_else() -> None:
    store = MemoryNodeStore()
    tree = IncrementalTree(store)
    leaves = _leaves(300)
    tree.append(leaves)
    assert store.node_count() == 2 * 300 - bin(300).count("1")
    assert store.get_nodes([(2, 1)])[(2, 1)] == root(leaves[4:8])
    assert store.get_nodes([(8, 0)])[(8, 0)] == root(leaves[:256])
    assert store.get_nodes([(8, 1), (0, 300)]) == {}


def test_appending_k_leaves_writes_once_and_reads_nothing() -> None:
    store = CountingStore()
    tree = IncrementalTree(store)
    tree.append(_leaves(1000))
    store.get_calls.clear()
    store.put_calls.clear()
    assert tree.append(_leaves(10, b"more")) == 1010
    assert store.get_calls == []
    assert len(store.put_calls) == 1
    written = store.put_calls[0]
    assert sorted(written) == written  # by level, then index
    assert len(written) <= 10 + 10 + 11  # the leaves, their completed parents, one per level


def test_reopening_a_tree_reads_only_its_frontier() -> None:
    store = CountingStore()
    leaves = _leaves(5000)
    tree = IncrementalTree(store)
    tree.append(leaves)
    store.get_calls.clear()
    reopened = IncrementalTree(store, 5000)
    assert store.get_calls == [frontier_keys(5000)]
    assert reopened.root() == tree.root() == root(leaves)
    reopened.append(_leaves(3, b"x"))
    assert reopened.root() == root(leaves + _leaves(3, b"x"))


def test_proofs_and_roots_read_logarithmically_many_nodes_in_one_batch() -> None:
    store = CountingStore()
    tree = IncrementalTree(store)
    size = 100_000
    tree.append(_leaves(size))
    bound = 2 * size.bit_length()
    for request in (
        lambda: tree.root(77_777),
        lambda: tree.inclusion_proof(12_345, 99_999),
        lambda: tree.inclusion_proof(99_998, 99_999),
        lambda: tree.consistency_proof(65_537, 99_999),
        lambda: tree.consistency_proof(3, 100_000),
    ):
        store.get_calls.clear()
        request()
        assert len(store.get_calls) == 1
        assert len(store.get_calls[0]) <= bound


def test_deterministic_5000_leaf_tree_matches_the_reference_implementation() -> None:
    leaves = _leaves(5000, b"det")
    tree = IncrementalTree(MemoryNodeStore())
    start, batch = 0, 1
    while start < len(leaves):
        tree.append(leaves[start : start + batch])
        start += batch
        batch = batch * 3 % 97 + 1  # irregular batch sizes, 1 to 97
    assert tree.size == 5000
    assert tree.root() == root(leaves)
    sizes = sorted(
        {1, 2, 3, 4095, 4096, 4097, 4999, 5000} | {(i * 7919) % 5000 + 1 for i in range(40)}
    )
    for size in sizes:
        prefix = leaves[:size]
        assert tree.root(size) == root(prefix)
        for index in {0, size - 1, size // 2, (size * 37) % size}:
            assert tree.inclusion_proof(index, size) == inclusion_proof(prefix, index)
        for size1 in {1, size, (size + 1) // 2, max(1, size - 1), (size * 13) % size + 1}:
            assert tree.consistency_proof(size1, size) == consistency_proof(prefix, size1)


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12),
    data=st.data(),
)
def test_incremental_tree_proofs_equal_the_reference_for_random_sizes(
    batches: list[int], data: st.DataObject
) -> None:
    total = sum(batches)
    leaves = _leaves(total, b"prop")
    store = MemoryNodeStore()
    tree = IncrementalTree(store)
    done = 0
    for count in batches:
        tree.append(leaves[done : done + count])
        done += count
        tree = IncrementalTree(store, done)  # reopen from the store after every batch
        assert tree.root() == root(leaves[:done])
    if total == 0:
        return
    size = data.draw(st.integers(min_value=1, max_value=total), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    size1 = data.draw(st.integers(min_value=1, max_value=size), label="size1")
    prefix = leaves[:size]
    assert tree.root(size) == root(prefix)
    proof = tree.inclusion_proof(index, size)
    assert proof == inclusion_proof(prefix, index)
    assert verify_inclusion(prefix[index], index, size, proof, root(prefix))
    cproof = tree.consistency_proof(size1, size)
    assert cproof == consistency_proof(prefix, size1)
    assert verify_consistency(size1, size, cproof, root(leaves[:size1]), root(prefix))


def test_tree_refuses_requests_beyond_its_size() -> None:
    tree = _tree(_leaves(10))
    with pytest.raises(ProofRequestError, match="outside a tree of size 10"):
        tree.root(11)
    with pytest.raises(ProofRequestError, match="outside a tree of size 10"):
        tree.inclusion_proof(3, 11)
    with pytest.raises(ProofRequestError, match="outside a tree of size 4"):
        tree.inclusion_proof(4, 4)
    with pytest.raises(ProofRequestError, match="0 < size1 <= size2"):
        tree.consistency_proof(0, 10)
    with pytest.raises(ProofRequestError, match="0 < size1 <= size2"):
        tree.consistency_proof(6, 5)
    assert tree.consistency_proof(10, 10) == []


def test_appending_a_malformed_leaf_hash_is_refused_and_leaves_the_tree_unchanged() -> None:
    tree = _tree(_leaves(5))
    before = tree.root()
    with pytest.raises(TreeError, match="32 bytes"):
        tree.append([leaf_hash(b"ok"), b"x" * 31])
    with pytest.raises(TreeError, match="32 bytes"):
        tree.append([bytearray(32)])  # type: ignore[list-item]
    assert tree.size == 5
    assert tree.root() == before


def test_opening_a_tree_larger_than_its_store_fails_naming_the_missing_node() -> None:
    store = MemoryNodeStore()
    IncrementalTree(store).append(_leaves(4))
    with pytest.raises(TreeError, match=r"lacks node \(0, 4\)"):
        IncrementalTree(store, 5)
    with pytest.raises(TreeError, match="non-negative integer"):
        IncrementalTree(store, -1)


def test_memory_store_accepts_a_rewrite_with_the_same_hash() -> None:
    store = MemoryNodeStore()
    tree = IncrementalTree(store)
    tree.append(_leaves(6))
    retry = IncrementalTree(store, 4)  # an append retried after its size was not recorded
    assert retry.append(_leaves(6)[4:]) == 6
    assert retry.root() == root(_leaves(6))


def test_memory_store_refuses_a_conflicting_hash_and_writes_nothing() -> None:
    store = MemoryNodeStore()
    IncrementalTree(store).append(_leaves(4))
    count = store.node_count()
    with pytest.raises(NodeStoreError, match=r"node \(0, 2\) is already stored"):
        store.put_nodes([(0, 4, b"a" * 32), (0, 2, b"b" * 32)])
    assert store.node_count() == count
    with pytest.raises(NodeStoreError, match="gap"):
        store.put_nodes([(0, 6, b"a" * 32)])
    with pytest.raises(NodeStoreError, match="32 bytes"):
        store.put_nodes([(0, 4, b"a")])
    assert store.node_count() == count


def test_memory_store_accepts_nodes_in_any_order() -> None:
    store = MemoryNodeStore()
    items = [(0, 1, b"b" * 32), (1, 0, b"c" * 32), (0, 0, b"a" * 32)]
    store.put_nodes(items)
    assert store.get_nodes([(0, 0), (0, 1), (1, 0)]) == {(k[0], k[1]): k[2] for k in items}


def test_merkle_module_exports_the_documented_api() -> None:
    assert set(merkle.__all__) >= {
        "EMPTY_ROOT",
        "leaf_hash",
        "node_hash",
        "root",
        "inclusion_proof",
        "consistency_proof",
        "verify_inclusion",
        "verify_consistency",
    }


def test_node_batch_is_a_sequence_of_level_index_hash_items() -> None:
    batch = NodeBatch()
    batch.add_run(0, 6, [b"a" * 32, b"b" * 32, b"c" * 32])
    batch.add_run(1, 3, [b"d" * 32])
    batch.add_run(2, 1, [])
    items = [(0, 6, b"a" * 32), (0, 7, b"b" * 32), (0, 8, b"c" * 32), (1, 3, b"d" * 32)]
    assert list(batch) == items
    assert len(batch) == 4
    assert [batch[i] for i in range(4)] == items
    assert batch[-1] == items[-1]
    assert batch[1:3] == items[1:3]
    assert batch.runs() == [(0, 6, [b"a" * 32, b"b" * 32, b"c" * 32]), (1, 3, [b"d" * 32])]
    with pytest.raises(IndexError):
        batch[4]
    with pytest.raises(NodeStoreError, match="increasing level"):
        batch.add_run(1, 9, [b"e" * 32])
