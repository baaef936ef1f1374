"""A ledger written by the 2026-11 release (tests/fixtures/release-2026-11) still replays,
verifies, takes writes, is signed and serves proofs under format-1 and format-2 leaves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledger.application import GovernanceLedger
from ledger.integrity import sealer, signer
from ledger.integrity.checkpoint import format_verifier_key, load_private_key, parse_checkpoint
from ledger.integrity.verifier import verify
from ledger.kernel.config import Settings
from tests.conftest import ADMIN

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release-2026-11"


@pytest.fixture
def old(tmp_path: Path) -> GovernanceLedger:
    shutil.copy(FIXTURE / "ledger.db", tmp_path / "ledger.db")
    shutil.copy(FIXTURE / "signing.key", tmp_path / "ledger.db.signing.key")
    (tmp_path / "ledger.db.signing.key").chmod(0o600)
    led = GovernanceLedger(settings=Settings(db_url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    yield led
    led.close()


def _vk(led: GovernanceLedger) -> str:
    key = load_private_key(sealer.key_path(led.settings))
    return format_verifier_key("zq-governance-ledger/ZQ", key.public_key())


def test_it_replays_and_verifies_as_it_was(old: GovernanceLedger) -> None:
    assert [c["code"] for c in old.status()["communities"]] == ["ZQ-001", "ZQ-002"]
    result = verify(old, verifier_key=_vk(old))
    assert result.findings == []
    assert (result.events, result.tree_size, result.unsealed) == (4, 4, 1)
    assert sealer.log_origin(old) == "zq-governance-ledger/ZQ"


def test_it_takes_writes_seals_its_old_tail_and_keeps_its_origin(old: GovernanceLedger) -> None:
    result = old.execute({"type": "community.register", **ADMIN, "code": "ZQ-003",
                          "name": "新社区"})
    assert result.positions == [6]
    head = sealer.seal(old).checkpoint
    assert (head.size, parse_checkpoint(head.note)[0].origin) == (6, "zq-governance-ledger/ZQ")
    state = signer.load_state(old.settings)
    assert state is not None and (state.size, state.root) == (6, head.root)
    checked = verify(old, verifier_key=_vk(old))
    assert (checked.findings, checked.tree_size, checked.unsealed) == ([], 6, 0)
    # format-1 leaves (0-3) and format-2 leaves (4, 5) both prove
    for position in (1, 5):
        doc = sealer.inclusion_proof_document(old, position)
        assert ("leaf_format" in doc["record"]) == (position == 5)
    assert sealer.consistency_proof_document(old, 4)["to_size"] == 6
