"""scripts/verify-proof, the auditor's standalone checker, run as a real subprocess."""

from __future__ import annotations

import base64
import copy
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
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.canonical import event_record, event_record_bytes, record_bytes
from ledger.integrity.checkpoint import Checkpoint, format_verifier_key, sign_checkpoint
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.tree import IncrementalTree, MemoryNodeStore

ROOT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = ROOT_DIR / "scripts" / "verify-proof"
VECTORS = ROOT_DIR / "tests" / "vectors" / "rfc9162"
ORIGIN = "zhuanqiao.example/ledger"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ATTACKER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
LOG_VERIFIER_KEY = format_verifier_key(ORIGIN, LOG_KEY.public_key())


def _load_script() -> ModuleType:
    loader = SourceFileLoader("verify_proof_script", str(SCRIPT))
    spec = spec_from_loader("verify_proof_script", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


script = _load_script()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _record_fields(position: int) -> dict[str, Any]:
    return {
        "position": position,
        "notification_id": position + 1,
        "aggregate_id": f"00000000-0000-4000-8000-{position:012d}",
        "version": 1 + position % 3,
        "type": "社区登记" if position % 2 else "CommunityRegistered",
        "recorded_at": f"2024-05-01T08:00:{position:02d}.000000+08:00",
        "payload": json.dumps({"name": f"转桥 {position}\n"}, ensure_ascii=False).encode(),
    }


def _build_document(
    size: int = 10, index: int = 5, key: Ed25519PrivateKey = LOG_KEY
) -> dict[str, Any]:
    leaves = [leaf_hash(event_record_bytes(**_record_fields(i))) for i in range(size)]
    tree = IncrementalTree(MemoryNodeStore())
    tree.append(leaves)
    tree_root = tree.root()
    return {
        "format": "ledger-inclusion-proof/1",
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": _b64(leaves[index]),
        "record": event_record(**_record_fields(index)),
        "proof": [_b64(h) for h in tree.inclusion_proof(index, size)],
        "root": _b64(tree_root),
        "checkpoint": sign_checkpoint(Checkpoint(ORIGIN, size, tree_root), ORIGIN, key),
        "verifier_key": format_verifier_key(ORIGIN, key.public_key()),
    }


def _run(
    doc: dict[str, Any] | None, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-I", str(SCRIPT)]  # -I: no PYTHONPATH, so no ledger package
    if doc is not None:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        command.append(str(path))
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def _flip(b64_text: str) -> str:
    raw = bytearray(base64.b64decode(b64_text))
    raw[0] ^= 0x01
    return _b64(bytes(raw))


# --- accepted ------------------------------------------------------------------------


def test_valid_proof_checked_against_the_published_key_prints_ok(tmp_path: Path) -> None:
    result = _run(_build_document(), tmp_path, "--key", LOG_VERIFIER_KEY, "--origin", ORIGIN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: record at position 5 ")
    assert "tree size 10" in result.stdout
    assert result.stderr == ""


def test_valid_proof_without_key_is_refused_with_exit_2(tmp_path: Path) -> None:
    result = _run(_build_document(), tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("FAIL: nothing to check the proof against")
    assert "--key" in result.stderr
    assert "--witness-policy" in result.stderr
    assert "--allow-unverified" in result.stderr


def test_allow_unverified_uses_the_document_key_and_warns(tmp_path: Path) -> None:
    result = _run(_build_document(), tmp_path, "--allow-unverified")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK:")
    assert "the document's own key" in result.stdout
    assert "WARNING" in result.stderr
    assert "--key" in result.stderr


def test_proof_is_read_from_stdin(tmp_path: Path) -> None:
    doc = json.dumps(_build_document(size=1, index=0))
    result = _run(None, tmp_path, "--key", LOG_VERIFIER_KEY, stdin=doc)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: record at position 0 ")


@pytest.mark.parametrize(("size", "index"), [(1, 0), (2, 1), (7, 6), (16, 0), (33, 17)])
def test_proofs_for_assorted_tree_shapes_are_accepted(
    tmp_path: Path, size: int, index: int
) -> None:
    result = _run(_build_document(size, index), tmp_path, "--key", LOG_VERIFIER_KEY)
    assert result.returncode == 0, result.stderr


def test_help_explains_the_checks_and_the_key_option() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "--key VERIFIER_KEY" in result.stdout
    assert "inclusion proof" in result.stdout


def test_script_imports_nothing_from_the_ledger_package() -> None:
    source = SCRIPT.read_text()
    assert "import ledger" not in source
    assert "from ledger" not in source
    assert source.startswith("#!/usr/bin/env python3\n")
    assert SCRIPT.stat().st_mode & 0o111


# --- rejected ------------------------------------------------------------------------


def _tamper_record(doc: dict[str, Any]) -> None:
    doc["record"]["type"] = "Tampered"


def _tamper_leaf_hash(doc: dict[str, Any]) -> None:
    doc["leaf_hash"] = _flip(doc["leaf_hash"])


def _tamper_proof_node(doc: dict[str, Any]) -> None:
    doc["proof"][1] = _flip(doc["proof"][1])


def _drop_proof_node(doc: dict[str, Any]) -> None:
    doc["proof"].pop()


def _tamper_root(doc: dict[str, Any]) -> None:
    doc["root"] = _flip(doc["root"])


def _tamper_signature(doc: dict[str, Any]) -> None:
    body, _, line = doc["checkpoint"].partition("\n\n")
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 0x01
    doc["checkpoint"] = f"{body}\n\n{prefix} {_b64(bytes(raw))}\n"


def _tamper_checkpoint_size(doc: dict[str, Any]) -> None:
    doc["checkpoint"] = doc["checkpoint"].replace(f"{ORIGIN}\n10\n", f"{ORIGIN}\n11\n")


def _tamper_position(doc: dict[str, Any]) -> None:
    doc["leaf_index"] = 4


def _tamper_format(doc: dict[str, Any]) -> None:
    doc["format"] = "ledger-inclusion-proof/2"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_tamper_record, "leaf_hash does not match the record"),
        (_tamper_leaf_hash, "leaf_hash does not match the record"),
        (_tamper_proof_node, "inclusion proof does not lead"),
        (_drop_proof_node, "inclusion proof does not lead"),
        (_tamper_root, "inclusion proof does not lead"),
        (_tamper_signature, "does not verify"),
        (_tamper_checkpoint_size, "does not verify"),
        (_tamper_position, "is not leaf_index 4"),
        (_tamper_format, "format is"),
    ],
    ids=lambda v: v.__name__.lstrip("_") if callable(v) else None,
)
def test_tampered_proof_fails(tmp_path: Path, tamper: Any, reason: str) -> None:
    doc = copy.deepcopy(_build_document())
    tamper(doc)
    result = _run(doc, tmp_path, "--key", LOG_VERIFIER_KEY)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("FAIL: ")
    assert reason in result.stderr


def test_wrong_key_fails(tmp_path: Path) -> None:
    wrong = format_verifier_key(ORIGIN, ATTACKER_KEY.public_key())
    result = _run(_build_document(), tmp_path, "--key", wrong)
    assert result.returncode == 1
    assert "FAIL: checkpoint has no signature by" in result.stderr


def test_forged_document_with_its_own_key_fails_against_the_published_key(
    tmp_path: Path,
) -> None:
    forged = _build_document(key=ATTACKER_KEY)
    assert _run(forged, tmp_path).returncode == 2  # nothing to trust: refused
    assert _run(forged, tmp_path, "--allow-unverified").returncode == 0  # self-consistent
    result = _run(forged, tmp_path, "--key", LOG_VERIFIER_KEY)
    assert result.returncode == 1
    assert "FAIL: checkpoint has no signature by" in result.stderr


def test_wrong_origin_fails(tmp_path: Path) -> None:
    result = _run(_build_document(), tmp_path, "--key", LOG_VERIFIER_KEY, "--origin", "x/y")
    assert result.returncode == 1
    assert "FAIL: checkpoint origin" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "ledger-inclusion-proof/1", "leaf_index": NaN}',
        '{"format": "ledger-inclusion-proof/1", "format": "ledger-inclusion-proof/1"}',
        "{}",
    ],
)
def test_malformed_document_fails_without_a_traceback(tmp_path: Path, text: str) -> None:
    result = _run(None, tmp_path, "--key", LOG_VERIFIER_KEY, stdin=text)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: ")
    assert "Traceback" not in result.stderr


