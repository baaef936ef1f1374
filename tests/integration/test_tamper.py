"""Tampering with the stored log is detected by ``verify``, on SQLite and PostgreSQL.

Each test seals a small ledger in three steps, keeps the middle checkpoint as an auditor
would, drops the append-only triggers and edits the tables with raw SQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.integrity import appendonly, merkle, sealer, signer
from ledger.integrity.checkpoint import Checkpoint as CheckpointBody
from ledger.integrity.checkpoint import format_verifier_key, generate_key_file, sign_checkpoint
from ledger.integrity.errors import LogForkError, SignerRefusedError
from ledger.integrity.sqlstore import INTEGRITY_TABLES, SqlNodeStore, checkpoints, tree_head
from ledger.integrity.tree import IncrementalTree
from ledger.integrity.verifier import Verification, verify
from ledger.kernel.store import command_log
from tests.bulk import bulk_communities
from tests.conftest import sunny_garden

ROOT_DIR = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
FORGER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(50, 82)))


def _vk(ledger: GovernanceLedger, key: Ed25519PrivateKey = KEY) -> str:
    return format_verifier_key(sealer.log_origin(ledger), key.public_key())


def _sealed_ledger(ledger: GovernanceLedger) -> str:
    """Seal after the roster, after 10 bulk events and after 10 more; return the middle note
    (the checkpoint an auditor kept).
    """
    sunny_garden(ledger)
    sealer.seal(ledger, key=KEY)
    bulk_communities(ledger, 10, batch=4)
    kept = sealer.seal(ledger, key=KEY).checkpoint.note
    bulk_communities(ledger, 10, start=10, batch=3)
    sealer.seal(ledger, key=KEY)
    return kept


def _raw(ledger: GovernanceLedger, sql: str, **params: Any) -> None:
    appendonly.remove(ledger.engine, [ledger.events_table.name, command_log.name,
                                      *INTEGRITY_TABLES])
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _state(ledger: GovernanceLedger, nid: int) -> bytes:
    with ledger.engine.connect() as conn:
        return bytes(conn.execute(sa.text(
            f"SELECT state FROM {ledger.events_table.name} WHERE id = :i"), {"i": nid}).scalar_one())


def _ids(ledger: GovernanceLedger) -> list[int]:
    with ledger.engine.connect() as conn:
        return list(conn.execute(sa.text(
            f"SELECT id FROM {ledger.events_table.name} ORDER BY id")).scalars())


def _forget_signer(ledger: GovernanceLedger) -> None:
    for path in (signer.state_path(ledger.settings), signer.leaves_path(ledger.settings)):
        path.unlink(missing_ok=True)


def _kinds(result: Verification) -> set[str]:
    return {f.kind for f in result.findings}


def test_untampered_ledger_verifies_clean_with_and_without_the_kept_checkpoint(
        ledger: GovernanceLedger) -> None:
    kept = _sealed_ledger(ledger)
    result = verify(ledger, verifier_key=_vk(ledger))
    assert result.findings == []
    assert (result.events, result.tree_size, result.checkpoints, result.unsealed) == (
        len(_ids(ledger)), len(_ids(ledger)), 3, 0)
    assert verify(ledger, kept, verifier_key=_vk(ledger)).findings == []


def test_sealing_in_several_steps_gives_the_tree_built_from_scratch(
        ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    with ledger.engine.connect() as conn:
        rows = list(sealer.event_rows(conn, ledger.events_table, page=7))
    with ledger.engine.connect() as conn:
        leaves = [sealer.leaf_v2(i, row, sealer.command_row_of(conn, row.notification_id),
                                 ledger.mapper) for i, row in enumerate(rows)]
    latest = sealer.latest_checkpoint(ledger)
    assert latest is not None
    assert latest.size == len(rows)
    assert latest.root == merkle.root(leaves)
    assert verify(ledger, verifier_key=_vk(ledger)).root == merkle.root(leaves)


def test_events_recorded_after_the_last_checkpoint_are_in_the_tree_already(
        ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    bulk_communities(ledger, 3, start=100)
    result = verify(ledger, verifier_key=_vk(ledger))
    assert (result.findings, result.unsealed) == ([], 0)
    assert result.tree_size == len(_ids(ledger))


def test_altering_one_payload_byte_is_detected_at_its_leaf(ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    victim = _ids(ledger)[3]
    state = _state(ledger, victim)
    at = state.index(b"P-0101")
    _raw(ledger, f"UPDATE {ledger.events_table.name} SET state = :s WHERE id = :i",
         s=state[:at + 5] + b"9" + state[at + 6:], i=victim)
    result = verify(ledger, verifier_key=_vk(ledger))
    assert (3, "leaf_mismatch") in {(f.position, f.kind) for f in result.findings}
    assert "checkpoint_root" in _kinds(result)


def test_deleting_an_event_is_detected(ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    victim = _ids(ledger)[7]
    _raw(ledger, f"DELETE FROM {ledger.events_table.name} WHERE id = :i", i=victim)
    result = verify(ledger, verifier_key=_vk(ledger))
    assert (7, "missing_event") in {(f.position, f.kind) for f in result.findings}
    assert "checkpoint_root" in _kinds(result)


def test_swapping_two_events_is_detected_at_both_leaves(ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    ids = _ids(ledger)
    a, b = ids[8], ids[12]
    t = ledger.events_table.name
    cols = "originator_id, originator_version, topic, state"
    with ledger.engine.connect() as conn:
        row_a = conn.execute(sa.text(f"SELECT {cols} FROM {t} WHERE id = :i"), {"i": a}).one()
        row_b = conn.execute(sa.text(f"SELECT {cols} FROM {t} WHERE id = :i"), {"i": b}).one()
    _raw(ledger, f"UPDATE {t} SET originator_version = -1 WHERE id = :i", i=a)
    for target, src in ((b, row_a), (a, row_b)):
        _raw(ledger, f"UPDATE {t} SET originator_id = :o, originator_version = :v, topic = :p, "
             "state = :s WHERE id = :i", o=src[0], v=src[1], p=src[2], s=bytes(src[3]), i=target)
    result = verify(ledger, verifier_key=_vk(ledger))
    mismatched = {f.position for f in result.findings if f.kind == "leaf_mismatch"}
    assert mismatched == {8, 12}


def test_a_forged_event_appended_is_flagged_and_the_signer_refuses_to_seal_it(
        ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    t = ledger.events_table.name
    last = _ids(ledger)[-1]
    with ledger.engine.connect() as conn:
        oid, topic = conn.execute(sa.text(
            f"SELECT originator_id, topic FROM {t} WHERE id = :i"), {"i": last}).one()
    forged = _state(ledger, last).replace(b"BULK-", b"FAKE-")
    _raw(ledger, f"INSERT INTO {t} (id, originator_id, originator_version, topic, state) "
         "VALUES (:i, :o, 2, :p, :s)", i=last + 1, o=oid, p=topic, s=forged)
    with pytest.raises(SignerRefusedError, match=f"log position {last + 1} has no Merkle leaf"):
        sealer.seal(ledger, key=KEY)  # the operator's routine checkpoint
    result = verify(ledger, verifier_key=_vk(ledger))
    assert sorted(f.kind for f in result.findings) == ["event_without_command", "unsealed_event"]
    assert all(f"event {last + 1} " in f.detail for f in result.findings)


def test_a_forged_event_inserted_into_the_sealed_history_is_detected(
        ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    t = ledger.events_table.name
    ids = _ids(ledger)
    at = ids[5]
    with ledger.engine.connect() as conn:
        oid, topic = conn.execute(sa.text(
            f"SELECT originator_id, topic FROM {t} WHERE id = :i"), {"i": ids[-1]}).one()
    # Make room at `at` by renumbering the later events, then insert the forgery there.
    _raw(ledger, f"UPDATE {t} SET id = id + 1000000 WHERE id >= :a", a=at)
    _raw(ledger, f"UPDATE {t} SET id = id - 999999 WHERE id >= 1000000")
    _raw(ledger, f"INSERT INTO {t} (id, originator_id, originator_version, topic, state) "
         "VALUES (:i, :o, 99, :p, :s)", i=at, o=oid, p=topic,
         s=_state(ledger, ids[-1] + 1).replace(b"BULK-", b"FAKE-"))
    result = verify(ledger, verifier_key=_vk(ledger))
    kinds = _kinds(result)
    assert (5, "leaf_mismatch") in {(f.position, f.kind) for f in result.findings}
    assert {"checkpoint_root", "event_without_command"} <= kinds


def test_removing_a_leaf_from_the_leaf_map_is_detected_as_a_gap_and_an_uncovered_event(
        ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    victim = _ids(ledger)[5]
    _raw(ledger, "DELETE FROM ledger_merkle_leaves WHERE position = 5")
    result = verify(ledger, verifier_key=_vk(ledger))
    found = {(f.position, f.kind) for f in result.findings}
    assert {(5, "leaf_gap"), (6, "uncovered_event")} <= found
    assert any(f"event {victim} " in f.detail for f in result.findings
               if f.kind == "uncovered_event")


def test_deleting_a_command_log_row_leaves_exactly_its_events_without_a_command(
        ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    with ledger.engine.connect() as conn:
        cid, first, last = conn.execute(
            sa.select(command_log.c.command_id, command_log.c.first_notification_id,
                      command_log.c.last_notification_id)
            .where(command_log.c.command_id == "bulk-4")).one()
    _raw(ledger, f"DELETE FROM {command_log.name} WHERE command_id = :c", c=cid)
    result = verify(ledger, verifier_key=_vk(ledger))
    without = [f for f in result.findings if f.kind == "event_without_command"]
    assert [f.detail.split()[1] for f in without] == [str(i) for i in range(first, last + 1)]
    # the row was bound into the leaf of its first event
    assert [f.position for f in result.findings if f.kind == "leaf_mismatch"] == [first - 1]


def test_truncating_the_tail_is_detected(ledger: GovernanceLedger) -> None:
    _sealed_ledger(ledger)
    ids = _ids(ledger)
    _raw(ledger, f"DELETE FROM {ledger.events_table.name} WHERE id >= :i", i=ids[-4])
    result = verify(ledger, verifier_key=_vk(ledger))
    missing = {f.position for f in result.findings if f.kind == "missing_event"}
    assert missing == {len(ids) - 4, len(ids) - 3, len(ids) - 2, len(ids) - 1}


def test_truncating_the_tail_with_its_leaves_and_checkpoints_is_caught_by_the_kept_checkpoint(
        ledger: GovernanceLedger) -> None:
    kept = _sealed_ledger(ledger)
    _raw(ledger, f"DELETE FROM {ledger.events_table.name} WHERE id > :i", i=_ids(ledger)[5])
    for table in INTEGRITY_TABLES:
        _raw(ledger, f"DELETE FROM {table}")
    with pytest.raises((LogForkError, SignerRefusedError)):
        sealer.seal(ledger, key=KEY)  # the signer refuses
    _forget_signer(ledger)  # an attacker with the key but not the signer's record
    attacker = GovernanceLedger(settings=ledger.settings)
    sealer.seal(attacker, key=KEY)
    attacker.close()
    assert verify(ledger, verifier_key=_vk(ledger)).findings == []  # consistent on its own
    result = verify(ledger, kept, verifier_key=_vk(ledger))
    assert "retained_checkpoint_beyond_tree" in _kinds(result)


def test_rewriting_the_log_and_re_signing_every_checkpoint_is_caught_by_the_kept_checkpoint(
        ledger: GovernanceLedger) -> None:
    kept = _sealed_ledger(ledger)
    old_key = _vk(ledger)
    with ledger.engine.connect() as conn:
        sizes = list(conn.execute(sa.select(checkpoints.c.size).order_by(checkpoints.c.size))
                     .scalars())
    victim = _ids(ledger)[3]
    state = _state(ledger, victim)
    _raw(ledger, f"UPDATE {ledger.events_table.name} SET state = :s WHERE id = :i",
         s=state.replace(b"P-0101", b"P-0666"), i=victim)
    # The forger rebuilds the whole tree and signs a checkpoint at every old size.
    for table in INTEGRITY_TABLES:
        _raw(ledger, f"DELETE FROM {table}")
    with pytest.raises((LogForkError, SignerRefusedError)):
        sealer.seal(ledger, key=KEY)  # the signer refuses
    _forget_signer(ledger)
    attacker = GovernanceLedger(settings=ledger.settings)
    sealer.seal(attacker, key=FORGER_KEY)
    attacker.close()
    origin = sealer.log_origin(ledger)
    with ledger.engine.begin() as conn:
        tree = IncrementalTree(SqlNodeStore(conn), tree_head(conn).size)
        for size in sizes[:-1]:
            root = tree.root(size)
            conn.execute(sa.insert(checkpoints).values(
                size=size, root=root, created_at="2025-06-30T00:00:00+08:00",
                note=sign_checkpoint(CheckpointBody(origin, size, root), origin, FORGER_KEY),
                verifier_key=_vk(ledger, FORGER_KEY)))
    forged = verify(ledger, verifier_key=_vk(ledger, FORGER_KEY))
    assert (forged.findings, forged.checkpoints) == ([], 3)  # self-consistent under the new key
    # The auditor's kept checkpoint exposes it, whichever key the ledger now claims.
    with_new_key = verify(ledger, kept, verifier_key=_vk(ledger, FORGER_KEY))
    assert {"retained_checkpoint_signature", "retained_checkpoint_root",
            "retained_checkpoint_inconsistent"} <= _kinds(with_new_key)
    with_kept_key = verify(ledger, kept, verifier_key=old_key)
    assert {"checkpoint_signature", "retained_checkpoint_root"} <= _kinds(with_kept_key)
    assert "retained_checkpoint_signature" not in _kinds(with_kept_key)


def test_a_write_killed_mid_transaction_leaves_every_committed_event_with_its_leaf(
        db_url: str, tmp_path: Path) -> None:
    """The leaves are written in the event's own transaction: kill a bulk writer while it is
    inside one (its leaves and nodes written, not committed) and nothing of it remains."""
    key_file = tmp_path / "seal.key"
    key = generate_key_file(key_file)
    led = GovernanceLedger(db_url)
    try:
        sunny_garden(led)
        sealer.seal(led, key=key)
        script = textwrap.dedent(f"""
            import time
            from ledger.application import GovernanceLedger
            from ledger.integrity import intxn
            from tests.bulk import bulk_communities
            put = intxn._CursorNodes.put_nodes
            def slow_put(self, items):
                put(self, items)
                print("in transaction", flush=True)
                time.sleep(0.05)  # inside the write transaction, before its commit
            intxn._CursorNodes.put_nodes = slow_put
            led = GovernanceLedger({db_url!r})
            bulk_communities(led, 40, batch=1)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT_DIR,
                                env={**os.environ, "PYTHONPATH": str(ROOT_DIR)},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        for _ in range(5):
            proc.stdout.readline()
        time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        with led.engine.connect() as conn:
            size = tree_head(conn).size
        assert 5 < size < 45 and size == len(_ids(led))  # some writes committed, each whole
        vk = _vk(led, key)
        assert verify(led, verifier_key=vk).findings == []
        bulk_communities(led, 2, start=100)
        sealer.seal(led, key=key)
        result = verify(led, verifier_key=vk)
        assert (result.findings, result.tree_size, result.unsealed) == ([], len(_ids(led)), 0)
    finally:
        led.close()


