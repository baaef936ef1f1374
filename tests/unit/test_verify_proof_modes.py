"""scripts/verify-proof: record format 2, consistency mode, kept checkpoints and the witness
policy, run as a real subprocess.

The cosignatures are made here from the C2SP tlog-cosignature v1.0.1 text (cosignature/v1,
signature type 0x04), independently of the ledger's and the script's code.
"""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import json
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.application import GovernanceLedger
from ledger.integrity import sealer
from ledger.integrity.checkpoint import Checkpoint, format_verifier_key, sign_checkpoint
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.tree import IncrementalTree, MemoryNodeStore
from tests.bulk import bulk_communities
from tests.conftest import sunny_garden

rfc8785 = pytest.importorskip("rfc8785")

ROOT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = ROOT_DIR / "scripts" / "verify-proof"
VECTORS = ROOT_DIR / "tests" / "vectors" / "rfc9162"
ORIGIN = "zq-governance-ledger/zq/0123456789abcdef"
OTHER_ORIGIN = "zq-governance-ledger/zq/fedcba9876543210"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ATTACKER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
LOG_VKEY = format_verifier_key(ORIGIN, LOG_KEY.public_key())
WITNESS_KEYS = {
    "district": Ed25519PrivateKey.from_private_bytes(bytes([7] * 32)),
    "county": Ed25519PrivateKey.from_private_bytes(bytes([9] * 32)),
    "outsider": Ed25519PrivateKey.from_private_bytes(bytes([11] * 32)),
}
WITNESS_NAMES = {
    "district": "district.example/witness",
    "county": "county.example/w1",
    "outsider": "outsider.example/w",
}
TIME = 1_764_000_000


def _load_script() -> ModuleType:
    loader = SourceFileLoader("verify_proof_script_modes", str(SCRIPT))
    spec = spec_from_loader("verify_proof_script_modes", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


script = _load_script()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- cosignature/v1, written from the spec text ------------------------------------------


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _witness_key_id(name: str, key: Ed25519PrivateKey) -> bytes:
    # SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]
    return hashlib.sha256(name.encode() + b"\n" + b"\x04" + _raw(key)).digest()[:4]


def _witness_vkey(who: str) -> str:
    key, name = WITNESS_KEYS[who], WITNESS_NAMES[who]
    material = _b64(b"\x04" + _raw(key))  # signature type 0x04 || public key
    return f"{name}+{_witness_key_id(name, key).hex()}+{material}"


def _cosign_line(body: str, who: str, timestamp: int = TIME, signed_time: int | None = None) -> str:
    """'— <name> base64(key ID || u64 timestamp || Ed25519 signature)' over the message
    'cosignature/v1\\ntime <timestamp>\\n' || note body."""
    key, name = WITNESS_KEYS[who], WITNESS_NAMES[who]
    message = f"cosignature/v1\ntime {timestamp if signed_time is None else signed_time}\n{body}"
    signature = key.sign(message.encode())
    blob = _witness_key_id(name, key) + timestamp.to_bytes(8, "big") + signature
    return f"\u2014 {name} {_b64(blob)}\n"


def _body(note: str) -> str:
    return note[: note.rfind("\n\n") + 1]


def _cosigned(note: str, *who: str) -> str:
    return note + "".join(_cosign_line(_body(note), w) for w in who)


def _policy(tmp_path: Path, quorum: int, *who: str, extra: str = "") -> str:
    lines = ["# district and county witnesses", *(f"witness {w}\t{_witness_vkey(w)}" for w in who)]
    text = "\n".join([*lines, f"quorum {quorum}", extra]) + "\n"
    path = tmp_path / f"policy-{quorum}-{'-'.join(who)}.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- documents ---------------------------------------------------------------------------


def _command(position: int) -> dict[str, Any]:
    return {
        "actor": "town.clerk/王芳",
        "command_id": f"cmd-{position:04d}",
        "first": position + 1,
        "last": position + 2,
        "recorded_at": "2026-05-01T08:00:00.000000+08:00",
        "result_sha256": hashlib.sha256(b'{"ok":true}').hexdigest(),
        "type": "RegisterCase",
    }


def _record(position: int, salt: str = "") -> dict[str, Any]:
    payload = json.dumps({"name": f"转桥 {position}{salt}\n"}, ensure_ascii=False).encode()
    return {
        "aggregate_id": f"00000000-0000-4000-8000-{position:012d}",
        "command": _command(position) if position % 2 == 0 else None,
        "leaf_format": 2,
        "notification_id": position + 1,
        "payload_b64": _b64(payload),
        "position": position,
        "recorded_at": f"2026-05-01T08:00:{position % 60:02d}.000000+08:00",
        "topic": "ledger.aggregates.case:Case.Received",
        "type": "Case.Received",
        "version": 1 + position % 3,
    }


class Log:
    """An in-memory log whose leaves are format-2 records (``salt`` makes a different log)."""

    def __init__(self, size: int, salt: str = "", origin: str = ORIGIN) -> None:
        self.origin = origin
        self.records = [_record(i, salt) for i in range(size)]
        self.leaves = [leaf_hash(rfc8785.dumps(r)) for r in self.records]
        self.tree = IncrementalTree(MemoryNodeStore())
        self.tree.append(self.leaves)

    def note(self, size: int, key: Ed25519PrivateKey = LOG_KEY, name: str = ORIGIN) -> str:
        return sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), name, key)

    def inclusion(self, index: int, size: int, key: Ed25519PrivateKey = LOG_KEY) -> dict[str, Any]:
        return {
            "format": "ledger-inclusion-proof/1",
            "origin": self.origin,
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": _b64(self.leaves[index]),
            "record": copy.deepcopy(self.records[index]),
            "proof": [_b64(h) for h in self.tree.inclusion_proof(index, size)],
            "root": _b64(self.tree.root(size)),
            "checkpoint": self.note(size, key),
            "verifier_key": format_verifier_key(ORIGIN, key.public_key()),
        }

    def consistency(
        self, size1: int, size2: int, key: Ed25519PrivateKey = LOG_KEY, signed_from: bool = True
    ) -> dict[str, Any]:
        return {
            "format": "ledger-consistency-proof/1",
            "origin": self.origin,
            "from_size": size1,
            "to_size": size2,
            "from_root": _b64(self.tree.root(size1)),
            "to_root": _b64(self.tree.root(size2)),
            "proof": [_b64(h) for h in self.tree.consistency_proof(size1, size2)],
            "from_checkpoint": self.note(size1, key) if signed_from else None,
            "to_checkpoint": self.note(size2, key),
            "verifier_key": format_verifier_key(ORIGIN, key.public_key()),
        }


