"""What a verifying subscriber checks, as pure functions over the feed's JSON.

- :class:`CompactRange`: the compact range (frontier) of the leaves ``[0, size)``: one
  complete-subtree hash per set bit of ``size``, enough to append leaves and give the root
  of everything appended so far, in ``O(log size)`` space.
- :func:`check_record`: a page's event against its leaf record: the record has the exact
  canonical shape, hashes to the served leaf, and holds what the event shows (the payload
  decoded from ``payload_b64`` as ``ledger.kernel.eventlog.decode`` decodes the stored bytes).
- :func:`check_note`: a checkpoint note's log signature (and witness quorum) and body.

Every failure is a :class:`~ledger.feed.errors.FeedIntegrityError` with its ``kind``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.feed.errors import FeedIntegrityError
from ledger.integrity import checkpoint as cp
from ledger.integrity.canonical import record_bytes
from ledger.integrity.errors import IntegrityError
from ledger.integrity.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash
from ledger.kernel.i18n import _

__all__ = ["CheckedCheckpoint", "CompactRange", "check_note", "check_record", "unb64"]

_sha256 = hashlib.sha256


class CompactRange:
    """The frontier of an RFC 9162 tree of ``size`` leaves: the hashes of its complete
    subtrees, largest (leftmost) first, as ``ledger.integrity.tree.frontier_keys`` names
    them."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(nodes) != bin(size).count("1"):
            raise ValueError(_("a frontier of size {size} has {count} nodes, not {count2}").format(
                                 size=size, count=bin(size).count('1'), count2=len(nodes)))
        if any(len(h) != HASH_SIZE for h in nodes):
            raise ValueError(_("a frontier node is not {hash_size} bytes").format(hash_size=HASH_SIZE))
        self.size = size
        self.nodes = list(nodes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.nodes)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        nodes = self.nodes
        nodes.append(leaf)
        s = self.size
        while s & 1:
            right = nodes.pop()
            nodes[-1] = _sha256(b"\x01" + nodes[-1] + right).digest()
            s >>= 1
        self.size += 1

    def root(self) -> bytes:
        """The root of the tree of the leaves appended so far."""
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            result = _sha256(b"\x01" + left + result).digest()
        return result

    def to_bytes(self) -> bytes:
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> CompactRange:
        return cls(size, [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])


def unb64(text: object, what: str, kind: str = "bad_record") -> bytes:
    """A base64 hash from the feed; a clear error for anything else."""
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise FeedIntegrityError(kind, _("{what} is not base64").format(what=what)) from None
    if len(raw) != HASH_SIZE:
        raise FeedIntegrityError(kind, _("{what} is not a {hash_size}-byte hash").format(
                                           what=what, hash_size=HASH_SIZE))
    return raw


def _normal(value: object) -> object:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def check_record(event: dict[str, Any], expected_leaf: int) -> bytes:
    """Check one event of a ``?records=1`` page against its record; return its leaf hash.

    *expected_leaf* is the leaf index the subscriber expects next (it has verified every
    leaf before it).
    """
    position = event.get("position")
    record = event.get("record")
    where = f"the event at log position {position}"
    if not isinstance(record, dict):
        raise FeedIntegrityError("bad_record", _("{where} has no leaf record").format(where=where))
    leaf_index = record.get("position")
    if leaf_index != expected_leaf:
        kind = ("position_rewritten" if isinstance(leaf_index, int) and leaf_index < expected_leaf
                else "bad_record")
        raise FeedIntegrityError(kind, _("{where} is leaf {leaf_index}, but leaf {expected_leaf} comes "
                                         "next after the leaves this subscriber verified").format(
                                           where=where, leaf_index=leaf_index,
                                           expected_leaf=expected_leaf))
    try:
        leaf = leaf_hash(record_bytes(record))
    except IntegrityError as e:
        raise FeedIntegrityError("bad_record", _("{where}: its record is malformed ({e})").format(
                                                   where=where, e=e)) from None
    served = event.get("leaf_hash")
    if served is not None and not hmac.compare_digest(unb64(served, f"{where}: leaf_hash"),
                                                      leaf):
        raise FeedIntegrityError("bad_record", _("{where} (leaf {leaf_index}) does not hash to its stored "
                                                 "leaf: the event or its leaf was altered").format(
                                                   where=where, leaf_index=leaf_index))
    shown = _record_event(record, where)
    given = {k: v for k, v in event.items()
             if k not in ("schema", "record", "leaf_hash", "origin", "checkpoint")}
    if _normal(shown) != _normal(given):
        differs = sorted(k for k in set(shown) | set(given) if
                         _normal(shown.get(k)) != _normal(given.get(k)))
        raise FeedIntegrityError("bad_record", _("{where} differs from its leaf record in {differs}").format(
                                                   where=where, differs=', '.join(differs)))
    return leaf