def _alter_payload(ledger: GovernanceLedger) -> None:
    victim = _ids(ledger)[3]
    _raw(ledger, f"UPDATE {ledger.events_table.name} SET state = :s WHERE id = :i",
         s=_state(ledger, victim).replace(b"P-0101", b"P-0666"), i=victim)


def _delete_event(ledger: GovernanceLedger) -> None:
    _raw(ledger, f"DELETE FROM {ledger.events_table.name} WHERE id = :i", i=_ids(ledger)[12])


def _delete_leaf(ledger: GovernanceLedger) -> None:
    _raw(ledger, "DELETE FROM ledger_merkle_leaves WHERE position = 10")


def _delete_command(ledger: GovernanceLedger) -> None:
    _raw(ledger, f"DELETE FROM {command_log.name} WHERE command_id = 'bulk-13'")


def _truncate(ledger: GovernanceLedger) -> None:
    _raw(ledger, f"DELETE FROM {ledger.events_table.name} WHERE id >= :i", i=_ids(ledger)[-3])


@pytest.mark.parametrize("tamper", [None, _alter_payload, _delete_event, _delete_leaf,
                                    _delete_command, _truncate])
def test_worker_processes_find_exactly_what_one_process_finds(
        ledger: GovernanceLedger, tamper: Any) -> None:
    kept = _sealed_ledger(ledger)
    if tamper is not None:
        tamper(ledger)
    one = verify(ledger, kept, verifier_key=_vk(ledger), workers=1)
    many = verify(ledger, kept, verifier_key=_vk(ledger), workers=2, chunk=4)
    assert many.findings == one.findings
    assert (many.events, many.tree_size, many.root, many.unsealed) == (
        one.events, one.tree_size, one.root, one.unsealed)
    assert bool(one.findings) == (tamper is not None)
