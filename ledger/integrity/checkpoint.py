"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint commits to the log's Merkle tree at one size (https://c2sp.org/tlog-checkpoint).
Its body is three lines, each ending in a newline::

    <origin>                 the log's identity, e.g. "zhuanqiao.example/ledger"
    <tree size>              ASCII decimal, no leading zeros ("0" for the empty tree)
    <root hash>              standard base64 (padded) of the 32-byte RFC 9162 root

(optionally followed by non-empty extension lines, which this ledger never writes). The
signed note (https://c2sp.org/signed-note) is the body, one blank line, then one or more
signature lines::

    — <key name> <base64(key ID || Ed25519 signature over the body bytes)>

starting with an em dash (U+2014) and a space. The key ID is the first 4 bytes of
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)``, 0x01 naming Ed25519. A
verifier key is written ``<name>+<key ID, 8 hex digits>+<base64(0x01 || public key)>``.

Verification follows the signed-note rules: signatures by other keys (another name or key
ID) are ignored; every signature by the given key must verify, and there must be one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.integrity.errors import CheckpointError, KeyFileError
from ledger.kernel.i18n import _

__all__ = [
    "ED25519_ALGORITHM",
    "Checkpoint",
    "CheckpointError",
    "KeyFileError",
    "Signature",
    "format_verifier_key",
    "generate_key_file",
    "key_id",
    "load_private_key",
    "parse_checkpoint",
    "parse_note",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_note",
]

ED25519_ALGORITHM = 0x01
"""Signed-note signature type byte of Ed25519."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (the spec asks for at least 16)."""

MAX_KEY_FILE_BYTES = 64 * 1024

_HASH_SIZE = 32
_KEY_ID_SIZE = 4
_ED25519_SIGNATURE_SIZE = 64
_ED25519_PUBLIC_KEY_SIZE = 32
_SIG_PREFIX = "\u2014 "
_SIZE_LINE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)
_MAX_TREE_SIZE = 2**64 - 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Decode canonical standard padded base64, or raise CheckpointError naming ``what``."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise CheckpointError(_("{what} is not valid base64").format(what=what)) from None
    if _b64(data) != text:
        raise CheckpointError(_("{what} is not canonical padded base64").format(what=what))
    return data


def _control_character(text: str, allow_newline: bool) -> str | None:
    """The first character below U+0020 in ``text`` (a newline allowed if asked), or None."""
    for ch in text:
        if ch < " " and not (allow_newline and ch == "\n"):
            return ch
    return None


def _check_key_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise CheckpointError(_("key name must be a non-empty string"))
    if any(ch.isspace() or ch == "+" or ch < " " for ch in name):
        raise CheckpointError(_("key name {name!r} contains a space, a control character or '+'").format(
                                  name=name))
    return name


def _check_line(text: object, what: str) -> str:
    if not isinstance(text, str) or not text:
        raise CheckpointError(_("{what} must be a non-empty string").format(what=what))
    bad = _control_character(text, allow_newline=False)
    if bad is not None:
        raise CheckpointError(_("{what} contains the control character {bad!r}").format(
                                  what=what, bad=bad))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(_("{what} is not valid Unicode").format(what=what)) from None
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's ``origin``, its tree ``size`` and the ``root`` hash at that
    size. ``extensions`` holds any extension lines (this ledger writes none).
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError(_("checkpoint size must be an integer"))
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise CheckpointError(_("checkpoint size {size} is outside [0, 2**64 - 1]").format(
                                      size=self.size))
        if not isinstance(self.root, bytes) or len(self.root) != _HASH_SIZE:
            raise CheckpointError(_("checkpoint root must be {hash_size} bytes").format(
                                      hash_size=_HASH_SIZE))
        if not isinstance(self.extensions, tuple):
            raise CheckpointError(_("checkpoint extensions must be a tuple of lines"))
        for line in self.extensions:
            _check_line(line, "checkpoint extension line")

    def body(self) -> str:
        """The note text: origin, size and base64 root lines (then any extension lines),
        each ending in a newline.
        """
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the key ``name``, the 4-byte ``key_id`` and the
    ``signature`` bytes (64 for Ed25519).
    """

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, ending in a newline."""
        return f"{_SIG_PREFIX}{self.name} {_b64(self.key_id + self.signature)}\n"


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    if not isinstance(public_key, Ed25519PublicKey):
        raise CheckpointError(_("public key must be an Ed25519 public key"))
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    name = _check_key_name(key_name)
    material = name.encode("utf-8") + b"\n" + bytes([ED25519_ALGORITHM])
    return hashlib.sha256(material + _raw_public_key(public_key)).digest()[:_KEY_ID_SIZE]


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign a note text (ending in a newline) and return the signed note: the text, a blank
    line and one signature line.
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        raise CheckpointError(_("signing key must be an Ed25519 private key"))
    if not isinstance(text, str) or not text.endswith("\n"):
        raise CheckpointError(_("note text must be a string ending in a newline"))
    bad = _control_character(text, allow_newline=True)
    if bad is not None:
        raise CheckpointError(_("note text contains the control character {bad!r}").format(bad=bad))
    signature = Signature(
        name=key_name,
        key_id=key_id(key_name, private_key.public_key()),
        signature=private_key.sign(text.encode("utf-8")),
    )
    return text + "\n" + signature.line()


def sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``cp`` and return the full signed note text (body, blank line, signature line).

    The key name SHOULD equal the checkpoint's origin (tlog-checkpoint).
    """
    return sign_note(cp.body(), key_name, private_key)


def parse_note(note_text: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text (ending in its final newline) and its signature
    lines. Raises CheckpointError if the note is malformed; verifies nothing.
    """
    if not isinstance(note_text, str):
        raise CheckpointError(_("note must be a string"))
    try:
        note_text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(_("note is not valid Unicode")) from None
    bad = _control_character(note_text, allow_newline=True)
    if bad is not None:
        raise CheckpointError(_("note contains the control character {bad!r}").format(bad=bad))
    if not note_text.endswith("\n"):
        raise CheckpointError(_("note does not end with a newline (truncated?)"))
    split = note_text.rfind("\n\n")
    if split < 0:
        raise CheckpointError(_("note has no blank line before its signatures"))
    text, block = note_text[: split + 1], note_text[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise CheckpointError(_("note has no signature lines"))
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(_("note has {count} signatures, more than {max_signatures}").format(
                                  count=len(lines), max_signatures=MAX_SIGNATURES))
    signatures: list[Signature] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError(_("signature line {number} does not start with '— '").format(
                                      number=number))
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space:
            raise CheckpointError(_("signature line {number} has no signature after the name").format(
                                      number=number))
        _check_key_name(name)
        raw = _unb64(encoded, f"signature line {number}")
        if len(raw) <= _KEY_ID_SIZE:
            raise CheckpointError(_("signature line {number} is too short").format(number=number))
        signatures.append(Signature(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:]))
    return text, signatures


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError(
            _("checkpoint body has {count} lines, needs origin, size and root hash").format(
                count=len(lines))
        )
    if any(not line for line in lines):
        raise CheckpointError(_("checkpoint body has an empty line"))
    origin, size_line, root_line, *extensions = lines
    if not _SIZE_LINE.fullmatch(size_line):
        raise CheckpointError(_("checkpoint size line {size_line!r} is not a decimal number").format(
                                  size_line=size_line))
    size = int(size_line)
    if size > _MAX_TREE_SIZE:
        raise CheckpointError(_("checkpoint size {size} is larger than 2**64 - 1").format(size=size))
    root = _unb64(root_line, "checkpoint root hash line")
    if len(root) != _HASH_SIZE:
        raise CheckpointError(_("checkpoint root hash is {count} bytes, not {hash_size}").format(
                                  count=len(root), hash_size=_HASH_SIZE))
    return Checkpoint(origin, size, root, tuple(extensions))


def parse_checkpoint(note_text: str) -> tuple[Checkpoint, list[Signature]]:
    """Parse a signed checkpoint note without verifying it. Raises CheckpointError if it
    is malformed. Use ``verify_checkpoint`` before trusting anything in it.
    """
    text, signatures = parse_note(note_text)
    return _parse_body(text), signatures


def verify_note(note_text: str, key_name: str, public_key: Ed25519PublicKey) -> str:
    """Return the text of a note signed by the given key, or raise CheckpointError naming
    what is wrong: malformed note, no signature by this key, or a signature that does not
    verify. Signatures by other keys are ignored.
    """
    text, signatures = parse_note(note_text)
    wanted = key_id(key_name, public_key)
    mine = [s for s in signatures if s.name == key_name and s.key_id == wanted]
    if not mine:
        names = sorted({s.name for s in signatures})
        if key_name in names:
            raise CheckpointError(
                _("note is signed by {key_name} with another key, not key ID {wanted}").format(
                    key_name=key_name, wanted=wanted.hex())
            )
        raise CheckpointError(
            _("note has no signature by {key_name} (signed by: {names})").format(
                key_name=key_name, names=', '.join(names))
        )
    message = text.encode("utf-8")
    for signature in mine:
        if len(signature.signature) != _ED25519_SIGNATURE_SIZE:
            raise CheckpointError(_("signature by {key_name} is not a 64-byte Ed25519 signature").format(
                                      key_name=key_name))
        try:
            public_key.verify(signature.signature, message)
        except InvalidSignature:
            raise CheckpointError(
                _("signature by {key_name} does not verify: the note text was altered").format(
                    key_name=key_name)
            ) from None
    return text


