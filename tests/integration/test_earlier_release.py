"""A ledger written by the 2026-11 release (tests/fixtures/release-2026-11) still replays,
verifies, takes writes, is signed and serves proofs under format-1 and format-2 leaves."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# ----------------------------------------------------- the release before the kernel (2026-12)

FIXTURE_1206 = Path(__file__).resolve().parents[1] / "fixtures" / "release-2026-12"
SIDE_FILES = ("signing.key", "signing.key.signer.json", "signing.key.signer.leaves")


@pytest.fixture
def dec(tmp_path: Path) -> Iterator[GovernanceLedger]:
    shutil.copy(FIXTURE_1206 / "ledger.db", tmp_path / "ledger.db")
    for name in SIDE_FILES:
        shutil.copy(FIXTURE_1206 / f"ledger.db.{name}", tmp_path / f"ledger.db.{name}")
        (tmp_path / f"ledger.db.{name}").chmod(0o600)
    led = GovernanceLedger(settings=Settings(db_url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    yield led
    led.close()


def _pages() -> dict[str, Any]:
    pages: dict[str, Any] = json.loads((FIXTURE_1206 / "pages.json").read_text("utf-8"))
    return pages


def test_the_2026_12_ledger_replays_and_verifies_with_every_signature(
        dec: GovernanceLedger) -> None:
    assert [c["code"] for c in dec.status()["communities"]] == ["ZQ-001"]
    result = verify(dec, verifier_key=_vk_of(dec), require_signed=True)
    assert result.findings == []
    assert (result.events, result.tree_size, result.unsealed) == (7, 7, 0)


def test_the_2026_12_ledger_serves_the_pages_it_served(dec: GovernanceLedger) -> None:
    from ledger.feed.app import create_app
    from tests.feedkit import TestClient

    with TestClient(create_app(dec)) as client:
        for path, then in _pages().items():
            now = client.get(path)
            assert now.status_code == then["status"], path
            body = now.json()
            if path == "/status":  # "as of" is the moment of asking
                body.pop("as_of"), then["body"].pop("as_of")
            assert body == then["body"], path


@pytest.mark.signed
def test_the_2026_12_ledger_takes_a_signed_write(dec: GovernanceLedger, tmp_path: Path) -> None:
    from tests.signing import signed

    key_file = tmp_path / "P-0101.key"  # a checkout gives the fixture's files mode 0644
    shutil.copy(FIXTURE_1206 / "P-0101.key", key_file)
    key_file.chmod(0o600)
    key = load_private_key(key_file)
    command = {"type": "post.appoint", "actor": "P-0101", "post": "party_org.secretary@ZQ-001",
               "target_post": "party_group_leader@ZQ-001/G2", "person": "P-2002",
               "person_name": "周敏", "occurred_at": "2025-03-01"}
    result = dec.execute(signed(key, command))
    assert result.positions == [8]
    assert verify(dec, verifier_key=_vk_of(dec), require_signed=True).findings == []


def _vk_of(led: GovernanceLedger) -> str:
    key = load_private_key(sealer.key_path(led.settings))
    return format_verifier_key(sealer.log_origin(led), key.public_key())