LOG = Log(12)
FORKED = Log(12, salt=" (rewritten)")


def _write(tmp_path: Path, name: str, content: dict[str, Any] | str) -> str:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), *args],  # -I: no PYTHONPATH, so no ledger package
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: ")
    return result.stdout


def _failed(result: subprocess.CompletedProcess[str], reason: str, code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("FAIL: ")
    assert "Traceback" not in result.stderr
    assert reason in result.stderr, result.stderr
    return result.stderr


# --- record format 2 ----------------------------------------------------------------------


def test_format_2_record_with_its_command_verifies(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    out = _ok(_run(tmp_path, "--key", LOG_VKEY, "--origin", ORIGIN, doc))
    assert "record at position 4 " in out
    assert "topic ledger.aggregates.case:Case.Received, record format 2" in out
    assert "first event of command cmd-0004 (RegisterCase by town.clerk/王芳)" in out


def test_format_2_record_with_a_null_command_verifies(tmp_path: Path) -> None:
    doc = LOG.inclusion(5, 10)
    assert doc["record"]["command"] is None
    out = _ok(_run(tmp_path, "inclusion", "--key", LOG_VKEY, _write(tmp_path, "p.json", doc)))
    assert "record format 2" in out
    assert "first event of command" not in out


def _set(path: tuple[str, ...], value: Any) -> Any:
    def tamper(doc: dict[str, Any]) -> None:
        target = doc["record"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    tamper.__name__ = "_".join(path) + "=" + json.dumps(value)[:20]
    return tamper


def _delete(*path: str) -> Any:
    def tamper(doc: dict[str, Any]) -> None:
        target = doc["record"]
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    tamper.__name__ = "del_" + "_".join(path)
    return tamper


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_set(("command", "result_sha256"), "0" * 64), "leaf_hash does not match the record"),
        (_set(("command", "last"), 99), "leaf_hash does not match the record"),
        (_set(("command",), None), "leaf_hash does not match the record"),
        (_set(("topic",), "ledger.aggregates.forged:Case.Received"), "leaf_hash does not match"),
        (_set(("leaf_format",), 3), "record leaf_format 3 is not a known record format"),
        (_set(("leaf_format",), True), "record leaf_format True is not a known record format"),
        (_set(("leaf_format",), "2"), "is not a known record format"),
        (_set(("extra",), 1), "record members are wrong: missing [], unexpected ['extra']"),
        (_delete("topic"), "record members are wrong: missing ['topic']"),
        (_delete("command"), "record members are wrong: missing ['command']"),
        (_set(("command", "note"), "x"), "record command members are wrong"),
        (_delete("command", "actor"), "record command members are wrong: missing ['actor']"),
        (_set(("command",), []), "record command is neither null nor a JSON object"),
        (_set(("command",), "cmd-0004"), "record command is neither null nor a JSON object"),
        (_set(("command", "first"), -1), "record command.first is outside"),
        (_set(("command", "first"), 1.5), "record command.first is not an integer"),
        (_set(("command", "type"), 7), "record command.type is not a string"),
        (_set(("topic",), None), "record topic is not a string"),
        (_set(("version",), 2**53), "record version is outside"),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_altered_or_malformed_format_2_record_fails(tmp_path: Path, tamper: Any, reason: str) -> None:
    doc = LOG.inclusion(4, 10)
    tamper(doc)
    _failed(_run(tmp_path, "--key", LOG_VKEY, _write(tmp_path, "p.json", doc)), reason)


def test_format_1_record_with_a_format_2_member_fails(tmp_path: Path) -> None:
    doc = LOG.inclusion(4, 10)
    del doc["record"]["leaf_format"]
    del doc["record"]["command"]
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, _write(tmp_path, "p.json", doc)),
        "record members are wrong: missing [], unexpected ['topic']",
    )


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_INT = st.integers(min_value=0, max_value=2**53 - 1)
_COMMANDS = st.none() | st.fixed_dictionaries(
    {
        "actor": _TEXT,
        "command_id": _TEXT,
        "first": _INT,
        "last": _INT,
        "recorded_at": _TEXT,
        "result_sha256": _TEXT,
        "type": _TEXT,
    }
)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(_TEXT, min_size=4, max_size=4),
    ints=st.lists(_INT, min_size=3, max_size=3),
    payload=st.binary(max_size=48),
    command=_COMMANDS,
)
def test_script_canonical_format_2_record_equals_rfc8785(
    texts: list[str], ints: list[int], payload: bytes, command: dict[str, Any] | None
) -> None:
    record = {
        "aggregate_id": texts[0],
        "command": command,
        "leaf_format": 2,
        "notification_id": ints[0],
        "payload_b64": _b64(payload),
        "position": ints[1],
        "recorded_at": texts[1],
        "topic": texts[2],
        "type": texts[3],
        "version": ints[2],
    }
    assert script.canonical_record(record) == rfc8785.dumps(record)


