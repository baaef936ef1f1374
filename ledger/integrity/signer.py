"""The signer's own record of what it signed, kept beside its key, outside the database.

Whoever can write the database can rewrite events and the tree tables together, so a signer
that signs "whatever the database holds" would sign a forgery. The signer therefore keeps,
next to its key file and readable by its owner only:

- ``<key>.signer.json``: the last checkpoint it signed — ``origin``, ``size``, ``root``, the
  tree's ``frontier`` at that size (the complete-subtree hashes, at most ``log2(size) + 1``),
  the notification id of the last signed event and the signed note;
- ``<key>.signer.leaves``: the leaf hashes it has signed, 32 bytes each, in order (to name the
  first position that differs when the database no longer agrees).

Before it signs, :func:`ledger.integrity.sealer.seal` recomputes the new root from this state
plus the new events' own stored bytes, and refuses unless the database's tree is exactly that
extension. The files are written leaves first, then the state by atomic replace (each synced),
so a crash between the two leaves a longer leaves file, read up to ``size``.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.integrity.errors import KeyFileError
from ledger.integrity.merkle import HASH_SIZE
from ledger.kernel.config import Settings
from ledger.kernel.i18n import _

__all__ = [
    "STATE_FORMAT",
    "SignerState",
    "leaves_path",
    "load_state",
    "save_state",
    "signed_leaves",
    "start_new_origin",
    "state_path",
]

STATE_FORMAT = "ledger-signer-state/1"


@dataclass(frozen=True)
class SignerState:
    """The last checkpoint the signer signed, and the tree's frontier at that size."""

    origin: str
    size: int
    root: bytes
    frontier: tuple[tuple[int, int, bytes], ...]
    last_notification_id: int
    checkpoint: str
    signed_at: str

    def public(self) -> dict[str, object]:
        return {"format": STATE_FORMAT, "origin": self.origin, "size": self.size,
                "root": _b64(self.root),
                "frontier": [[lv, ix, _b64(h)] for lv, ix, h in self.frontier],
                "last_notification_id": self.last_notification_id,
                "checkpoint": self.checkpoint, "signed_at": self.signed_at}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def state_path(settings: Settings) -> Path:
    """``<key file>.signer.json``."""
    return Path(settings.resolved_key_file() + ".signer.json")


def leaves_path(settings: Settings) -> Path:
    """``<key file>.signer.leaves``."""
    return Path(settings.resolved_key_file() + ".signer.leaves")


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(_("signer state {path} is accessible to group or others; run 'chmod 600 "
                             "{path}'").format(
                               path=path))


def load_state(settings: Settings) -> SignerState | None:
    """The signer's state, or None before its first signature with this release."""
    path = state_path(settings)
    if not path.exists():
        return None
    _check_private(path)
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("format") != STATE_FORMAT:
            raise ValueError(_("format is {get!r}, not {state_format}").format(
                                 get=data.get('format'), state_format=STATE_FORMAT))
        root = base64.b64decode(data["root"], validate=True)
        frontier = tuple((int(lv), int(ix), base64.b64decode(h, validate=True))
                         for lv, ix, h in data["frontier"])
        if len(root) != HASH_SIZE or any(len(h) != HASH_SIZE for _, _, h in frontier):
            raise ValueError(_("a hash is not 32 bytes"))
        return SignerState(str(data["origin"]), int(data["size"]), root, frontier,
                           int(data["last_notification_id"]), str(data["checkpoint"]),
                           str(data["signed_at"]))
    except (ValueError, KeyError, TypeError) as e:
        raise KeyFileError(_("signer state {path} is unreadable ({e}); restore it from the signer's backup "
                             "— without it the signer cannot check what it signed before").format(
                               path=path, e=e)) from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_state(settings: Settings, state: SignerState, new_leaves: Sequence[bytes]) -> None:
    """Record a new signature: append *new_leaves* (the leaves from the previous state's size
    to ``state.size``), then replace the state file atomically."""
    leaves = leaves_path(settings)
    fd = os.open(leaves, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        keep = (state.size - len(new_leaves)) * HASH_SIZE
        os.ftruncate(fd, keep)  # drop what a crash after the last append left beyond it
        os.lseek(fd, keep, os.SEEK_SET)
        os.write(fd, b"".join(new_leaves))
        os.fsync(fd)
    finally:
        os.close(fd)
    path = state_path(settings)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(state.public(), indent=1).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path)


def signed_leaves(settings: Settings, lo: int, hi: int) -> list[bytes]:
    """The leaf hashes the signer signed at positions ``[lo, hi)`` (fewer if it has fewer)."""
    path = leaves_path(settings)
    if not path.exists() or hi <= lo:
        return []
    with path.open("rb") as f:
        f.seek(lo * HASH_SIZE)
        data = f.read((hi - lo) * HASH_SIZE)
    return [data[i:i + HASH_SIZE] for i in range(0, len(data) - HASH_SIZE + 1, HASH_SIZE)]


def start_new_origin(settings: Settings, new_origin: str) -> list[Path]:
    """Set the signer's record aside for a new origin (``ledger restore --new-origin``): the
    old files are kept as ``*.<old log id>.old``; the next signature starts afresh under
    *new_origin*. Returns the archived paths."""
    state = load_state(settings)
    if state is None:
        return []
    tag = state.origin.rsplit("/", 1)[-1] or "log"
    moved: list[Path] = []
    for path in (state_path(settings), leaves_path(settings)):
        if path.exists():
            target = path.with_name(f"{path.name}.{tag}.{state.size}.old")
            os.replace(path, target)
            moved.append(target)
    return moved
