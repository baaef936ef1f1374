"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 ``cosignature/v1``) and witness
policies.

Implements the texts of the C2SP repository at commit
``5ba5ee830903e91240fc6f9f3a7a9293d49e69c9``: tlog-cosignature v1.0.1 (the Ed25519 type only),
signed-note v1.0.0, tlog-checkpoint v1.0.0.

- The **key ID** of an Ed25519 cosigner is ``SHA-256(<name> || "\\n" || 0x04 || public
  key)[:4]``; its **verifier key** is ``<name>+<key ID hex>+base64(0x04 || public key)``.
- The **signed message** is ``cosignature/v1\\n``, ``time <POSIX seconds>\\n`` and then the
  whole checkpoint body (its lines, each ending in a newline, no signature lines).
- The **signature line** is ``— <name> base64(key ID || timestamp as u64 big-endian ||
  64-byte Ed25519 signature)``.

A **witness policy** (``ledger-witness-policy/1``) is a text file, one item per line, ``#``
starting a comment::

    witness <name> <verifier key> [<submission URL>]
    quorum <k>

The same file serves the signer (which sends checkpoints to the URLs) and every verifier
(which needs ``k`` distinct listed witnesses' valid cosignatures).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.integrity import checkpoint as cp
from ledger.integrity.errors import CheckpointError, IntegrityError
from ledger.kernel.i18n import _

__all__ = [
    "COSIGNATURE_ALGORITHM",
    "POLICY_FORMAT",
    "Policy",
    "PolicyWitness",
    "WitnessPolicyError",
    "check_quorum",
    "cosign",
    "cosigned_message",
    "cosigner_key_id",
    "format_witness_key",
    "load_policy",
    "parse_policy",
    "parse_witness_key",
    "verify_cosignature",
    "verify_cosignatures",
]

COSIGNATURE_ALGORITHM = 0x04
"""Signature type of Ed25519 ``cosignature/v1`` keys (tlog-cosignature)."""
POLICY_FORMAT = "ledger-witness-policy/1"
_HEADER = b"cosignature/v1\n"
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}", re.ASCII)
_MAX_TIMESTAMP = 2**63 - 1


class WitnessPolicyError(IntegrityError):
    """Raised when a witness policy is malformed, or a checkpoint lacks its quorum."""

    code = "witness_quorum"
    http_status = 409


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """``SHA-256(name || 0x0A || 0x04 || public key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_ALGORITHM])
                          + _raw(public_key)).digest()[:4]


def format_witness_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The witness's verifier key ``<name>+<key ID>+base64(0x04 || public key)``."""
    raw = bytes([COSIGNATURE_ALGORITHM]) + _raw(public_key)
    return (f"{name}+{cosigner_key_id(name, public_key).hex()}+"
            f"{base64.b64encode(raw).decode('ascii')}")


def parse_witness_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """Parse a witness verifier key, checking its type (0x04) and key ID."""
    name, plus1, rest = text.strip().partition("+")
    id_hex, plus2, encoded = rest.partition("+")
    if not (name and plus1 and plus2):
        raise WitnessPolicyError(_("witness key {text!r} is not of the form <name>+<key ID>+<key>").format(
                                     text=text.strip()[:60]))
    if not _KEY_ID_HEX.fullmatch(id_hex.lower()):
        raise WitnessPolicyError(_("witness key ID {id_hex!r} is not 8 hex digits").format(
                                     id_hex=id_hex))
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WitnessPolicyError(_("witness key of {name} is not base64").format(name=name)) from None
    if len(raw) != 33 or raw[0] != COSIGNATURE_ALGORITHM:
        kind = f"type 0x{raw[0]:02x}" if raw else "empty"
        raise WitnessPolicyError(_("witness key of {name} is {kind}, not an Ed25519 cosigner key (type "
                                   "0x04, 32 bytes)").format(name=name, kind=kind))
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if cosigner_key_id(name, public_key).hex() != id_hex.lower():
        raise WitnessPolicyError(_("witness key ID {id_hex} does not match {name}'s key").format(
                                     id_hex=id_hex, name=name))
    return name, public_key


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs: header, time line, the checkpoint body."""
    return _HEADER + f"time {timestamp}\n".encode("ascii") + body.encode("utf-8")


def cosign(body: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of *name* on a checkpoint *body*."""
    if not 0 < timestamp <= _MAX_TIMESTAMP:
        raise CheckpointError(_("cosignature timestamp {timestamp} is out of range").format(
                                  timestamp=timestamp))
    signature = private_key.sign(cosigned_message(body, timestamp))
    raw = cosigner_key_id(name, private_key.public_key()) + struct.pack(">Q", timestamp) \
        + signature
    return f"\u2014 {name} {base64.b64encode(raw).decode('ascii')}\n"