_JSON = st.recursive(
    st.none() | _TEXT | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    lambda inner: st.dictionaries(_TEXT, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(_TEXT, _JSON))
def test_script_jcs_of_nested_objects_equals_rfc8785(value: dict[str, Any]) -> None:
    assert script.jcs(value).encode("utf-8") == rfc8785.dumps(value)


def test_hard_strings_and_key_order_in_a_format_2_record_equal_rfc8785() -> None:
    record = _record(2)
    record["command"]["actor"] = 'q"b\\s/\b\f\n\r\t\x00\x1f\x7f\u2028\ufeff😀'
    record["command"]["\U0001f600"] = "astral key sorts by UTF-16 code units"
    record["command"]["\ufb01"] = "below the surrogates in UTF-16, above them in code points"
    assert script.jcs(record).encode() == rfc8785.dumps(record)


# --- consistency mode ---------------------------------------------------------------------


def test_consistency_document_with_both_checkpoints_verifies(tmp_path: Path) -> None:
    doc = _write(tmp_path, "c.json", LOG.consistency(4, 10))
    out = _ok(_run(tmp_path, "consistency", "--key", LOG_VKEY, "--origin", ORIGIN, doc))
    assert "the tree of size 4 " in out
    assert f"is a prefix of the tree of size 10 (root {_b64(LOG.tree.root(10))}) in {ORIGIN}" in out
    assert "checkpoint signed by" in out


@pytest.mark.parametrize(("size1", "size2"), [(1, 1), (1, 2), (3, 7), (8, 12), (12, 12), (5, 6)])
def test_consistency_documents_for_assorted_sizes_verify(tmp_path: Path, size1: int, size2: int) -> None:
    doc = _write(tmp_path, "c.json", LOG.consistency(size1, size2))
    _ok(_run(tmp_path, "consistency", "--key", LOG_VKEY, doc))


def test_consistency_document_on_stdin_verifies(tmp_path: Path) -> None:
    text = json.dumps(LOG.consistency(4, 10))
    _ok(_run(tmp_path, "consistency", "-", "--key", LOG_VKEY, stdin=text))
    _ok(_run(tmp_path, "consistency", "--key", LOG_VKEY, stdin=text))


def test_consistency_without_from_checkpoint_takes_the_from_side_from_a_kept_one(tmp_path: Path) -> None:
    doc = _write(tmp_path, "c.json", LOG.consistency(4, 10, signed_from=False))
    kept = _write(tmp_path, "april.note", LOG.note(4))
    out = _ok(_run(tmp_path, "consistency", "--key", LOG_VKEY, "--kept", kept, doc))
    assert f"consistent with the kept checkpoint at size 4 ({kept})" in out


def test_consistency_without_from_checkpoint_and_nothing_kept_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "c.json", LOG.consistency(4, 10, signed_from=False))
    _failed(
        _run(tmp_path, "consistency", "--key", LOG_VKEY, doc),
        "from_checkpoint is null (no checkpoint was signed at size 4): pass --kept",
    )
    other = _write(tmp_path, "other.note", LOG.note(10))  # kept, but not at the from side
    _failed(_run(tmp_path, "consistency", "--key", LOG_VKEY, "--kept", other, doc), "from_checkpoint is null")


