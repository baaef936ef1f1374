"""Signed checkpoints (C2SP tlog-checkpoint + signed-note, Ed25519) and the key file."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    KeyFileError,
    Signature,
    format_verifier_key,
    generate_key_file,
    key_id,
    load_private_key,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
)
from ledger.integrity.merkle import EMPTY_ROOT, leaf_hash, root

ORIGIN = "zhuanqiao.example/ledger"
ROOT = root([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))

# Known answer from golang.org/x/mod/sumdb/note (the package's documented example):
# the signer key "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
# holds 0x01 || the Ed25519 seed below.
GO_SEED_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _with_signature(note: str, raw: bytes) -> str:
    """The note with its signature line's base64 replaced by that of ``raw``."""
    return note.rsplit(" ", 1)[0] + " " + base64.b64encode(raw).decode() + "\n"


def _note(size: int = 3) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, ROOT), ORIGIN, KEY)


# --- format --------------------------------------------------------------------------


def test_signing_reproduces_the_go_sumdb_note_example_byte_for_byte() -> None:
    seed = base64.b64decode(GO_SEED_B64)[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE
    assert format_verifier_key("PeterNeumann", key.public_key()) == GO_VERIFIER_KEY
    name, public_key = parse_verifier_key(GO_VERIFIER_KEY)
    assert verify_note(GO_NOTE, name, public_key) == GO_TEXT


def test_checkpoint_body_is_origin_size_and_base64_root_lines() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    assert cp.body() == f"{ORIGIN}\n3\n{base64.b64encode(ROOT).decode()}\n"


def test_signed_note_is_body_blank_line_and_em_dash_signature_line() -> None:
    note = _note()
    body, blank, signature = note.partition("\n\n")
    assert body + "\n" == Checkpoint(ORIGIN, 3, ROOT).body()
    assert blank == "\n\n"
    assert signature.startswith(f"\u2014 {ORIGIN} ")
    assert signature.endswith("\n")
    raw = base64.b64decode(signature.split(" ")[2])
    assert len(raw) == 4 + 64
    assert raw[:4] == key_id(ORIGIN, KEY.public_key())


def test_key_id_is_the_first_four_bytes_of_the_named_ed25519_key_hash() -> None:
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    want = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_id(ORIGIN, KEY.public_key()) == want


def test_sign_and_verify_round_trip() -> None:
    note = _note()
    cp = verify_checkpoint(note, ORIGIN, KEY.public_key(), origin=ORIGIN)
    assert cp == Checkpoint(ORIGIN, 3, ROOT)
    parsed, signatures = parse_checkpoint(note)
    assert parsed == cp
    assert [s.name for s in signatures] == [ORIGIN]


def test_verifier_key_round_trip() -> None:
    text = format_verifier_key(ORIGIN, KEY.public_key())
    name, public_key = parse_verifier_key(text)
    assert name == ORIGIN
    assert format_verifier_key(name, public_key) == text
    assert verify_checkpoint(_note(), name, public_key).size == 3


def test_empty_tree_checkpoint_has_size_zero() -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), ORIGIN, KEY)
    assert note.splitlines()[1] == "0"
    assert verify_checkpoint(note, ORIGIN, KEY.public_key()).size == 0


def test_signatures_by_other_keys_are_ignored() -> None:
    note = _note()
    text, _ = parse_note(note)
    witness = Signature(
        "witness.example",
        key_id("witness.example", OTHER_KEY.public_key()),
        OTHER_KEY.sign(text.encode()),
    )
    cosigned = note + witness.line()
    assert verify_checkpoint(cosigned, ORIGIN, KEY.public_key()).size == 3
    assert verify_note(cosigned, "witness.example", OTHER_KEY.public_key()) == text


# --- rejection -----------------------------------------------------------------------


def test_tampered_size_is_rejected() -> None:
    note = _note().replace(f"{ORIGIN}\n3\n", f"{ORIGIN}\n4\n", 1)
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(note, ORIGIN, KEY.public_key())


def test_tampered_root_is_rejected() -> None:
    other = base64.b64encode(root([leaf_hash(b"x")])).decode()
    note = _note().replace(base64.b64encode(ROOT).decode(), other, 1)
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(note, ORIGIN, KEY.public_key())


def test_wrong_key_with_the_right_name_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="with another key"):
        verify_checkpoint(_note(), ORIGIN, OTHER_KEY.public_key())


def test_wrong_key_name_is_rejected() -> None:
    with pytest.raises(CheckpointError, match=f"no signature by other.example .*{ORIGIN}"):
        verify_checkpoint(_note(), "other.example", KEY.public_key())


def test_signature_made_by_another_key_under_our_key_id_is_rejected() -> None:
    text, signatures = parse_note(_note())
    forged = Signature(ORIGIN, signatures[0].key_id, OTHER_KEY.sign(text.encode()))
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(text + "\n" + forged.line(), ORIGIN, KEY.public_key())


def test_a_failing_signature_by_our_key_rejects_the_note_even_beside_a_good_one() -> None:
    note = _note()
    _, signatures = parse_note(note)
    bad = Signature(ORIGIN, signatures[0].key_id, bytes(64))
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(note + bad.line(), ORIGIN, KEY.public_key())


def test_other_origin_is_rejected_when_an_origin_is_expected() -> None:
    with pytest.raises(CheckpointError, match=r"expected 'elsewhere\.example/log'"):
        verify_checkpoint(_note(), ORIGIN, KEY.public_key(), origin="elsewhere.example/log")


