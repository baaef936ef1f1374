"""Snapshots of aggregate state: the state they give equals the state replayed from the events,
and a snapshot that does not match its events, its digest or its signature is not used and is
reported by ``verify --snapshots``; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.integrity import sealer
from ledger.integrity.checkpoint import format_verifier_key
from ledger.integrity.verifier import verify
from ledger.kernel.config import Settings
from ledger.snapshots import (
    SnapshotRow,
    aggregate_state,
    public_state,
    snapshots,
    take_snapshots,
)
from tests.conftest import ADMIN, load_sample_year, sunny_garden

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
FORGER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(50, 82)))
PUBLIC = KEY.public_key()


def _replayed(ledger: GovernanceLedger, agg_id: UUID, version: int | None = None,
              ) -> dict[str, Any]:
    """The state the library's repository replays from every event."""
    return public_state(ledger.repository.get(agg_id, version=version))


def _state(ledger: GovernanceLedger, key: str, version: int | None = None) -> dict[str, Any]:
    return aggregate_state(ledger, key, version, public_key=PUBLIC)


def _vk(ledger: GovernanceLedger) -> str:
    return format_verifier_key(sealer.log_origin(ledger), PUBLIC)


def _appoint(ledger: GovernanceLedger, person: str) -> None:
    ledger.execute({"type": "post.appoint", **ADMIN, "target_post": "volunteer@ZQ-001",
                    "person": person, "person_name": f"志愿者{person}",
                    "occurred_at": "2025-02-01"})


def _row(ledger: GovernanceLedger, version: int | None = None) -> SnapshotRow:
    query = sa.select(*snapshots.c).order_by(snapshots.c.version.desc())
    if version is not None:
        query = query.where(snapshots.c.version == version)
    with ledger.engine.connect() as conn:
        return SnapshotRow.from_row(conn.execute(query.limit(1)).one())


def _replace(ledger: GovernanceLedger, row: SnapshotRow, *, sign_with: Ed25519PrivateKey | None,
             **changes: Any) -> None:
    """Rewrite a snapshot row with *changes*; recompute its digest and sign it with
    *sign_with* (None: keep the old digest and signature, as a careless edit would)."""
    new = dataclasses.replace(row, **changes)
    if sign_with is not None:
        digest = new.computed_digest()
        new = dataclasses.replace(new, digest=digest, signature=sign_with.sign(
            b"ledger-snapshot-signature/1\n" + digest))
    with ledger.engine.begin() as conn:
        conn.execute(snapshots.update().where(sa.and_(
            snapshots.c.aggregate_id == row.aggregate_id,
            snapshots.c.version == row.version)).values(**dataclasses.asdict(new)))


def _kinds(ledger: GovernanceLedger) -> list[str]:
    return [f.kind for f in verify(ledger, verifier_key=_vk(ledger), snapshots=True).findings]


def test_the_state_from_a_snapshot_equals_the_replayed_state_for_every_sample_year_aggregate(
        ledger: GovernanceLedger) -> None:
    load_sample_year(ledger)
    taken = take_snapshots(ledger, every=1, key=KEY)
    assert len(taken) > 100 and all(t["new"] for t in taken)
    for t in taken:
        agg_id = UUID(t["aggregate_id"])
        got = _state(ledger, t["aggregate_id"])
        assert got["snapshot"]["version"] == t["version"] == got["version"]
        assert (got["snapshot"]["events_after"], got["ignored_snapshots"]) == (0, [])
        assert got["state"] == _replayed(ledger, agg_id), t
        if t["version"] > 1:  # an earlier version: no snapshot at or before it, replayed
            earlier = _state(ledger, t["aggregate_id"], t["version"] - 1)
            assert earlier["snapshot"] is None
            assert earlier["state"] == _replayed(ledger, agg_id, t["version"] - 1)
    # Taking them again writes nothing; the full check finds nothing.
    assert not any(t["new"] for t in take_snapshots(ledger, every=1, key=KEY))
    sealer.seal(ledger, key=KEY)
    result = verify(ledger, verifier_key=_vk(ledger), snapshots=True)
    assert (result.findings, result.snapshots) == ([], len(taken))