def _flip(b64_text: str) -> str:
    raw = bytearray(base64.b64decode(b64_text))
    raw[0] ^= 0x01
    return _b64(bytes(raw))


def _c_proof_node(doc: dict[str, Any]) -> None:
    doc["proof"][0] = _flip(doc["proof"][0])


def _c_drop_node(doc: dict[str, Any]) -> None:
    doc["proof"].pop()


def _c_from_root(doc: dict[str, Any]) -> None:
    doc["from_root"] = _flip(doc["from_root"])


def _c_to_root(doc: dict[str, Any]) -> None:
    doc["to_root"] = _flip(doc["to_root"])


def _c_to_checkpoint_of_other_size(doc: dict[str, Any]) -> None:
    doc["to_checkpoint"] = LOG.note(11)


def _c_from_checkpoint_of_other_size(doc: dict[str, Any]) -> None:
    doc["from_checkpoint"] = LOG.note(3)


def _c_from_checkpoint_other_origin(doc: dict[str, Any]) -> None:
    other = Log(12, origin=OTHER_ORIGIN)
    doc["from_checkpoint"] = other.note(4)


def _c_to_checkpoint_by_attacker(doc: dict[str, Any]) -> None:
    doc["to_checkpoint"] = LOG.note(10, ATTACKER_KEY)


def _c_rollback(doc: dict[str, Any]) -> None:
    doc["from_size"], doc["to_size"] = doc["to_size"], doc["from_size"]


def _c_from_zero(doc: dict[str, Any]) -> None:
    doc["from_size"] = 0


def _c_origin_member(doc: dict[str, Any]) -> None:
    doc["origin"] = OTHER_ORIGIN


def _c_format(doc: dict[str, Any]) -> None:
    doc["format"] = "ledger-consistency-proof/2"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_c_proof_node, "consistency proof does not show the tree of size 4 is a prefix"),
        (_c_drop_node, "consistency proof does not show"),
        (_c_from_root, "consistency proof does not show"),
        (_c_to_root, "consistency proof does not show"),
        (_c_to_checkpoint_of_other_size, "to_checkpoint does not commit to to_size 10"),
        (_c_from_checkpoint_of_other_size, "from_checkpoint does not commit to from_size 4"),
        (_c_from_checkpoint_other_origin, f"from_checkpoint is for origin {OTHER_ORIGIN!r}"),
        (_c_to_checkpoint_by_attacker, "to_checkpoint has no signature by"),
        (_c_rollback, "from_size 10 is larger than to_size 4: the log was rolled back"),
        (_c_from_zero, "from_size is 0"),
        (_c_origin_member, "origin member"),
        (_c_format, "format is 'ledger-consistency-proof/2'"),
    ],
    ids=lambda v: v.__name__.lstrip("_") if callable(v) else None,
)
def test_altered_consistency_document_fails(tmp_path: Path, tamper: Any, reason: str) -> None:
    doc = LOG.consistency(4, 10)
    tamper(doc)
    _failed(_run(tmp_path, "consistency", "--key", LOG_VKEY, _write(tmp_path, "c.json", doc)), reason)


def test_an_inclusion_document_in_consistency_mode_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    _failed(_run(tmp_path, "consistency", "--key", LOG_VKEY, doc), "expected 'ledger-consistency-proof/1'")
    cdoc = _write(tmp_path, "c.json", LOG.consistency(4, 10))
    _failed(_run(tmp_path, "--key", LOG_VKEY, cdoc), "expected 'ledger-inclusion-proof/1'")


