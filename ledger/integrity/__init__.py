"""Integrity core of the ledger: the RFC 9162 Merkle tree over event records, signed
checkpoints (C2SP tlog-checkpoint over C2SP signed-note, Ed25519), and the canonical
record encoding that the leaves hash.

Modules:

- ``merkle``: reference RFC 9162 hashing, proofs over an in-memory list of leaf hashes,
  and the proof verifiers.
- ``tree``: the incremental tree over a ``NodeStore`` that the ledger appends to.
- ``canonical``: the exact bytes of an event record (the Merkle leaf data).
- ``checkpoint``: checkpoint notes, their signatures, verifier keys and the signing key file.
- ``errors``: the exceptions raised by this package.
"""