def verify_checkpoint(
    note_text: str,
    key_name: str,
    public_key: Ed25519PublicKey,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Return the checkpoint of a note signed by the given key, or raise CheckpointError
    naming what is wrong: malformed note or body, no signature by this key, a signature
    that does not verify, or (if ``origin`` is given) another log's origin.
    """
    text, _signatures = parse_note(note_text)
    _parse_body(text)  # report a malformed body before looking at signatures
    cp = _parse_body(verify_note(note_text, key_name, public_key))
    if origin is not None and cp.origin != origin:
        raise CheckpointError(_("checkpoint origin is {origin!r}, expected {origin2!r}").format(
                                  origin=cp.origin, origin2=origin))
    return cp


def format_verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key string ``<name>+<key ID hex>+<base64(0x01 || public key)>``."""
    raw = _raw_public_key(public_key)
    return f"{_check_key_name(name)}+{key_id(name, public_key).hex()}+" + _b64(
        bytes([ED25519_ALGORITHM]) + raw
    )


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """Parse a verifier key string into ``(key name, public key)``, checking its key ID.
    Raises CheckpointError if it is malformed, not Ed25519, or its key ID does not match.
    """
    if not isinstance(text, str):
        raise CheckpointError(_("verifier key must be a string"))
    name, plus1, rest = text.strip().partition("+")
    id_hex, plus2, encoded = rest.partition("+")  # the base64 key itself may hold '+'
    if not (plus1 and plus2):
        raise CheckpointError(_("verifier key is not of the form <name>+<key ID>+<key>"))
    _check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise CheckpointError(_("verifier key ID {id_hex!r} is not 8 hex digits").format(id_hex=id_hex))
    raw = _unb64(encoded, "verifier key")
    if len(raw) != 1 + _ED25519_PUBLIC_KEY_SIZE or raw[0] != ED25519_ALGORITHM:
        raise CheckpointError(_("verifier key is not an Ed25519 key (type 0x01, 32 bytes)"))
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, public_key).hex() != id_hex.lower():
        raise CheckpointError(_("verifier key ID {id_hex} does not match its name and key").format(
                                  id_hex=id_hex))
    return name, public_key


def generate_key_file(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Create a new Ed25519 signing key at ``path`` (unencrypted PEM PKCS#8, mode 0600) and
    return it. The file is created with O_CREAT | O_EXCL, so an existing file (or symlink)
    is never overwritten: that raises KeyFileError.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(
            _("signing key file {fsdecode} already exists; refusing to overwrite it").format(
                fsdecode=os.fsdecode(path))
        ) from None
    except OSError as exc:
        raise KeyFileError(
            _("cannot create signing key file {fsdecode}: {strerror}").format(
                fsdecode=os.fsdecode(path), strerror=exc.strerror)
        ) from None
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
        view = memoryview(pem)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        Path(path).unlink(missing_ok=True)
        raise KeyFileError(
            _("cannot write signing key file {fsdecode}: {strerror}").format(
                fsdecode=os.fsdecode(path), strerror=exc.strerror)
        ) from None
    os.close(fd)
    return key


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load the Ed25519 signing key at ``path``. Raises KeyFileError if the file is
    missing, not a regular file, accessible by group or others, or not an unencrypted
    PEM PKCS#8 Ed25519 key. Messages name the path, never the key.
    """
    where = os.fsdecode(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyFileError(_("signing key file {where} does not exist").format(where=where)) from None
    except OSError as exc:
        raise KeyFileError(_("cannot open signing key file {where}: {strerror}").format(
                               where=where, strerror=exc.strerror)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(_("signing key file {where} is not a regular file").format(where=where))
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                _("signing key file {where} has mode {mode:04o}, which lets group or others access it; "
                  "run: chmod 600 {where}").format(where=where, mode=mode)
            )
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(_("signing key file {where} is too large to be a key").format(
                                   where=where))
        chunks: list[bytes] = []
        while chunk := os.read(fd, MAX_KEY_FILE_BYTES + 1):
            chunks.append(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise KeyFileError(_("cannot read signing key file {where}: {strerror}").format(
                               where=where, strerror=exc.strerror)) from None
    finally:
        os.close(fd)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(
            _("signing key file {where} is not an unencrypted PEM PKCS#8 private key").format(
                where=where)
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(_("signing key file {where} holds a key that is not Ed25519").format(
                               where=where))
    return key