def test_rewritten_log_resigned_with_the_stolen_key_fails_against_the_kept_checkpoint(
    tmp_path: Path,
) -> None:
    kept = _write(tmp_path, "kept.note", LOG.note(4))
    forged = _write(tmp_path, "c.json", FORKED.consistency(4, 10))  # the real key signed it
    _ok(_run(tmp_path, "consistency", "--key", LOG_VKEY, forged))  # consistent in itself
    err = _failed(_run(tmp_path, "consistency", "--key", LOG_VKEY, "--kept", kept, forged), "the log forked")
    assert f"kept checkpoint {kept} has another root at tree size 4" in err


@pytest.mark.parametrize(
    "path",
    sorted((VECTORS / "consistency").rglob("*.json")),
    ids=lambda p: p.relative_to(VECTORS).as_posix(),
)
def test_script_consistency_check_agrees_with_the_rfc_9162_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [base64.b64decode(h) for h in case["proof"] or []]
    accepted = script.consistent(
        case["size1"],
        case["size2"],
        proof,
        base64.b64decode(case["root1"]),
        base64.b64decode(case["root2"]),
    )
    assert accepted is (not case["wantErr"]), case["desc"]


# --- kept checkpoints ---------------------------------------------------------------------


def test_kept_checkpoint_at_the_documents_size_verifies(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    kept = _write(tmp_path, "kept.note", LOG.note(10))
    out = _ok(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc))
    assert f"consistent with the kept checkpoint at size 10 ({kept})" in out


def test_kept_checkpoints_with_consistency_documents_verify(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 12))
    kept3 = _write(tmp_path, "k3.note", LOG.note(3))
    kept8 = _write(tmp_path, "k8.note", LOG.note(8))
    c3 = _write(tmp_path, "c3.json", LOG.consistency(3, 12, signed_from=False))
    c8 = _write(tmp_path, "c8.json", LOG.consistency(8, 12))
    out = _ok(
        _run(
            tmp_path,
            "--key",
            LOG_VKEY,
            "--kept",
            kept3,
            "--kept",
            kept8,
            "--consistency",
            c3,
            "--consistency",
            c8,
            doc,
        )
    )
    assert f"consistent with the kept checkpoints at size 3 ({kept3}), size 8 ({kept8})" in out


def test_kept_checkpoint_with_a_consistency_proof_embedded_in_the_document_verifies(
    tmp_path: Path,
) -> None:
    doc = LOG.inclusion(4, 12)
    doc["consistency_from_kept"] = [LOG.consistency(6, 12, signed_from=False)]
    kept = _write(tmp_path, "k6.note", LOG.note(6))
    _ok(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, _write(tmp_path, "p.json", doc)))


def test_kept_checkpoint_in_consistency_mode_at_to_size_or_with_extra_proof_verifies(
    tmp_path: Path,
) -> None:
    doc = _write(tmp_path, "c.json", LOG.consistency(6, 12))
    at_to = _write(tmp_path, "k12.note", LOG.note(12))
    kept2 = _write(tmp_path, "k2.note", LOG.note(2))
    c2 = _write(tmp_path, "c2.json", LOG.consistency(2, 12))
    _ok(
        _run(
            tmp_path,
            "consistency",
            "--key",
            LOG_VKEY,
            "--kept",
            at_to,
            "--kept",
            kept2,
            "--consistency",
            c2,
            doc,
        )
    )


def test_kept_checkpoint_as_ledger_checkpoint_json_verifies(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    stored = {
        "format": "ledger-checkpoint/1",
        "origin": ORIGIN,
        "size": 10,
        "root": _b64(LOG.tree.root(10)),
        "note": LOG.note(10),
        "verifier_key": LOG_VKEY,
        "created_at": "2026-05-01T08:00:00+08:00",
    }
    kept = _write(tmp_path, "kept.json", stored)
    _ok(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc))


def test_kept_checkpoint_larger_than_the_document_is_a_rollback(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    kept = _write(tmp_path, "kept.note", LOG.note(12))
    err = _failed(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc), "the log was rolled back")
    assert f"kept checkpoint {kept} is at tree size 12, larger than the document's 10" in err
    cdoc = _write(tmp_path, "c.json", LOG.consistency(4, 10))
    _failed(_run(tmp_path, "consistency", "--key", LOG_VKEY, "--kept", kept, cdoc), "rolled back")


def test_kept_checkpoint_with_another_root_at_the_same_size_is_a_fork(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    kept = _write(tmp_path, "kept.note", FORKED.note(10))
    err = _failed(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc), "the log forked")
    assert f"kept checkpoint {kept} has another root at tree size 10" in err


