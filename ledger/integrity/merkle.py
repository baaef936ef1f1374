"""RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification.

Hashes are 32-byte SHA-256 digests held as ``bytes``:

- leaf hash ``leaf_hash(d) = SHA-256(0x00 || d)``;
- interior node ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
- the root of the empty tree ``EMPTY_ROOT = SHA-256("")``.

The tree over ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``
(RFC 9162 §2.1.1). ``root``, ``inclusion_proof`` and ``consistency_proof`` follow the
recursive definitions of §2.1.1, §2.1.3.1 and §2.1.4.1 over a full list of leaf hashes;
they are the reference the incremental tree (``ledger.integrity.tree``) is tested against.

``verify_inclusion`` and ``verify_consistency`` follow §2.1.3.2 and §2.1.4.2. They return
``False`` and never raise on malformed input: wrong hash lengths, wrong types, an index
outside the tree, ``size1 > size2``, and any consistency proof from the empty tree
(``size1 == 0``), which proves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from ledger.integrity.errors import ProofRequestError
from ledger.kernel.i18n import _

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the tree with no leaves: SHA-256 of the empty string."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for a non-empty range."""
    n = hi - lo
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (RFC 9162 §2.1.1) of the given leaf hashes."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _path(m: int, leaves: Sequence[bytes], lo: int, hi: int, out: list[bytes]) -> None:
    """Append PATH(m, D[lo:hi]) (RFC 9162 §2.1.3.1) to ``out``; ``m`` is absolute."""
    n = hi - lo
    if n == 1:
        return
    k = _split(n)
    if m < lo + k:
        _path(m, leaves, lo, lo + k, out)
        out.append(_mth(leaves, lo + k, hi))
    else:
        _path(m, leaves, lo + k, hi, out)
        out.append(_mth(leaves, lo, lo + k))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof (audit path) of leaf ``index`` in the tree of all leaves."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ProofRequestError(_("leaf index {index} is outside a tree of size {size}").format(
                                    index=index, size=size))
    out: list[bytes] = []
    _path(index, leaf_hashes, 0, size, out)
    return out


def _subproof(
    m: int, leaves: Sequence[bytes], lo: int, hi: int, *, complete: bool, out: list[bytes]
) -> None:
    """Append SUBPROOF(m, D[lo:hi], b) (RFC 9162 §2.1.4.1) to ``out``; ``m`` is absolute."""
    if m == hi:
        if not complete:
            out.append(_mth(leaves, lo, hi))
        return
    k = _split(hi - lo)
    if m <= lo + k:
        _subproof(m, leaves, lo, lo + k, complete=complete, out=out)
        out.append(_mth(leaves, lo + k, hi))
    else:
        _subproof(m, leaves, lo + k, hi, complete=False, out=out)
        out.append(_mth(leaves, lo, lo + k))


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """Return the proof that the tree of the first ``size1`` leaves is a prefix of the
    tree of all leaves (RFC 9162 §2.1.4.1). Empty when ``size1`` equals the tree size.
    """
    size2 = len(leaf_hashes)
    if size1 == 0:
        raise ProofRequestError(_("a consistency proof from the empty tree (size 0) proves nothing"))
    if not 0 < size1 <= size2:
        raise ProofRequestError(_("size {size1} is outside a tree of size {size2}").format(
                                    size1=size1, size2=size2))
    out: list[bytes] = []
    if size1 < size2:
        _subproof(size1, leaf_hashes, 0, size2, complete=True, out=out)
    return out


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hash_list(proof: object) -> list[bytes] | None:
    """The proof as a list of 32-byte hashes, or None if it is anything else."""
    if not isinstance(proof, list | tuple):
        return None
    items: list[bytes] = []
    for item in proof:
        if not _is_hash(item):
            return None
        items.append(item)
    return items


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof (RFC 9162 §2.1.3.2): ``True`` only if ``proof`` shows that
    the leaf with hash ``leaf_hash`` sits at ``index`` in the tree of ``size`` leaves whose
    root is ``root``. Malformed input gives ``False``.
    """
    path = _hash_list(proof)
    if path is None or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not (_is_count(index) and _is_count(size)) or index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Check a consistency proof (RFC 9162 §2.1.4.2): ``True`` only if ``proof`` shows that
    the tree of ``size1`` leaves with root ``root1`` is a prefix of the tree of ``size2``
    leaves with root ``root2``. Malformed input gives ``False``; so does ``size1 == 0``.

    Equal sizes need an empty proof and equal roots (compared as given, like the
    transparency-dev verifier, whose vectors accept that case whatever the roots' length).
    """
    if not (_is_count(size1) and _is_count(size2)) or size1 == 0 or size1 > size2:
        return False
    if size1 == size2:
        return (
            isinstance(proof, list | tuple)
            and len(proof) == 0
            and isinstance(root1, bytes)
            and isinstance(root2, bytes)
            and hmac.compare_digest(root1, root2)
        )
    path = _hash_list(proof)
    if not path or not (_is_hash(root1) and _is_hash(root2)):
        return False
    if size1 & (size1 - 1) == 0:
        # size1 is a power of two: the old tree is a complete subtree, its root the seed.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, root1) and hmac.compare_digest(sr, root2)