def verify_cosignature(body: str, signature: cp.Signature, name: str,
                       public_key: Ed25519PublicKey) -> int | None:
    """The timestamp of *signature* if it is a valid cosignature by (*name*, *public_key*)
    on *body*; None if it is another key's line; raises CheckpointError if it is this
    key's line and does not verify."""
    if signature.name != name or signature.key_id != cosigner_key_id(name, public_key):
        return None
    if len(signature.signature) != 8 + 64:
        raise CheckpointError(_("cosignature by {name} is not a timestamped Ed25519 signature").format(
                                  name=name))
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    try:
        public_key.verify(signature.signature[8:], cosigned_message(body, timestamp))
    except InvalidSignature:
        raise CheckpointError(_("cosignature by {name} does not verify").format(name=name)) from None
    return int(timestamp)


@dataclass(frozen=True)
class PolicyWitness:
    """One ``witness`` line of a policy."""

    name: str
    key_name: str
    public_key: Ed25519PublicKey
    url: str | None
    vkey: str


@dataclass(frozen=True)
class Policy:
    """A witness policy: the witnesses and how many of them must cosign."""

    witnesses: tuple[PolicyWitness, ...]
    quorum: int

    def describe(self) -> str:
        return f"{self.quorum} of {', '.join(w.name for w in self.witnesses)}"


def parse_policy(text: str, *, source: str = "witness policy") -> Policy:
    """Parse a ``ledger-witness-policy/1`` text; errors name the line."""
    witnesses: list[PolicyWitness] = []
    quorum: int | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        where = f"{source} line {number}"
        if words[0] == "witness":
            if len(words) not in (3, 4):
                raise WitnessPolicyError(_("{where}: expected 'witness NAME VKEY [URL]'").format(
                                             where=where))
            name = words[1]
            key_name, public_key = parse_witness_key(words[2])
            url = words[3] if len(words) == 4 else None
            if url is not None and not url.startswith(("http://", "https://")):
                raise WitnessPolicyError(_("{where}: the URL of {name} must be http(s)://…").format(
                                             where=where, name=name))
            if any(w.name == name or _raw(w.public_key) == _raw(public_key)
                   for w in witnesses):
                raise WitnessPolicyError(_("{where}: witness {name} or its key is listed twice").format(
                                             where=where, name=name))
            witnesses.append(PolicyWitness(name, key_name, public_key,
                                           url.rstrip("/") if url else None, words[2]))
        elif words[0] == "quorum":
            if len(words) != 2 or not words[1].isdigit() or quorum is not None:
                raise WitnessPolicyError(_("{where}: expected one 'quorum K' line").format(where=where))
            quorum = int(words[1])
        else:
            raise WitnessPolicyError(_("{where}: unknown item {words!r} (expected 'witness' "
                                       "or 'quorum')").format(
                                         where=where, words=words[0]))
    if not witnesses:
        raise WitnessPolicyError(_("{source} lists no witness").format(source=source))
    if quorum is None:
        raise WitnessPolicyError(_("{source} has no 'quorum K' line").format(source=source))
    if not 1 <= quorum <= len(witnesses):
        raise WitnessPolicyError(_("{source}: quorum {quorum} must be between 1 and the {count} witnesses "
                                   "listed").format(source=source, quorum=quorum, count=len(witnesses)))
    return Policy(tuple(witnesses), quorum)


def load_policy(path: str | Path) -> Policy:
    """Read and parse a policy file."""
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WitnessPolicyError(_("cannot read the witness policy {path}: {e}").format(
                                     path=path, e=e)) from None
    return parse_policy(text, source=str(path))


def verify_cosignatures(note: str, policy: Policy) -> list[str]:
    """Names of the policy's witnesses with a valid cosignature on *note*; raises
    CheckpointError for a listed witness's line that does not verify."""
    body, signatures = cp.parse_note(note)
    found: list[str] = []
    for witness in policy.witnesses:
        for signature in signatures:
            if verify_cosignature(body, signature, witness.key_name,
                                  witness.public_key) is not None:
                found.append(witness.name)
                break
    return found


def check_quorum(note: str, policy: Policy, log_key_name: str,
                 log_public_key: Ed25519PublicKey) -> list[str]:
    """Check the log's own signature and the policy's quorum of cosignatures on *note*;
    return the witnesses that cosigned. Raises ``WitnessPolicyError`` naming who did and
    how many were needed, or CheckpointError for a bad signature."""
    cp.verify_checkpoint(note, log_key_name, log_public_key)
    found = verify_cosignatures(note, policy)
    if len(found) < policy.quorum:
        missing = [w.name for w in policy.witnesses if w.name not in found]
        size = cp.parse_checkpoint(note)[0].size
        raise WitnessPolicyError(
            f"checkpoint at size {size}: witness quorum not met, {len(found)} of "
            f"{len(policy.witnesses)} listed witnesses cosigned"
            + (f" ({', '.join(found)})" if found else "") + f", {policy.quorum} needed; no "
            f"valid cosignature from {', '.join(missing)}")
    return found
