"""``verify --full``, ``verify --projections``, snapshots bound to the tree and ``verify``
without anything to check against, with raw SQL as the attacker (append-only triggers dropped
where the attack needs it), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.integrity import appendonly, sealer
from ledger.integrity.checkpoint import format_verifier_key
from ledger.integrity.errors import SignerRefusedError
from ledger.integrity.sqlstore import INTEGRITY_TABLES, merkle_nodes, tree_head
from ledger.integrity.tree import frontier_keys
from ledger.integrity.verifier import Verification, verify
from ledger.kernel.store import command_log
from ledger.snapshots import SnapshotRow, record_path, snapshots
from tests.bulk import bulk_communities
from tests.conftest import ADMIN, load_sample_year, sunny_garden

ZERO = b"\x00" * 32


def _key(ledger: GovernanceLedger) -> Ed25519PrivateKey:
    sealer.ensure_key_file(ledger.settings)
    return sealer.signing_key(ledger.settings)


def _vk(ledger: GovernanceLedger) -> str:
    return format_verifier_key(sealer.log_origin(ledger), _key(ledger).public_key())


def _raw(ledger: GovernanceLedger, sql: str, **params: Any) -> None:
    appendonly.remove(ledger.engine, [ledger.events_table.name, command_log.name,
                                      *INTEGRITY_TABLES])
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _kinds(result: Verification) -> list[str]:
    return sorted({f.kind for f in result.findings})


def _cli(ledger: GovernanceLedger, *args: str) -> Any:
    url = ledger.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(cli, ["--db", url, "--lang", "en", *args])


# ----------------------------------------------------------------------------- --full
def _ledger_of(ledger: GovernanceLedger, communities: int = 40) -> int:
    sunny_garden(ledger)
    bulk_communities(ledger, communities, batch=4)
    sealer.seal(ledger, key=_key(ledger))
    with ledger.engine.connect() as conn:
        return tree_head(conn).size


def _zero(ledger: GovernanceLedger, level: int, index: int) -> None:
    _raw(ledger, f"UPDATE {merkle_nodes.name} SET hash = :z WHERE level = :l AND idx = :i",
         z=ZERO, l=level, i=index)


def test_verify_full_flags_a_zeroed_interior_node_that_plain_verify_misses(
        ledger: GovernanceLedger) -> None:
    size = _ledger_of(ledger)
    assert size > 32
    clean = verify(ledger, verifier_key=_vk(ledger), full=True)
    assert (clean.findings, clean.nodes) == ([], size - 1 - (size.bit_count() - 1))
    # Node (2, 1) covers leaves 4..7: under the subtree (5, 0), so in no root's compact range
    # at the tree's size: only proofs through it break, and only --full recomputes it.
    _zero(ledger, 2, 1)
    assert verify(ledger, verifier_key=_vk(ledger)).findings == []
    result = verify(ledger, verifier_key=_vk(ledger), full=True)
    assert [(f.kind, f.position) for f in result.findings] == [("node_mismatch", 4)]
    assert "level 2 index 1 (leaves 4..7) is AAAAAAAA" in result.findings[0].detail
    # The single-process and the worker paths find the same.
    assert verify(ledger, verifier_key=_vk(ledger), full=True, workers=2,
                  chunk=16).findings == result.findings


def test_verify_full_flags_a_zeroed_frontier_node_and_the_signer_signs_nothing(
        ledger: GovernanceLedger) -> None:
    size = _ledger_of(ledger)
    level, index = next((lv, ix) for lv, ix in frontier_keys(size) if lv > 0)
    _zero(ledger, level, index)
    result = verify(ledger, verifier_key=_vk(ledger), full=True)
    assert ("node_mismatch", index << level) in [(f.kind, f.position) for f in result.findings]
    assert {"node_mismatch", "stored_tree_root"} <= set(_kinds(result))
    # No inconsistent checkpoint is signed over it.
    with ledger.engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM ledger_checkpoints")).scalar_one()
    bulk_communities(ledger, 1, start=900)
    with pytest.raises(SignerRefusedError):
        sealer.seal(ledger, key=_key(ledger))
    with ledger.engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM ledger_checkpoints")).scalar_one()
    assert after == before


def test_verify_full_flags_a_deleted_node_and_one_written_beyond_the_tree(
        ledger: GovernanceLedger) -> None:
    size = _ledger_of(ledger, 10)
    _raw(ledger, f"DELETE FROM {merkle_nodes.name} WHERE level = 1 AND idx = 0")
    _raw(ledger, f"INSERT INTO {merkle_nodes.name} (level, idx, hash) VALUES (3, :i, :z)",
         i=size, z=ZERO)
    found = verify(ledger, verifier_key=_vk(ledger), full=True).findings
    assert [(f.kind, f.position) for f in found if f.kind == "node_mismatch"] == [
        ("node_mismatch", 0)]
    assert "is missing" in next(f.detail for f in found if f.kind == "node_mismatch")
    assert [f.kind for f in found if f.kind == "node_extra"] == ["node_extra"]


def test_an_event_without_a_leaf_is_a_finding(ledger: GovernanceLedger) -> None:
    _ledger_of(ledger, 3)
    table = ledger.events_table.name
    with ledger.engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id DESC LIMIT 1")
                           ).mappings().one()
    forged = {**row, "id": row["id"] + 1, "originator_version": row["originator_version"] + 1}
    cols = ", ".join(forged)
    _raw(ledger, f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in forged)})",
         **forged)
    result = verify(ledger, verifier_key=_vk(ledger), full=True)
    assert "unsealed_event" in _kinds(result)
    shown = _cli(ledger, "verify", "--key", _vk(ledger), "--full")
    assert shown.exit_code == 1
    assert any(json.loads(line)["kind"] == "unsealed_event" for line in shown.stdout.splitlines())


# ----------------------------------------------------------------------------- --projections
def _shadow_leftovers(ledger: GovernanceLedger, tmp_path: Path) -> list[str]:
    if ledger.engine.dialect.name == "postgresql":
        with ledger.engine.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE '%\\_rebuild\\_%'"))
                .scalars())
    return [p.name for p in tmp_path.iterdir() if ".rebuild-" in p.name]


EDITS = [
    # The ban list: a banned firm shown as not banned.
    ("rm_firms", "UPDATE rm_firms SET banned = :f WHERE code = '91310112MA1GB3K258'",
     {"f": False}, "(code='91310112MA1GB3K258') differs: banned: False (rebuilt: True)"),
    # The appraisal table: a firm's score changed.
    ("rm_appraisal_firms", "UPDATE rm_appraisal_firms SET score = '99.9' WHERE firm = "
     "(SELECT min(firm) FROM rm_appraisal_firms) AND year_code = (SELECT min(year_code) FROM "
     "rm_appraisal_firms)", {}, "differs: score: '99.9' (rebuilt: "),
    # The audit trail: who did it.
    ("rm_audit_actions", "UPDATE rm_audit_actions SET actor = 'P-9999' WHERE position = 5", {},
     "(position=5) differs: actor: 'P-9999' (rebuilt: "),
    # A row deleted from the audit trail.
    ("rm_audit_actions", "DELETE FROM rm_audit_actions WHERE position = 7", {},
     "(position=7) is missing (deleted?)"),
]


def test_verify_projections_reports_each_edited_read_model_row_and_changes_nothing(
        ledger: GovernanceLedger, tmp_path: Path) -> None:
    load_sample_year(ledger)
    ledger.catch_up()
    _key(ledger)
    clean = verify(ledger, verifier_key=_vk(ledger), projections=True)
    assert clean.findings == []
    assert clean.projection_rows is not None and clean.projection_rows > 2000
    for _table, sql, params, _detail in EDITS:
        _raw(ledger, sql, **params)
    with ledger.engine.connect() as conn:
        live_before = {t: conn.execute(sa.text(f"SELECT * FROM {t}")).all()
                       for t in ("rm_firms", "rm_appraisal_firms", "rm_audit_actions")}
    result = verify(ledger, verifier_key=_vk(ledger), projections=True)
    assert _kinds(result) == ["projection_row"]
    assert len(result.findings) == len(EDITS)
    for table, _sql, _params, detail in EDITS:
        assert any(f.detail.startswith(f"read model table {table}: row ") and detail in f.detail
                   for f in result.findings), (table, [f.detail for f in result.findings])
    # Nothing live was changed, nothing swapped in, and the shadow is gone.
    with ledger.engine.connect() as conn:
        assert {t: conn.execute(sa.text(f"SELECT * FROM {t}")).all()
                for t in live_before} == live_before
    assert _shadow_leftovers(ledger, tmp_path) == []
    # Through the CLI: one JSON line per row, exit 1.
    shown = _cli(ledger, "verify", "--key", _vk(ledger), "--projections")
    assert shown.exit_code == 1
    assert [json.loads(line)["kind"] for line in shown.stdout.splitlines()] == [
        "projection_row"] * len(EDITS)


def test_verify_projections_compares_a_read_model_at_the_position_it_is_at(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    ledger.catch_up()
    _key(ledger)
    # Events the live read models have not applied yet: the rebuild stops where they are.
    ledger.execute({"type": "community.register", **ADMIN, "code": "ZQ-002", "name": "二号",
                    "occurred_at": "2025-01-05"})
    result = verify(ledger, verifier_key=_vk(ledger), projections=True)
    assert result.findings == []


# ----------------------------------------------------------------------------- snapshots
def _snapshot_row(ledger: GovernanceLedger) -> SnapshotRow:
    with ledger.engine.connect() as conn:
        return SnapshotRow.from_row(conn.execute(sa.select(*snapshots.c).order_by(
            snapshots.c.version.desc()).limit(1)).one())


def _rewrite(ledger: GovernanceLedger, row: SnapshotRow, key: Ed25519PrivateKey | None,
             **changes: Any) -> None:
    new = dataclasses.replace(row, **changes)
    if key is not None:
        digest = new.computed_digest()
        new = dataclasses.replace(new, digest=digest, signature=key.sign(
            b"ledger-snapshot-signature/1\n" + digest))
    with ledger.engine.begin() as conn:
        conn.execute(snapshots.update().where(sa.and_(
            snapshots.c.aggregate_id == row.aggregate_id,
            snapshots.c.version == row.version)).values(**dataclasses.asdict(new)))


def _state_cli(ledger: GovernanceLedger) -> dict[str, Any]:
    shown = _cli(ledger, "state", "ZQ-001", "--json")
    assert shown.exit_code == 0, shown.output
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def test_a_snapshot_records_the_tree_and_is_used(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    _key(ledger)
    taken = _cli(ledger, "snapshot", "ZQ-001", "--json")
    assert taken.exit_code == 0, taken.output
    row = _snapshot_row(ledger)
    with ledger.engine.connect() as conn:
        assert row.tree_size == tree_head(conn).size
    assert record_path(ledger.settings).stat().st_mode & 0o077 == 0
    got = _state_cli(ledger)
    assert (got["snapshot"]["version"], got["snapshot"]["tree_size"]) == (row.version,
                                                                        row.tree_size)
    assert verify(ledger, verifier_key=_vk(ledger), snapshots=True).findings == []


def test_an_edited_snapshot_re_signed_with_the_key_is_not_served_and_is_flagged(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    _key(ledger)
    assert _cli(ledger, "snapshot", "ZQ-001").exit_code == 0
    honest = _state_cli(ledger)
    row = _snapshot_row(ledger)
    forged = row.state.replace("阳光花园".encode(), "月光花园".encode())
    assert forged != row.state
    # The attacker edits the state and re-signs the row with the ledger's own key file.
    _rewrite(ledger, row, _key(ledger), state=forged)
    got = _state_cli(ledger)
    assert got["snapshot"] is None  # replayed from the events instead
    assert got["state"] == honest["state"]
    assert "never took it" in got["ignored_snapshots"][0]["reason"]
    kinds = _kinds(verify(ledger, verifier_key=_vk(ledger), snapshots=True))
    assert kinds == ["snapshot_state", "snapshot_unrecorded"]
    shown = _cli(ledger, "verify", "--key", _vk(ledger), "--snapshots")
    assert shown.exit_code == 1
    # Its recorded tree edited and re-signed: refused too, and the tree check names it.
    _rewrite(ledger, row, _key(ledger), tree_root=ZERO)
    got = _state_cli(ledger)
    assert got["snapshot"] is None
    assert "snapshot_tree" in _kinds(verify(ledger, verifier_key=_vk(ledger), snapshots=True))
    # Put back as it was taken: used again.
    _rewrite(ledger, row, None)
    assert _state_cli(ledger)["snapshot"]["version"] == row.version


def test_a_snapshot_of_a_rewritten_log_does_not_match_the_tree(
        ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    _key(ledger)
    assert _cli(ledger, "snapshot", "ZQ-001").exit_code == 0
    row = _snapshot_row(ledger)
    # A stored node of the tree at the snapshot's size zeroed: the root no longer matches.
    with ledger.engine.connect() as conn:
        size = tree_head(conn).size
    level, index = frontier_keys(size)[0]
    _zero(ledger, level, index)
    got = _state_cli(ledger)
    assert got["snapshot"] is None
    assert "root it was taken at" in got["ignored_snapshots"][0]["reason"]
    found = verify(ledger, verifier_key=_vk(ledger), snapshots=True).findings
    assert any(f.kind == "snapshot_tree" and f"version {row.version}" in f.detail
               for f in found)


def test_a_snapshot_without_a_tree_or_a_record_is_not_used(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    _key(ledger)
    assert _cli(ledger, "snapshot", "ZQ-001").exit_code == 0
    row = _snapshot_row(ledger)
    # As an earlier release wrote it: no tree size or root (signed as it was then).
    _rewrite(ledger, row, _key(ledger), tree_size=None, tree_root=None)
    got = _state_cli(ledger)
    assert got["snapshot"] is None
    assert "records no tree size and root" in got["ignored_snapshots"][0]["reason"]
    _rewrite(ledger, row, None)
    assert _state_cli(ledger)["snapshot"] is not None
    # Without the signer's record beside the key (a copy elsewhere): not used either.
    record_path(ledger.settings).unlink()
    got = _state_cli(ledger)
    assert got["snapshot"] is None
    assert "no record of the snapshots the signer took" in got["ignored_snapshots"][0]["reason"]


def test_an_earlier_release_snapshot_table_gains_the_tree_columns(
        ledger: GovernanceLedger) -> None:
    from ledger import snapshots as module

    sunny_garden(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE ledger_snapshots"))
        conn.execute(sa.text(
            "CREATE TABLE ledger_snapshots (aggregate_id VARCHAR(36) NOT NULL, version BIGINT "
            "NOT NULL, position BIGINT NOT NULL, head_sha256 BYTEA NOT NULL, events_sha256 "
            "BYTEA NOT NULL, topic TEXT NOT NULL, state BYTEA NOT NULL, made_by VARCHAR(40) NOT "
            "NULL, created_at VARCHAR(40) NOT NULL, digest BYTEA NOT NULL, signature BYTEA NOT "
            "NULL, PRIMARY KEY (aggregate_id, version))"
            if ledger.engine.dialect.name == "postgresql" else
            "CREATE TABLE ledger_snapshots (aggregate_id VARCHAR(36) NOT NULL, version INTEGER "
            "NOT NULL, position INTEGER NOT NULL, head_sha256 BLOB NOT NULL, events_sha256 BLOB "
            "NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL, made_by VARCHAR(40) NOT NULL, "
            "created_at VARCHAR(40) NOT NULL, digest BLOB NOT NULL, signature BLOB NOT NULL, "
            "PRIMARY KEY (aggregate_id, version))"))
    module._UPGRADED.clear()
    _key(ledger)
    assert _state_cli(ledger)["snapshot"] is None
    assert _cli(ledger, "snapshot", "ZQ-001").exit_code == 0
    assert _state_cli(ledger)["snapshot"] is not None


# ----------------------------------------------------------------------------- degraded mode
def test_verify_without_a_key_or_a_witness_policy_exits_2(ledger: GovernanceLedger,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    monkeypatch.delenv("LEDGER_WITNESS_POLICY", raising=False)
    sunny_garden(ledger)
    _key(ledger)
    refused = _cli(ledger, "verify")
    assert refused.exit_code == 2
    assert refused.output.startswith("Error: neither --key")
    assert "--allow-unverified" in refused.output
    assert len(refused.output.splitlines()) == 1
    unverified = _cli(ledger, "verify", "--allow-unverified")
    assert unverified.exit_code == 0, unverified.output
    assert unverified.output.startswith("WARNING: unverified: signatures were checked with "
                                        "the key file key")
    assert _cli(ledger, "verify", "--key", _vk(ledger)).exit_code == 0


def test_verify_with_a_witness_policy_needs_the_witness_module_or_its_quorum(
        ledger: GovernanceLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sunny_garden(ledger)
    _key(ledger)
    witness = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
    raw = witness.public_key().public_bytes_raw()
    import base64
    import hashlib
    keyid = hashlib.sha256(b"district.example/witness\n\x04" + raw).digest()[:4]
    encoded = base64.b64encode(b"\x04" + raw).decode()
    vkey = f"district.example/witness+{keyid.hex()}+{encoded}"
    policy = tmp_path / "witnesses.txt"
    policy.write_text(f"# the district\nwitness district.example/witness {vkey}\nquorum 1\n",
                      encoding="utf-8")
    monkeypatch.setenv("LEDGER_WITNESS_POLICY", str(policy))
    shown = _cli(ledger, "verify")  # the policy from the environment: not degraded
    assert shown.exit_code == 1, shown.output
    if importlib.util.find_spec("ledger.integrity.cosign") is None:
        assert shown.output.startswith("Error: witness policies need ledger.integrity.cosign")
        return
    # No witness cosigned the ledger's checkpoint: the quorum is not reached.
    assert any(json.loads(line)["kind"] == "witness_quorum"
               for line in shown.stdout.splitlines())
