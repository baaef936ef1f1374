"""The RFC 9162 verifiers against the transparency-dev/merkle test vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.integrity.merkle import verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9162"


def _cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(p, id=p.relative_to(VECTORS).as_posix()) for p in files]


def _hashes(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


INCLUSION_CASES = _cases("inclusion")
CONSISTENCY_CASES = _cases("consistency")


def test_all_196_vector_files_are_collected() -> None:
    assert len(INCLUSION_CASES) == 98
    assert len(CONSISTENCY_CASES) == 98


@pytest.mark.parametrize("path", INCLUSION_CASES)
def test_inclusion_vector_is_accepted_or_rejected_as_expected(path: Path) -> None:
    case = json.loads(path.read_text())
    accepted = verify_inclusion(
        base64.b64decode(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _hashes(case["proof"]),
        base64.b64decode(case["root"]),
    )
    assert accepted is (not case["wantErr"]), case["desc"]


@pytest.mark.parametrize("path", CONSISTENCY_CASES)
def test_consistency_vector_is_accepted_or_rejected_as_expected(path: Path) -> None:
    case = json.loads(path.read_text())
    accepted = verify_consistency(
        case["size1"],
        case["size2"],
        _hashes(case["proof"]),
        base64.b64decode(case["root1"]),
        base64.b64decode(case["root2"]),
    )
    assert accepted is (not case["wantErr"]), case["desc"]
