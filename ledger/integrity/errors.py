"""Exceptions raised by the integrity core.

Every error derives from ``IntegrityError`` (itself a ``ValueError``), so callers can
catch the whole family at once or a single kind.
"""

from __future__ import annotations

from ledger.errors import LedgerError

__all__ = [
    "CheckpointError",
    "IntegrityError",
    "KeyFileError",
    "NodeStoreError",
    "NotSealedError",
    "ProofRequestError",
    "RecordFormatError",
    "RecordMismatchError",
    "TreeError",
]


class IntegrityError(LedgerError, ValueError):
    """Raised when an integrity operation cannot be carried out; base of this package's errors."""


class ProofRequestError(IntegrityError):
    """Raised when a proof or root is requested for sizes or indexes the tree cannot serve."""


class TreeError(IntegrityError):
    """Raised when the incremental tree is used inconsistently or its stored nodes are missing."""


class NodeStoreError(IntegrityError):
    """Raised when a node store refuses a write (a conflicting hash, or a gap in a level)."""


class RecordFormatError(IntegrityError):
    """Raised when an event record cannot be encoded in the canonical leaf format."""


class CheckpointError(IntegrityError):
    """Raised when a checkpoint note or verifier key is malformed or does not verify."""


class KeyFileError(IntegrityError):
    """Raised when the signing key file is missing, malformed, or readable by others."""


class NotSealedError(ProofRequestError):
    """Raised when a proof is asked for an event or a tree size that no signed checkpoint
    covers yet (the fix: seal with ``ledger checkpoint``, or ask for a sealed size).
    """

    code = "not_sealed"
    http_status = 404


class RecordMismatchError(IntegrityError):
    """Raised when an event's stored record no longer hashes to its leaf (tampering: run
    ``ledger verify``).
    """

    code = "record_mismatch"
    http_status = 409
