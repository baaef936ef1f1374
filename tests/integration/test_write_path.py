"""The write path on the driver connection: positions, batches, savepoints, the id sequence."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import domains
from ledger.aggregates.case import Case
from ledger.application import GovernanceLedger
from ledger.handlers import HANDLERS
from ledger.kernel import privacy
from ledger.kernel.errors import AggregateNotFoundError, RuleViolationError
from tests.bulk import bulk_communities
from tests.case_world import PEACE_STAFF, world
from tests.conftest import pg_schema_url, store_snapshot

CALLER = {"name": "钱女士", "phone": "13912345678"}


def _receive(ref: str, subject: str) -> str:
    return json.dumps({
        "type": "case.receive", **PEACE_STAFF, "occurred_at": "2025-03-01T09:00:00",
        "ref": ref, "community": "ZQ-001", "channel": "hotline",
        "problem_type": "illegal_construction", "location": "阳光花园12号楼屋顶",
        "description": "屋顶违法搭建", "caller": {**CALLER, "subject": subject},
        "command_id": f"receive-{ref}"}, ensure_ascii=False)


def _receive_handler() -> Any:
    """case.receive's handler (its domain loaded first: this file may run on its own)."""
    domains.load_for_command("case.receive")
    return HANDLERS["case.receive"]


def _subjects(led: GovernanceLedger) -> set[str]:
    with led.engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(privacy.subject_keys.c.subject))}


def _positions(led: GovernanceLedger) -> list[int]:
    with led.engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(
            sa.select(led.events_table.c.id).order_by(led.events_table.c.id))]