def test_kept_checkpoint_of_a_rewritten_prefix_is_a_fork(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", FORKED.inclusion(4, 12))
    forged_proof = _write(tmp_path, "c.json", FORKED.consistency(6, 12))
    kept = _write(tmp_path, "kept.note", LOG.note(6))
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--kept", kept, "--consistency", forged_proof, doc),
        "the log forked",
    )


def test_kept_checkpoint_of_another_origin_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    other = Log(12, origin=OTHER_ORIGIN)
    kept = _write(tmp_path, "kept.note", other.note(10))
    err = _failed(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc), "a different log")
    assert f"is for origin {OTHER_ORIGIN!r}, the document for {ORIGIN!r}" in err


def test_kept_checkpoint_at_a_smaller_size_without_a_consistency_proof_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    kept = _write(tmp_path, "kept.note", LOG.note(6))
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc),
        "nothing proves the document's tree extends it: pass --consistency with "
        "'ledger prove consistency --from 6 --to 10 --json'",
    )


def test_kept_checkpoint_not_signed_by_the_log_key_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    kept = _write(tmp_path, "kept.note", LOG.note(10, ATTACKER_KEY))
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc), f"kept checkpoint {kept} has no signature by"
    )


def test_consistency_document_ending_elsewhere_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    kept = _write(tmp_path, "kept.note", LOG.note(6))
    wrong = _write(tmp_path, "c.json", LOG.consistency(6, 11))
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--kept", kept, "--consistency", wrong, doc),
        f"{wrong} ends at tree size 11, not at the document's tree (size 10",
    )
    broken = LOG.consistency(6, 10)
    broken["proof"][0] = _flip(broken["proof"][0])
    path = _write(tmp_path, "broken.json", broken)
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--kept", kept, "--consistency", path, doc),
        f"{path}: consistency proof does not show",
    )


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("absent.note", None, "cannot read kept checkpoint"),
        ("garbage.note", "not a note", "kept checkpoint"),
        ("other.json", '{"format": "ledger-inclusion-proof/1"}', "is JSON but not a 'ledger-checkpoint/1'"),
    ],
)
def test_unusable_kept_file_fails(tmp_path: Path, name: str, content: str | None, reason: str) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    path = str(tmp_path / name) if content is None else _write(tmp_path, name, content)
    _failed(_run(tmp_path, "--key", LOG_VKEY, "--kept", path, doc), reason)


# --- witness policy -----------------------------------------------------------------------


def _cosigned_inclusion(*who: str) -> dict[str, Any]:
    doc = LOG.inclusion(4, 10)
    doc["checkpoint"] = _cosigned(doc["checkpoint"], *who)
    return doc


def test_two_of_two_witnesses_cosigned_verifies(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("district", "county"))
    policy = _policy(tmp_path, 2, "district", "county")
    out = _ok(_run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, doc))
    assert (
        "cosigned by 2 of 2 listed witnesses (quorum 2): district at 2025-11-24T16:00:00Z, county at" in out
    )


def test_one_of_two_quorum_with_one_cosignature_verifies(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("county"))
    policy = _policy(tmp_path, 1, "district", "county")
    out = _ok(_run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, doc))
    assert "cosigned by 1 of 2 listed witnesses (quorum 1): county at" in out


def test_two_of_two_with_one_cosignature_fails_naming_who_verified(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("district"))
    policy = _policy(tmp_path, 2, "district", "county")
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, doc),
        "witness quorum not met: 1 of 2 listed witnesses cosigned the checkpoint (district), "
        "2 needed; no valid cosignature from county",
    )


def test_cosignatures_of_unlisted_witnesses_do_not_count(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("outsider"))
    policy = _policy(tmp_path, 1, "district", "county")
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, doc),
        "0 of 2 listed witnesses cosigned the checkpoint (none), 1 needed",
    )


def test_policy_alone_verifies_and_says_the_witnesses_vouch(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("district", "county"))
    policy = _policy(tmp_path, 2, "district", "county")
    result = _run(tmp_path, "--witness-policy", policy, doc)
    out = _ok(result)
    assert "the document's own key; the witnesses vouch for the checkpoint" in out
    assert result.stderr == ""


def test_log_rewritten_with_the_stolen_key_fails_the_policy(tmp_path: Path) -> None:
    """The key file stolen, the whole log rewritten and re-signed: the witnesses' old
    cosignatures do not carry over, and new ones cannot be had."""
    genuine = _cosigned_inclusion("district", "county")["checkpoint"]
    forged = FORKED.inclusion(4, 10)
    policy = _policy(tmp_path, 2, "district", "county")
    path = _write(tmp_path, "p.json", forged)
    _ok(_run(tmp_path, "--key", LOG_VKEY, path))  # the stolen key signed it
    _failed(_run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, path), "0 of 2 listed witnesses")
    _failed(_run(tmp_path, "--witness-policy", policy, path), "witness quorum not met")
    copied = genuine[genuine.rfind("\n\n") + 2 :].split("\n", 1)[1]  # the two cosignature lines
    forged["checkpoint"] += copied
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, _write(tmp_path, "q.json", forged)),
        "checkpoint cosignature by witness district does not verify",
    )


