"""The operator's own database is not trusted: attacks with raw SQL on SQLite and PostgreSQL.

Each test builds a small ledger through the real write path, signs a checkpoint (the signer
keeps its own record beside its key), then edits the tables as an attacker with write access
to the database would (append-only triggers dropped where the attack needs it) and checks that
the ledger notices: no committed event is without its leaf, the signer refuses to sign what it
cannot recompute, writes stop, and a forged stored result is not handed out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.integrity import appendonly, merkle, sealer, signer
from ledger.integrity.checkpoint import format_verifier_key
from ledger.integrity.errors import LogForkError, LogIntegrityError, SignerRefusedError
from ledger.integrity.sqlstore import INTEGRITY_TABLES, SqlNodeStore, tree_head
from ledger.integrity.tree import IncrementalTree
from ledger.integrity.verifier import verify
from ledger.kernel.config import Settings
from ledger.kernel.store import command_log
from tests.conftest import ADMIN, store_snapshot, sunny_garden

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _vk(ledger: GovernanceLedger) -> str:
    return format_verifier_key(sealer.log_origin(ledger), KEY.public_key())


def _raw(ledger: GovernanceLedger, sql: str, **params: Any) -> None:
    appendonly.remove(ledger.engine, [ledger.events_table.name, command_log.name,
                                      *INTEGRITY_TABLES])
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _appoint(ledger: GovernanceLedger, person: str, **extra: Any) -> Any:
    return ledger.execute({"type": "post.appoint", **ADMIN, "occurred_at": "2025-02-01",
                           "target_post": "volunteer@ZQ-001", "person": person,
                           "person_name": "丁", **extra})


def _event_row(ledger: GovernanceLedger, nid: int) -> tuple[Any, ...]:
    with ledger.engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            f"SELECT originator_id, originator_version, topic, state FROM "
            f"{ledger.events_table.name} WHERE id = :i"), {"i": nid}).one())


def _tree_size(ledger: GovernanceLedger) -> int:
    with ledger.engine.connect() as conn:
        return tree_head(conn).size


def _head(ledger: GovernanceLedger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.text(
            f"SELECT max(id) FROM {ledger.events_table.name}")).scalar_one())


@pytest.fixture
def signed(ledger: GovernanceLedger) -> GovernanceLedger:
    sunny_garden(ledger)
    sealer.seal(ledger, key=KEY)
    return ledger


def test_every_committed_event_has_its_leaf_at_once(ledger: GovernanceLedger) -> None:
    sunny_garden(ledger)
    assert _tree_size(ledger) == _head(ledger) > 0
    _appoint(ledger, "P-0900")
    assert _tree_size(ledger) == _head(ledger)
    with ledger.engine.connect() as conn:
        tree = IncrementalTree(SqlNodeStore(conn), tree_head(conn).size)
        leaves = [SqlNodeStore(conn).get_nodes([(0, i)])[(0, i)] for i in range(tree.size)]
    assert tree.root() == merkle.root(leaves)
    # an apply batch too, with a refused line in the middle
    lines = [json.dumps({"type": "post.appoint", **ADMIN, "occurred_at": "2025-02-01",
                         "target_post": "volunteer@ZQ-001", "person": p, "person_name": "丁"})
             for p in ("P-0901", "NOT A PERSON", "P-0902")]
    outcomes = list(ledger.apply(lines, keep_going=True))
    assert [o.ok for o in outcomes] == [True, False, True]
    assert _tree_size(ledger) == _head(ledger)
    sealer.seal(ledger, key=KEY)
    assert verify(ledger, verifier_key=_vk(ledger)).ok


def test_forged_event_and_command_row_are_flagged_and_refused(signed: GovernanceLedger) -> None:
    """The audit's first attack: INSERT an event and a command-log row, no key needed."""
    ledger = signed
    oid, version, topic, state = _event_row(ledger, _head(ledger))
    forged = _head(ledger) + 1
    _raw(ledger, f"INSERT INTO {ledger.events_table.name} (id, originator_id, originator_version,"
         " topic, state) VALUES (:i, :o, :v, :t, :s)",
         i=forged, o=oid, v=version + 1, t=topic, s=state)
    _raw(ledger, "INSERT INTO ledger_command_log (command_id, type, actor, recorded_at, "
         "first_notification_id, last_notification_id, result) VALUES ('forged', 'post.appoint',"
         " 'P-0001', '2025-02-01T00:00:00+08:00', :i, :i, '{}')", i=forged)
    before = store_snapshot(ledger)
    found = verify(ledger, verifier_key=_vk(ledger))
    assert "uncovered_event" in {f.kind for f in found.findings} or not found.ok
    with pytest.raises(SignerRefusedError, match=f"log position {forged}"):
        sealer.seal(ledger, key=KEY)
    with pytest.raises(LogIntegrityError, match="no Merkle leaf"):
        _appoint(ledger, "P-0903")
    assert store_snapshot(ledger) == before
    assert sealer.latest_checkpoint(ledger).size == _tree_size(ledger)  # type: ignore[union-attr]