def _record_event(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The public event a record holds, decoded as ``ledger.kernel.eventlog.decode`` does."""
    from ledger.kernel.eventlog import decode

    type_name = str(record["type"])
    topic = record.get("topic")
    if topic is not None and str(topic).rpartition(":")[2] != type_name:
        raise FeedIntegrityError("bad_record", _("{where}: its record's topic {topic!r} is not of type "
                                                 "{type_name}").format(
                                                   where=where, topic=topic, type_name=type_name))
    try:
        event = decode(None, int(record["notification_id"]), UUID(str(record["aggregate_id"])),
                       int(record["version"]), str(topic or f"?:{type_name}"),
                       base64.b64decode(str(record["payload_b64"])))
    except (ValueError, KeyError, TypeError) as e:
        raise FeedIntegrityError("bad_record", _("{where}: its record's payload does not "
                                                 "decode ({name})").format(
                                                   where=where, name=type(e).__name__)) from None
    if event.recorded_at.isoformat() != record["recorded_at"]:
        raise FeedIntegrityError("bad_record", _("{where}: its record's recorded_at is not "
                                                 "the payload's").format(
                                                   where=where))
    command = record.get("command")
    if isinstance(command, dict) and (
            command.get("command_id") != event.envelope.get("command_id")
            or command.get("first") != event.position):
        raise FeedIntegrityError("bad_record", _("{where}: its record's command-log row is not the command "
                                                 "of its envelope").format(where=where))
    return event.public()


@dataclass(frozen=True)
class CheckedCheckpoint:
    """A checkpoint whose signature (and quorum) was checked: its body and its note."""

    origin: str
    size: int
    root: bytes
    note: str
    verifier_key: str


def check_note(checkpoint: dict[str, Any], origin: str, log_key: str,
               witness_policy: Any = None) -> CheckedCheckpoint:
    """Check a served checkpoint: its note is signed by *log_key* (a verifier key
    ``<name>+<id>+<key>``) for *origin*, its body is the served size and root, and, with a
    *witness_policy*, enough witnesses cosigned it (``ledger.integrity.cosign``)."""
    note = str(checkpoint.get("note") or "")
    try:
        name, public_key = cp.parse_verifier_key(log_key)
        body = cp.verify_checkpoint(note, name, public_key, origin=origin)
    except IntegrityError as e:
        raise FeedIntegrityError("checkpoint_signature",
                                 _("the checkpoint at size {get} does not verify with the "
                                   "log's key: {e}").format(
                                     get=checkpoint.get('size'), e=e)) from None
    root = unb64(checkpoint.get("root"), "checkpoint root", "checkpoint_signature")
    if body.size != checkpoint.get("size") or not hmac.compare_digest(body.root, root):
        raise FeedIntegrityError("checkpoint_signature",
                                 _("the served checkpoint's size or root is not what its note signs"))
    if witness_policy is not None:
        from ledger.integrity import cosign  # type: ignore[attr-defined,unused-ignore]

        try:
            cosign.check_quorum(note, witness_policy, name, public_key)
        except IntegrityError as e:
            raise FeedIntegrityError("witness_quorum", _("the checkpoint at size {size}: {e}").format(
                                                           size=body.size, e=e)) from None
    return CheckedCheckpoint(body.origin, body.size, body.root, note, log_key)