def test_missing_file_fails(tmp_path: Path) -> None:
    result = _run(None, tmp_path, str(tmp_path / "absent.json"), "--key", LOG_VERIFIER_KEY)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: cannot read")


# --- the script's own implementations agree with the library ---------------------------


RECORDS_WITH_HARD_STRINGS = [
    _record_fields(3),
    {
        **_record_fields(0),
        "type": 'q"b\\s/\b\f\n\r\t\x00\x01\x1f\x7f\x80\u00e9\u2028\u2029\ufeff\uffff😀',
        "aggregate_id": "</script>&<>'",
        "recorded_at": "",
        "payload": b"",
    },
    {**_record_fields(1), "position": 2**53 - 1, "notification_id": 0, "version": 0},
]


@pytest.mark.parametrize("fields", RECORDS_WITH_HARD_STRINGS, ids=["plain", "escapes", "ints"])
def test_script_canonical_json_equals_the_library_bytes(fields: dict[str, Any]) -> None:
    record = event_record(**fields)
    assert script.canonical_record(record) == record_bytes(record)
    assert script.canonical_record(record) == event_record_bytes(**fields)


@settings(max_examples=200, deadline=None)
@given(
    strings=st.lists(st.text(), min_size=3, max_size=3),
    ints=st.lists(st.integers(min_value=0, max_value=2**53 - 1), min_size=3, max_size=3),
    payload=st.binary(max_size=64),
)
def test_script_canonical_json_equals_the_library_for_any_text(
    strings: list[str], ints: list[int], payload: bytes
) -> None:
    record = event_record(
        position=ints[0],
        notification_id=ints[1],
        aggregate_id=strings[0],
        version=ints[2],
        type=strings[1],
        recorded_at=strings[2],
        payload=payload,
    )
    assert script.canonical_record(record) == record_bytes(record)


@pytest.mark.parametrize(
    "path",
    sorted((VECTORS / "inclusion").rglob("*.json")),
    ids=lambda p: p.relative_to(VECTORS).as_posix(),
)
def test_script_inclusion_check_agrees_with_the_rfc_9162_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    leaf = base64.b64decode(case["leafHash"])
    tree_root = base64.b64decode(case["root"])
    proof = [base64.b64decode(h) for h in case["proof"] or []]
    reached = script.inclusion_root(leaf, case["leafIdx"], case["treeSize"], proof)
    accepted = reached is not None and reached == tree_root
    assert accepted is (not case["wantErr"]), case["desc"]


def test_the_example_proof_in_the_documentation_verifies(tmp_path: Path) -> None:
    text = (ROOT_DIR / "docs" / "integrity.md").read_text(encoding="utf-8")
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    doc = json.loads(block)
    result = _run(doc, tmp_path, "--key", doc["verifier_key"], "--origin", ORIGIN)
    assert result.returncode == 0, result.stderr
    record = event_record_bytes(
        **{k: v for k, v in doc["record"].items() if k != "payload_b64"},
        payload=base64.b64decode(doc["record"]["payload_b64"]),
    )
    assert _b64(leaf_hash(record)) == doc["leaf_hash"]