def _line(who: str, blob: bytes) -> str:
    return f"\u2014 {WITNESS_NAMES[who]} {_b64(blob)}\n"


def _bad_signature(body: str) -> str:
    line = _cosign_line(body, "district")
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[20] ^= 1
    return _line("district", bytes(blob))


def _timestamp_changed(body: str) -> str:
    return _cosign_line(body, "district", timestamp=TIME + 1, signed_time=TIME)


def _plain_note_signature(body: str) -> str:
    key = WITNESS_KEYS["district"]  # an Ed25519 note signature (type 0x01) with the witness key
    return _line("district", _witness_key_id(WITNESS_NAMES["district"], key) + key.sign(body.encode()))


def _timestamp_too_large(body: str) -> str:
    return _cosign_line(body, "district", timestamp=2**63)


def _signed_other_body(body: str) -> str:
    return _cosign_line(body.replace("\n10\n", "\n11\n"), "district")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_bad_signature, "cosignature by witness district does not verify"),
        (_timestamp_changed, "cosignature by witness district does not verify"),
        (_signed_other_body, "cosignature by witness district does not verify"),
        (_plain_note_signature, "cosignature by witness district is 68 bytes, not 76"),
        (_timestamp_too_large, "has a timestamp above 2**63 - 1"),
    ],
    ids=lambda v: v.__name__.lstrip("_") if callable(v) else None,
)
def test_invalid_cosignature_of_a_listed_witness_fails(tmp_path: Path, make: Any, reason: str) -> None:
    doc = LOG.inclusion(4, 10)
    doc["checkpoint"] = _cosigned(doc["checkpoint"], "county") + make(_body(doc["checkpoint"]))
    policy = _policy(tmp_path, 1, "district", "county")
    _failed(
        _run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, _write(tmp_path, "p.json", doc)), reason
    )


def test_policy_applies_to_the_to_checkpoint_in_consistency_mode(tmp_path: Path) -> None:
    doc = LOG.consistency(4, 10)
    policy = _policy(tmp_path, 1, "district", "county")
    path = _write(tmp_path, "c.json", doc)
    _failed(
        _run(tmp_path, "consistency", "--key", LOG_VKEY, "--witness-policy", policy, path),
        "0 of 2 listed witnesses cosigned the to_checkpoint",
    )
    doc["to_checkpoint"] = _cosigned(doc["to_checkpoint"], "district")
    out = _ok(_run(tmp_path, "consistency", "--witness-policy", policy, _write(tmp_path, "d.json", doc)))
    assert "cosigned by 1 of 2 listed witnesses (quorum 1): district" in out


def test_policy_with_urls_comments_and_tabs_is_read(tmp_path: Path) -> None:
    text = (
        "  # ledger-witness-policy/1\n\n"
        f"witness district {_witness_vkey('district')} https://district.example/witness\n"
        f"\twitness  county\t{_witness_vkey('county')}  \n"
        "quorum 2\n"
    )
    policy = _write(tmp_path, "policy.txt", text)
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("county", "district"))
    _ok(_run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, doc))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("witness district {district}\n", "has no 'quorum <k>' line"),
        ("witness district {district}\nquorum 2\n", "needs a quorum of 2 but lists 1 witnesses"),
        ("witness district {district}\nquorum 0\n", "line 2: expected 'quorum <k>'"),
        ("witness district {district}\nquorum 1\nquorum 1\n", "line 3: a second quorum line"),
        (
            "witness district {district}\nwitness district {county}\nquorum 1\n",
            "line 2: witness district is listed twice",
        ),
        (
            "witness a {district}\nwitness b {district}\nquorum 1\n",
            "line 2: witness b has the same public key",
        ),
        (
            "witness district {logkey}\nquorum 1\n",
            "is not an Ed25519 cosignature/v1 key (signature type 0x04)",
        ),
        ("witness district\nquorum 1\n", "line 1: expected 'witness <name> <vkey> [<url>]'"),
        ("log {logkey}\nquorum 1\n", "line 1: unknown item 'log'"),
        ("witness district not-a-key\nquorum 1\n", "witness district key is not of the form"),
    ],
)
def test_malformed_policy_fails(tmp_path: Path, text: str, reason: str) -> None:
    content = text.format(district=_witness_vkey("district"), county=_witness_vkey("county"), logkey=LOG_VKEY)
    policy = _write(tmp_path, "policy.txt", content)
    doc = _write(tmp_path, "p.json", _cosigned_inclusion("district", "county"))
    err = _failed(_run(tmp_path, "--key", LOG_VKEY, "--witness-policy", policy, doc), reason)
    assert f"witness policy {policy}" in err