def test_the_events_after_a_snapshot_are_applied_to_it(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    [taken] = take_snapshots(ledger, ["community:ZQ-001"], key=KEY)
    for person in ("V-1", "V-2", "V-3"):
        _appoint(ledger, person)
    agg_id = UUID(taken["aggregate_id"])
    now = _state(ledger, "ZQ-001")
    assert (now["version"], now["snapshot"]["version"], now["snapshot"]["events_after"]) == (
        taken["version"] + 3, taken["version"], 3)
    assert now["state"] == _replayed(ledger, agg_id)
    at = _state(ledger, "community:ZQ-001", taken["version"] + 1)
    assert (at["snapshot"]["events_after"], at["state"]) == (
        1, _replayed(ledger, agg_id, taken["version"] + 1))
    # `ledger snapshot` without keys takes the aggregates with enough new events.
    assert [t["aggregate_id"] for t in take_snapshots(ledger, every=3, key=KEY)] == [str(agg_id)]
    assert take_snapshots(ledger, every=3, key=KEY) == []


def test_an_edited_snapshot_is_not_used_and_verify_reports_it(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    take_snapshots(ledger, ["ZQ-001"], key=KEY)
    _appoint(ledger, "V-1")
    take_snapshots(ledger, ["ZQ-001"], key=KEY)
    good = _row(ledger)
    replayed = _replayed(ledger, UUID(good.aggregate_id))
    forged_state = good.state.replace("阳光花园".encode(), "月光花园".encode())
    assert forged_state != good.state
    sealer.seal(ledger, key=KEY)

    # 1. The state edited in place: the digest no longer matches. The older snapshot is
    # used instead, with the event after it.
    _replace(ledger, good, sign_with=None, state=forged_state)
    got = _state(ledger, "ZQ-001")
    assert got["state"] == replayed
    assert (got["snapshot"]["version"], got["snapshot"]["events_after"]) == (good.version - 1, 1)
    assert [i["version"] for i in got["ignored_snapshots"]] == [good.version]
    assert "digest" in got["ignored_snapshots"][0]["reason"]
    assert "snapshot_digest" in _kinds(ledger)

    # 2. The digest recomputed and signed with another key: the signature fails.
    _replace(ledger, good, sign_with=FORGER_KEY, state=forged_state)
    got = _state(ledger, "ZQ-001")
    assert got["state"] == replayed
    assert "signature" in got["ignored_snapshots"][0]["reason"]
    assert "snapshot_signature" in _kinds(ledger)

    # 3. Re-signed with the ledger's own key (stolen, or read off the disk): the signer's
    # record beside the key has no such snapshot, so it is not used; the full check also
    # replays the events.
    _replace(ledger, good, sign_with=KEY, state=forged_state)
    got = _state(ledger, "ZQ-001")
    assert (got["state"], got["snapshot"]["version"]) == (replayed, good.version - 1)
    assert "never took it" in got["ignored_snapshots"][0]["reason"]
    assert _kinds(ledger) == ["snapshot_unrecorded", "snapshot_state"]

    # 4. Claiming to follow other events: not used, and reported.
    _replace(ledger, good, sign_with=KEY, head_sha256=hashlib.sha256(b"other").digest())
    got = _state(ledger, "ZQ-001")
    assert (got["state"], got["snapshot"]["version"]) == (replayed, good.version - 1)
    assert got["ignored_snapshots"][0]["version"] == good.version
    assert _kinds(ledger) == ["snapshot_unrecorded", "snapshot_events"]

    # 5. Made by another version of the ledger: not used; only the missing record is a
    # finding (the state matches).
    _replace(ledger, good, sign_with=KEY, made_by="0.0.1")
    got = _state(ledger, "ZQ-001")
    assert "made by ledger 0.0.1" in got["ignored_snapshots"][0]["reason"]
    assert _kinds(ledger) == ["snapshot_unrecorded"]

    # Repaired: the snapshot is used again.
    _replace(ledger, good, sign_with=KEY)
    got = _state(ledger, "ZQ-001")
    assert (got["snapshot"]["version"], got["ignored_snapshots"]) == (good.version, [])


def test_without_any_key_to_check_them_snapshots_are_not_used(db_url: str,
                                                              tmp_path: Path) -> None:
    led = GovernanceLedger(settings=Settings(db_url=db_url,
                                             key_file=str(tmp_path / "absent.key")))
    try:
        sunny_garden(led)
        take_snapshots(led, ["ZQ-001"], key=KEY)
        got = led.state("ZQ-001")  # no key file, no checkpoint: nothing to check with
        assert got["snapshot"] is None
        assert "no key" in got["ignored_snapshots"][0]["reason"]
        assert got["state"] == _replayed(led, UUID(got["aggregate_id"]))
    finally:
        led.close()


def test_snapshot_state_and_verify_snapshots_in_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    assert run(cli, ["--db", db, "--lang", "en", "demo"]).exit_code == 0  # creates the key
    taken = run(cli, ["--db", db, "--lang", "en", "snapshot", "--every", "30", "--json"])
    assert taken.exit_code == 0, taken.output
    shown = run(cli, ["--db", db, "--lang", "en", "state", "ZQ-001"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("State of ZQ-001: Community ")
    assert "(from the snapshot at version " in shown.output
    checked = run(cli, ["--db", db, "verify", "--allow-unverified", "--snapshots"])
    assert checked.exit_code == 0, checked.output
    assert "snapshots checked against the events" in checked.output
    bad = run(cli, ["--db", db, "state", "ZQ-001", "--version", "9999"])
    assert (bad.exit_code, bad.output.startswith("Error: 'ZQ-001' has ")) == (1, True)
    unknown = run(cli, ["--db", db, "state", "nobody"])
    assert unknown.exit_code == 1
    assert "no aggregate has the key 'nobody'" in unknown.output
