"""DSSE envelopes (Dead Simple Signing Envelope) for signed commands.

Implements the DSSE protocol **v1.0.0** and its JSON envelope **v1.0.2**
(github.com/secure-systems-lab/dsse, ``protocol.md`` and ``envelope.md``):

- the signature is over ``PAE(UTF8(PAYLOAD_TYPE), SERIALIZED_BODY)`` where
  ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (``LEN`` the
  ASCII decimal byte length, no leading zeros);
- the envelope is ``{"payload": b64(body), "payloadType": type, "signatures": [{"keyid": …,
  "sig": b64(sig)}]}``; standard and URL-safe base64 are both accepted, unknown members are
  ignored, a missing ``keyid`` is the same as an empty one;
- the body that was verified is the body handed on: callers get the exact payload bytes back
  from :func:`parse_envelope` and parse *those*, never the envelope again.

A ledger command travels as the JSON text of the command (its ``command_id`` included) with
the payload type :data:`PAYLOAD_TYPE`; the signature algorithm is Ed25519 (RFC 8032) over the
PAE bytes. ``keyid`` is only a hint to pick among the actor's keys (the spec forbids using it
for security decisions): the key is always one of the actor's own registered keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.kernel.i18n import _

__all__ = [
    "ALGORITHMS",
    "PAYLOAD_TYPE",
    "Envelope",
    "EnvelopeError",
    "is_envelope",
    "key_id_for",
    "pae",
    "parse_envelope",
    "public_key_b64",
    "sign_command",
    "verify_signature",
]

PAYLOAD_TYPE = "application/vnd.zq-governance-ledger.command+json"
"""The DSSE payload type of a ledger command (its JSON text, UTF-8)."""

ALGORITHMS = ("ed25519",)
"""Signature algorithms the ledger accepts for personal keys."""

#: Largest envelope accepted (the command itself is limited to 64 KiB; base64 adds a third).
MAX_ENVELOPE_BYTES = 96 * 1024
MAX_SIGNATURES = 8


class EnvelopeError(ValueError):
    """An envelope that cannot be read: the message names the member at fault."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded DSSE envelope: the exact payload bytes and its (keyid, signature) pairs."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]

    @property
    def payload_sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [{"keyid": k, "sig": base64.b64encode(s).decode("ascii")}
                               for k, s in self.signatures]}


def pae(payload_type: str | bytes, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of *payload_type* and *body*."""
    t = payload_type.encode("utf-8") if isinstance(payload_type, str) else payload_type
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def _b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError(_("envelope member '{what}' must be base64 text").format(what=what))
    compact = text.strip()
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(_("envelope member '{what}' is not valid base64").format(what=what)) from None


def is_envelope(data: Any) -> bool:
    """Whether *data* (a mapping) looks like a DSSE envelope rather than a bare command."""
    return isinstance(data, Mapping) and "payloadType" in data and "type" not in data


def parse_envelope(data: Mapping[str, Any] | str | bytes) -> Envelope:
    """Read a DSSE JSON envelope; raise :class:`EnvelopeError` naming what is wrong."""
    if isinstance(data, (str, bytes)):
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError(_("envelope is {count} bytes; the limit is {max_envelope_bytes}").format(
                                    count=len(data), max_envelope_bytes=MAX_ENVELOPE_BYTES))
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise EnvelopeError(_("envelope is not valid JSON: {e}").format(e=e)) from None
    if not isinstance(data, Mapping):
        raise EnvelopeError(_("an envelope must be a JSON object"))
    for member in ("payload", "payloadType", "signatures"):
        if member not in data:
            raise EnvelopeError(_("envelope member '{member}' is missing").format(member=member))
    payload_type = data["payloadType"]
    if not isinstance(payload_type, str):
        raise EnvelopeError(_("envelope member 'payloadType' must be text"))
    payload = _b64decode(data["payload"], "payload")
    sigs = data["signatures"]
    if not isinstance(sigs, list):
        raise EnvelopeError(_("envelope member 'signatures' must be a list"))
    if len(sigs) > MAX_SIGNATURES:
        raise EnvelopeError(_("envelope has {count} signatures; at most {max_signatures}").format(
                                count=len(sigs), max_signatures=MAX_SIGNATURES))
    out = []
    for i, s in enumerate(sigs):
        if not isinstance(s, Mapping) or "sig" not in s:
            raise EnvelopeError(_("envelope member 'signatures[{i}].sig' is missing").format(i=i))
        keyid = s.get("keyid") or ""
        if not isinstance(keyid, str) or len(keyid) > 128:
            raise EnvelopeError(_("envelope member 'signatures[{i}].keyid' must be short text").format(
                                    i=i))
        out.append((keyid, _b64decode(s["sig"], f"signatures[{i}].sig")))
    return Envelope(payload_type, payload, tuple(out))


def public_key_b64(key: Ed25519PublicKey) -> str:
    """The raw 32-byte Ed25519 public key in standard base64 (what is registered)."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id_for(algorithm: str, public_key_b64_text: str) -> str:
    """The key id of a public key: ``<algorithm>:<first 16 hex digits of SHA-256 of the raw
    key>``, so an id can never name another key."""
    raw = base64.b64decode(public_key_b64_text, validate=True)
    return f"{algorithm}:{hashlib.sha256(raw).hexdigest()[:16]}"


@lru_cache(maxsize=4096)
def load_public_key(algorithm: str, public_key_b64_text: str) -> Ed25519PublicKey:
    """The public key object of a registered key (raises ValueError if malformed); kept, since
    every command of its holder needs it."""
    if algorithm != "ed25519":
        raise ValueError(_("unsupported algorithm {algorithm!r}; supported: {algorithms}").format(
                             algorithm=algorithm, algorithms=', '.join(ALGORITHMS)))
    try:
        raw = base64.b64decode(public_key_b64_text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(_("public key is not valid base64")) from None
    if len(raw) != 32:
        raise ValueError(_("an Ed25519 public key is 32 bytes, got {count}").format(count=len(raw)))
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(public_key: Ed25519PublicKey, envelope: Envelope, sig: bytes) -> bool:
    """Whether *sig* is a valid signature of *envelope*'s PAE bytes by *public_key*."""
    try:
        public_key.verify(sig, pae(envelope.payload_type, envelope.payload))
    except InvalidSignature:
        return False
    return True


_KEY_IDS: dict[int, tuple[Ed25519PrivateKey, str]] = {}
"""id(private key) -> (the key, its key id): signers sign many commands with one key."""


def sign_command(private_key: Ed25519PrivateKey, payload: bytes,
                 payload_type: str = PAYLOAD_TYPE) -> Envelope:
    """A DSSE envelope of *payload* signed by *private_key* (keyid: its key id)."""
    known = _KEY_IDS.get(id(private_key))
    if known is not None and known[0] is private_key:
        kid = known[1]
    else:
        kid = key_id_for("ed25519", public_key_b64(private_key.public_key()))
        if len(_KEY_IDS) > 1024:
            _KEY_IDS.clear()
        _KEY_IDS[id(private_key)] = (private_key, kid)
    sig = private_key.sign(pae(payload_type, payload))
    return Envelope(payload_type, payload, ((kid, sig),))
