"""Every event of the sample year hashes to the same Merkle leaf by the fast path verify uses
(``sealer.stored_leaf``, from the driver's columns) and by the reference RFC 8785 encoder,
on SQLite and PostgreSQL; and the sealed ledger verifies clean."""

from __future__ import annotations

from ledger.application import GovernanceLedger
from ledger.integrity import sealer
from ledger.integrity.canonical import event_record_bytes
from ledger.integrity.checkpoint import generate_key_file
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.sqlstore import SqlNodeStore
from ledger.integrity.verifier import verify
from tests.conftest import load_sample_year


def test_the_fast_leaf_of_every_sample_year_event_is_the_reference_leaf(
        ledger: GovernanceLedger, tmp_path: object) -> None:
    load_sample_year(ledger)
    with ledger.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT id, originator_id, originator_version, topic, state FROM "
            f"{ledger.events_table.name} ORDER BY id").all()
        reference_rows = list(sealer.event_rows(conn, ledger.events_table))
    assert len(rows) == len(reference_rows) > 1000
    for position, (raw, ref) in enumerate(zip(rows, reference_rows, strict=True)):
        expected = leaf_hash(event_record_bytes(**sealer.record_fields(position, ref, None)))
        assert sealer.stored_leaf(position, *raw) == expected, raw[0]
        assert sealer.leaf_of(position, ref, ledger.mapper) == expected


def test_the_sealed_sample_year_verifies_clean_and_its_leaves_are_the_stored_ones(
        ledger: GovernanceLedger, tmp_path: object) -> None:
    from pathlib import Path

    load_sample_year(ledger)
    key = generate_key_file(Path(str(tmp_path)) / "year.key")
    head = sealer.seal(ledger, key=key).checkpoint
    result = verify(ledger, verifier_key=sealer.cp.format_verifier_key(
        sealer.log_origin(ledger), key.public_key()))
    assert (result.findings, result.events, result.tree_size, result.root) == (
        [], head.size, head.size, head.root)
    with ledger.engine.connect() as conn:
        stored = SqlNodeStore(conn).get_nodes([(0, i) for i in range(head.size)])
        for position, ref in enumerate(sealer.event_rows(conn, ledger.events_table)):
            command = sealer.command_row_of(conn, ref.notification_id)
            assert stored[(0, position)] == sealer.leaf_v2(position, ref, command, ledger.mapper)