def test_missing_policy_file_fails(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    _failed(_run(tmp_path, "--witness-policy", str(tmp_path / "absent"), doc), "cannot read witness policy")


# --- degraded mode, command line --------------------------------------------------------


def test_consistency_mode_without_key_or_policy_exits_2(tmp_path: Path) -> None:
    doc = _write(tmp_path, "c.json", LOG.consistency(4, 10))
    _failed(_run(tmp_path, "consistency", doc), "nothing to check the proof against", code=2)
    result = _run(tmp_path, "consistency", "--allow-unverified", doc)
    _ok(result)
    assert "WARNING" in result.stderr


def test_a_file_named_like_a_mode_is_read_with_a_path(tmp_path: Path) -> None:
    _write(tmp_path, "consistency", LOG.inclusion(4, 10))
    _ok(_run(tmp_path, "--key", LOG_VKEY, "./consistency"))
    _ok(_run(tmp_path, "inclusion", "consistency", "--key", LOG_VKEY))


def test_two_proof_files_are_a_usage_error(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    result = _run(tmp_path, "--key", LOG_VKEY, doc, doc)
    assert result.returncode == 2
    assert "one proof file expected" in result.stderr


def test_help_teaches_every_mode_with_examples() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    text = result.stdout
    for expected in (
        'verify-proof consistency --key "$(cat town.vkey)" --kept march.note since-1200.json',
        "--witness-policy witnesses.txt proof.json",
        "--kept march.note --consistency since-1200.json proof.json",
        "quorum 2",
        "--allow-unverified",
        "exit status: 0 all checks passed, 1 a check failed, 2 nothing to trust",
    ):
        assert expected in text, expected


def test_script_pins_the_specifications_it_implements() -> None:
    doc = script.__doc__
    assert "tlog-cosignature v1.0.1" in doc
    assert "signed-note v1.0.0" in doc
    assert "tlog-checkpoint v1.0.0" in doc


def test_script_is_python_3_9_syntax() -> None:
    ast.parse(SCRIPT.read_text(encoding="utf-8"), feature_version=(3, 9))


def test_documents_of_a_real_ledger_pass_the_consistency_and_kept_checks(tmp_path: Path) -> None:
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'zq.db'}")
    try:
        sunny_garden(led)
        march = sealer.seal(led, key=LOG_KEY).checkpoint
        bulk_communities(led, 20, batch=7)
        april = sealer.seal(led, key=LOG_KEY).checkpoint
        vkey = format_verifier_key(sealer.log_origin(led), LOG_KEY.public_key())
        kept = _write(tmp_path, "march.note", march.note)
        since = _write(tmp_path, "since.json", sealer.consistency_proof_document(led, march.size))
        proof = _write(tmp_path, "proof.json", sealer.inclusion_proof_document(led, 1))
        stored = _write(tmp_path, "april.json", april.public())
    finally:
        led.close()
    assert march.size < april.size
    out = _ok(_run(tmp_path, "consistency", "--key", vkey, "--kept", kept, since))
    assert f"is a prefix of the tree of size {april.size}" in out
    out = _ok(_run(tmp_path, "--key", vkey, "--kept", kept, "--kept", stored, "--consistency", since, proof))
    assert f"consistent with the kept checkpoints at size {march.size} ({kept}), size {april.size}" in out
    _failed(
        _run(tmp_path, "--key", vkey, "--kept", kept, proof), "nothing proves the document's tree extends it"
    )


def test_kept_checkpoint_of_the_empty_tree_needs_no_proof(tmp_path: Path) -> None:
    doc = _write(tmp_path, "p.json", LOG.inclusion(4, 10))
    empty = sign_checkpoint(Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()), ORIGIN, LOG_KEY)
    kept = _write(tmp_path, "empty.note", empty)
    _ok(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc))
    wrong = sign_checkpoint(Checkpoint(ORIGIN, 0, LOG.tree.root(1)), ORIGIN, LOG_KEY)
    kept = _write(tmp_path, "wrong.note", wrong)
    _failed(_run(tmp_path, "--key", LOG_VKEY, "--kept", kept, doc), "another root at tree size 0")