def test_every_truncation_of_a_note_is_rejected() -> None:
    note = _note()
    for end in range(len(note)):
        with pytest.raises(CheckpointError):
            verify_checkpoint(note[:end], ORIGIN, KEY.public_key())


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda n: n.replace("\u2014 ", "-- ", 1), "does not start with"),
        (lambda n: n[:-3] + "!=\n", "not valid base64"),
        (lambda n: _with_signature(n, b"\0" * 4), "too short"),
        (lambda n: _with_signature(n, key_id(ORIGIN, KEY.public_key()) + bytes(10)), "64-byte"),
        (lambda n: n[:-3] + "B=\n", "not canonical"),
        (lambda n: n.replace(base64.b64encode(ROOT).decode(), "not*base64", 1), "base64"),
        (lambda n: n.replace("\n3\n", "\n03\n", 1), "not a decimal number"),
        (lambda n: n.replace("\n3\n", "\n-3\n", 1), "not a decimal number"),
        (lambda n: n.replace("\n3\n", "\n\u0663\n", 1), "not a decimal number"),
        (lambda n: n.replace("\n\n", "\n", 1), "no blank line"),
        (lambda n: n.replace("\n", "\r\n"), "control character"),
        (lambda n: n.rstrip("\n"), "does not end with a newline"),
        (lambda n: n + "\n", "no signature lines"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}", 1), "no signature after"),
        (lambda n: n.partition("\n")[2], "needs origin, size and root"),
    ],
    ids=[
        "hyphens-not-em-dash",
        "bad-base64-signature",
        "key-id-only-signature",
        "short-signature",
        "non-canonical-base64-signature",
        "bad-base64-root",
        "leading-zero-size",
        "negative-size",
        "non-ascii-digit-size",
        "no-blank-line",
        "carriage-returns",
        "no-final-newline",
        "trailing-blank-line",
        "no-space-before-signature",
        "missing-origin-line",
    ],
)
def test_malformed_note_is_rejected_naming_the_fault(mangle: object, message: str) -> None:
    note = mangle(_note())  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=message):
        verify_checkpoint(note, ORIGIN, KEY.public_key())


def test_root_of_the_wrong_length_is_rejected() -> None:
    note = _note().replace(base64.b64encode(ROOT).decode(), base64.b64encode(ROOT[:31]).decode())
    with pytest.raises(CheckpointError, match="31 bytes"):
        parse_checkpoint(note)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.characters())
def test_any_single_character_change_is_rejected_with_checkpoint_error(
    position: int, replacement: str
) -> None:
    note = _note()
    position %= len(note)
    changed = note[:position] + replacement + note[position + 1 :]
    if changed == note:
        return
    with pytest.raises(CheckpointError):
        verify_checkpoint(changed, ORIGIN, KEY.public_key())


@pytest.mark.parametrize(
    "fields",
    [
        {"origin": ""},
        {"origin": "two\nlines"},
        {"size": -1},
        {"size": True},
        {"size": 2**64},
        {"root": b"short"},
        {"root": "not bytes"},
        {"extensions": ("",)},
    ],
    ids=repr,
)
def test_invalid_checkpoint_fields_are_refused(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, **fields}
    with pytest.raises(CheckpointError):
        Checkpoint(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k.replace("+", " ", 1),
        lambda k: k.rsplit("+", 1)[0],
        lambda k: k.split("+")[0] + "+00000000+" + k.split("+", 2)[2],
        lambda k: k.split("+")[0] + "+abc+" + k.split("+", 2)[2],
        lambda k: "other+" + k.split("+", 1)[1],
        lambda k: k[:-4],
        lambda k: k.rsplit("+", 1)[0] + "+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
    ],
    ids=["space", "no-key", "wrong-id", "short-id", "wrong-name", "cut-key", "not-ed25519"],
)
def test_malformed_verifier_key_is_refused(mangle: object) -> None:
    text = mangle(format_verifier_key(ORIGIN, KEY.public_key()))  # type: ignore[operator]
    with pytest.raises(CheckpointError):
        parse_verifier_key(text)


def test_key_names_with_spaces_or_plus_are_refused() -> None:
    for name in ("", "has space", "has+plus", "tab\tname"):
        with pytest.raises(CheckpointError, match="key name"):
            sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), name, KEY)


# --- key file ------------------------------------------------------------------------


def test_generated_key_file_has_mode_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    previous = os.umask(0)
    try:
        key = generate_key_file(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = load_private_key(path)
    assert format_verifier_key("k", loaded.public_key()) == format_verifier_key(
        "k", key.public_key()
    )


def test_generating_a_key_file_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    path.write_text("keep me")
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_file(path)
    assert path.read_text() == "keep me"


def test_key_file_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    generate_key_file(path)
    path.chmod(0o644)
    secret = path.read_text()
    with pytest.raises(KeyFileError) as caught:
        load_private_key(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert "0644" in message
    body = "".join(secret.splitlines()[1:-1])
    assert body not in message


def test_key_file_with_group_permission_only_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    generate_key_file(path)
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_private_key(path)


def test_missing_key_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(KeyFileError, match=f"{path} does not exist"):
        load_private_key(path)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def test_malformed_key_file_is_refused_without_echoing_its_content(tmp_path: Path) -> None:
    path = tmp_path / "garbage.key"
    _write_private(
        path, b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0IHN0dWZm\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(KeyFileError, match="not an unencrypted PEM") as caught:
        load_private_key(path)
    assert "c2VjcmV0" not in str(caught.value)


def test_encrypted_or_non_ed25519_key_file_is_refused(tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.key"
    _write_private(
        encrypted,
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        ),
    )
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_private_key(encrypted)
    ecdsa = tmp_path / "ecdsa.key"
    _write_private(
        ecdsa,
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    with pytest.raises(KeyFileError, match="not Ed25519"):
        load_private_key(ecdsa)


def test_key_file_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_private_key(tmp_path)