def test_a_refused_line_undoes_the_personal_data_key_it_created_and_only_that(
        ledger: GovernanceLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line 2 seals its caller (creating a key) and is then refused: its key goes, the keys
    and events of lines 1 and 3 in the same batch stay."""
    world(ledger)
    original = _receive_handler()

    def refuse_after_sealing(ctx: Any, cmd: Any) -> Any:
        out = original(ctx, cmd)
        if cmd.ref == "ZQ-2025-000002":
            raise RuleViolationError("refused after the caller was sealed")
        return out

    monkeypatch.setitem(HANDLERS, "case.receive", refuse_after_sealing)
    lines = [_receive(f"ZQ-2025-00000{i}", f"CALLER-{i}") for i in (1, 2, 3)]
    outcomes = list(ledger.apply(lines, keep_going=True))
    assert [o.ok for o in outcomes] == [True, False, True]
    assert _subjects(ledger) == {"CALLER-1", "CALLER-3"}
    assert [e.version for e in ledger.history("case:ZQ-2025-000001")] == [1]
    assert [e.version for e in ledger.history("case:ZQ-2025-000003")] == [1]
    with pytest.raises(AggregateNotFoundError):
        ledger.history("case:ZQ-2025-000002")
    # The positions each accepted line reports are the rows written, with no gap.
    reported = [p for o in outcomes if o.result for p in o.result.positions]
    assert reported == _positions(ledger)[-len(reported):]
    assert _positions(ledger) == list(range(1, len(_positions(ledger)) + 1))


def test_a_line_that_writes_first_thing_keeps_the_earlier_lines_of_its_batch(
        ledger: GovernanceLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line 2 creates a personal-data key before loading anything, reads the log, then is
    refused: undoing it must not undo line 1, whose events were still waiting to be written
    with the batch when line 2 began writing."""
    world(ledger)
    original = _receive_handler()

    def seal_then_refuse(ctx: Any, cmd: Any) -> Any:
        if cmd.ref != "ZQ-2025-000002":
            return original(ctx, cmd)
        ctx.seal_personal("CALLER-2", CALLER)
        ctx.find(Case, "ZQ-2025-000777")  # reads the log after the key was written
        raise RuleViolationError("refused after sealing")

    monkeypatch.setitem(HANDLERS, "case.receive", seal_then_refuse)
    lines = [_receive(f"ZQ-2025-00000{i}", f"CALLER-{i}") for i in (1, 2)]
    outcomes = list(ledger.apply(lines, keep_going=True))
    assert [o.ok for o in outcomes] == [True, False]
    assert [e.version for e in ledger.history("case:ZQ-2025-000001")] == [1]
    assert _subjects(ledger) == {"CALLER-1"}


def test_a_line_refused_without_writing_leaves_the_store_unchanged(
        ledger: GovernanceLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    world(ledger)
    before = store_snapshot(ledger)
    original = _receive_handler()

    def refuse(ctx: Any, cmd: Any) -> Any:
        original(ctx, cmd)
        raise RuleViolationError("refused")

    monkeypatch.setitem(HANDLERS, "case.receive", refuse)
    outcomes = list(ledger.apply([_receive("ZQ-2025-000009", "CALLER-9")], keep_going=True))
    assert not outcomes[0].ok
    assert store_snapshot(ledger) == before
    assert "CALLER-9" not in _subjects(ledger)


def test_later_lines_of_a_batch_see_earlier_lines_after_a_refusal_in_between(
        ledger: GovernanceLedger) -> None:
    """A refused line drops the aggregates it loaded from the cache; the next line reloads
    them from the database and must see the batch's earlier, not yet committed lines."""
    world(ledger)
    appoint = {"type": "post.appoint", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
               "occurred_at": "2025-02-01"}
    lines = [
        json.dumps({**appoint, "target_post": "building_leader@ZQ-001/B7", "person": "P-0700",
                    "person_name": "甲"}),
        # refused: the post is held now (its loaded aggregates leave the cache)
        json.dumps({**appoint, "target_post": "building_leader@ZQ-001/B7", "person": "P-0701",
                    "person_name": "乙"}),
        # must see line 1's term, which is not committed yet when this line runs
        json.dumps({**appoint, "target_post": "building_leader@ZQ-001/B7", "person": "P-0702",
                    "person_name": "丙"}),
    ]
    outcomes = list(ledger.apply(lines, keep_going=True))
    assert [o.ok for o in outcomes] == [True, False, False]
    assert outcomes[2].error is not None and outcomes[2].error.code == outcomes[1].error.code


def test_positions_are_contiguous_and_the_stores_own_inserts_continue_after_them(
        ledger: GovernanceLedger) -> None:
    """Positions are given out by the write path; afterwards an insert through the event
    store's own recorder (which takes the next id from the table's sequence on PostgreSQL)
    follows on without a clash."""
    world(ledger)
    head = max(_positions(ledger))
    bulk_communities(ledger, 5)
    after = _positions(ledger)
    assert after == list(range(1, len(after) + 1))
    assert max(after) == head + 5
    result = ledger.execute({"type": "post.appoint", "actor": "P-0001",
                             "post": "town.ledger_admin@ZQ", "occurred_at": "2025-02-01",
                             "target_post": "volunteer@ZQ-002", "person": "P-0999",
                             "person_name": "丁"})
    assert result.positions == [head + 6]


def test_a_second_bootstrap_in_the_same_batch_is_refused(ledger: GovernanceLedger) -> None:
    """The first line is not committed yet when the second asks whether the ledger is empty."""
    lines = [json.dumps({"type": "town.bootstrap", "actor": "system:bootstrap", "code": code,
                         "name": name, "admin": "P-0001", "admin_name": "王明",
                         "occurred_at": "2025-01-01"}, ensure_ascii=False)
             for code, name in (("ZQ", "颛桥镇"), ("MH", "梅陇镇"))]
    outcomes = list(ledger.apply(lines, keep_going=True))
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error is not None and outcomes[1].error.code == "bootstrap_refused"


@pytest.mark.postgres
def test_a_writer_whose_session_was_terminated_reconnects(pg_database: str) -> None:
    """The server ends the write connection's session between two commands (a restart, an
    administrator): the next command is written on a fresh connection, once."""
    import psycopg

    url = pg_schema_url(pg_database, f"t_{uuid.uuid4().hex[:12]}")
    led = GovernanceLedger(url)
    try:
        world(led)
        pid = led._writer._fairy.driver_connection.info.backend_pid
        with psycopg.connect(sa.engine.make_url(pg_database).set(
                drivername="postgresql").render_as_string(hide_password=False)) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        before = store_snapshot(led)[0]
        result = led.execute({"type": "post.appoint", "actor": "P-0001",
                              "post": "town.ledger_admin@ZQ", "occurred_at": "2025-02-01",
                              "target_post": "volunteer@ZQ-002", "person": "P-0998",
                              "person_name": "戊", "command_id": "after-terminate"})
        assert result.outcome == "accepted"
        assert store_snapshot(led)[0] == before + 1
        assert led._writer._fairy.driver_connection.info.backend_pid != pid
        # A connection already known to be closed when the next command starts.
        led._writer._fairy.driver_connection.close()
        again = led.execute({"type": "post.appoint", "actor": "P-0001",
                             "post": "town.ledger_admin@ZQ", "occurred_at": "2025-02-01",
                             "target_post": "volunteer@ZQ-002", "person": "P-0997",
                             "person_name": "己", "command_id": "after-close"})
        assert again.outcome == "accepted"
        assert store_snapshot(led)[0] == before + 2
    finally:
        led.close()
