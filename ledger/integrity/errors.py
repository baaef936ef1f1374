"""Exceptions raised by the integrity core.

Every error derives from ``IntegrityError`` (itself a ``ValueError``), so callers can
catch the whole family at once or a single kind.
"""

from __future__ import annotations

from ledger.kernel.errors import LedgerError

__all__ = [
    "CheckpointError",
    "IntegrityError",
    "KeyFileError",
    "LogForkError",
    "LogIntegrityError",
    "NodeStoreError",
    "NotSealedError",
    "ProofRequestError",
    "RecordFormatError",
    "RecordMismatchError",
    "SignerRefusedError",
    "TreeError",
    "WitnessRefusedError",
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


class LogIntegrityError(IntegrityError):
    """Raised when the stored log is not what the ledger's own write path leaves: an event
    without its Merkle leaf, a command-log row not bound into the tree. Nothing is written
    until an operator has looked (``ledger verify``)."""

    code = "log_integrity"
    http_status = 409


class LogForkError(IntegrityError):
    """Raised when the database is not an extension of the checkpoint the signer last signed:
    a restored older copy, a rewound or rewritten log. Writes and signatures are refused until
    the operator restores the latest state or starts a new origin on purpose."""

    code = "log_fork"
    http_status = 409


class SignerRefusedError(IntegrityError):
    """Raised when the signer will not sign: the tree is not an append-only extension of
    what it signed before, recomputed from the events' own bytes."""

    code = "signer_refused"
    http_status = 409


class WitnessRefusedError(IntegrityError):
    """Raised when a witness refuses a checkpoint or the witness quorum is not reached."""

    code = "witness_refused"
    http_status = 502