def test_rewritten_event_with_rebuilt_tree_is_refused_by_the_signer(
        signed: GovernanceLedger) -> None:
    """Rewrite one event, delete the tree tables, rebuild them from the forged log: the
    signer's own record says the tree it signed was another one."""
    ledger = signed
    state = _event_row(ledger, 3)[3]
    forged_state = state.replace("阳光花园".encode(), "月亮花园".encode())
    assert forged_state != state
    _raw(ledger, f"UPDATE {ledger.events_table.name} SET state = :s WHERE id = 3",
         s=forged_state)
    for table in ("ledger_merkle_nodes", "ledger_merkle_leaves", "ledger_checkpoints"):
        _raw(ledger, f"DELETE FROM {table}")
    # the attacker rebuilds the tree with the ledger's own code
    rebuilt = GovernanceLedger(settings=ledger.settings)
    with rebuilt.engine.begin() as conn:
        rows = list(sealer.event_rows(conn, rebuilt.events_table))
        tree = IncrementalTree(SqlNodeStore(conn), 0)
        tree.append([sealer.leaf_v2(i, r, sealer.command_row_of(conn, r.notification_id))
                     for i, r in enumerate(rows)])
        conn.execute(sa.text("INSERT INTO ledger_merkle_leaves (position, notification_id) "
                             "VALUES (:p, :n)"),
                     [{"p": i, "n": r.notification_id} for i, r in enumerate(rows)])
    rebuilt.close()
    with pytest.raises(SignerRefusedError, match="first differing position 2"):
        sealer.seal(ledger, key=KEY)
    assert sealer.latest_checkpoint(ledger) is None  # nothing signed


def test_a_zeroed_frontier_node_is_never_signed(signed: GovernanceLedger) -> None:
    ledger = signed
    _appoint(ledger, "P-0904")
    size = _tree_size(ledger)
    level = size.bit_length() - 1  # the largest subtree of the frontier
    _raw(ledger, "UPDATE ledger_merkle_nodes SET hash = :z WHERE level = :l AND idx = 0",
         z=bytes(32), l=level)
    with pytest.raises((SignerRefusedError, LogForkError)):
        sealer.seal(ledger, key=KEY)
    latest = sealer.latest_checkpoint(ledger)
    assert latest is not None and latest.size < size


def test_a_rewound_log_is_refused(signed: GovernanceLedger) -> None:
    ledger = signed
    size = _tree_size(ledger)
    _raw(ledger, "DELETE FROM ledger_merkle_leaves WHERE position = :p", p=size - 1)
    _raw(ledger, "DELETE FROM ledger_merkle_nodes WHERE level = 0 AND idx = :p", p=size - 1)
    _raw(ledger, f"DELETE FROM {ledger.events_table.name} WHERE id = :p", p=_head(ledger))
    with pytest.raises(LogForkError, match=f"fewer than the {size}"):
        sealer.seal(ledger, key=KEY)
    fresh = GovernanceLedger(settings=ledger.settings)
    try:
        with pytest.raises(LogForkError):
            _appoint(fresh, "P-0905")
    finally:
        fresh.close()


def test_an_edited_stored_result_is_not_handed_out(signed: GovernanceLedger) -> None:
    ledger = signed
    first = _appoint(ledger, "P-0906", command_id="cmd-1")
    again = _appoint(ledger, "P-0906", command_id="cmd-1")
    assert again.outcome == "duplicate" and again.positions == first.positions
    with ledger.engine.connect() as conn:
        text = conn.execute(sa.text("SELECT result FROM ledger_command_log WHERE command_id = "
                                    "'cmd-1'")).scalar_one()
    _raw(ledger, "UPDATE ledger_command_log SET result = :r WHERE command_id = 'cmd-1'",
         r=text.replace('"accepted"', '"accepted" ', 1))
    before = store_snapshot(ledger)
    with pytest.raises(LogIntegrityError, match="cmd-1"):
        _appoint(ledger, "P-0906", command_id="cmd-1")
    line = json.dumps({"type": "post.appoint", **ADMIN, "occurred_at": "2025-02-01",
                       "target_post": "volunteer@ZQ-001", "person": "P-0906",
                       "person_name": "丁", "command_id": "cmd-1"})
    [outcome] = list(ledger.apply([line]))
    assert outcome.error is not None and outcome.error.code == "log_integrity"
    assert store_snapshot(ledger) == before


def test_a_pre_inserted_command_id_does_not_swallow_the_real_command(
        signed: GovernanceLedger) -> None:
    ledger = signed
    head = _head(ledger)
    _raw(ledger, "INSERT INTO ledger_command_log (command_id, type, actor, recorded_at, "
         "first_notification_id, last_notification_id, result) VALUES ('cmd-2', 'post.appoint',"
         " 'P-0001', '2025-02-01T00:00:00+08:00', :i, :i, :r)", i=head,
         r=json.dumps({"digest": "x", "result": {}}))
    with pytest.raises(LogIntegrityError, match="cmd-2"):
        _appoint(ledger, "P-0907", command_id="cmd-2")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_restored_older_copy_refuses_writes(ledger: GovernanceLedger, tmp_path: Path) -> None:
    sunny_garden(ledger)
    sealer.seal(ledger, key=KEY)
    path = Path(ledger.engine.url.database or "")
    ledger.close()
    older = tmp_path / "older.db"
    shutil.copy(path, older)
    led = GovernanceLedger(settings=Settings(db_url=f"sqlite:///{path}"))
    _appoint(led, "P-0908")
    sealer.seal(led, key=KEY)
    led.close()
    shutil.copy(older, path)  # the older copy put back in place
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    restored = GovernanceLedger(settings=Settings(db_url=f"sqlite:///{path}"))
    try:
        before = store_snapshot(restored)
        with pytest.raises(LogForkError, match="older copy"):
            _appoint(restored, "P-0909")
        with pytest.raises(LogForkError):
            sealer.seal(restored, key=KEY)
        assert store_snapshot(restored) == before
        assert signer.load_state(restored.settings) is not None
    finally:
        restored.close()
