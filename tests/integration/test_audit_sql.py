"""The audit read model is built by SQL inside the database (``AuditProjection.apply_range``):
its rows must be exactly those its per-event ``apply`` writes, on SQLite and PostgreSQL, for
the sample year, for a generated ledger and for the stored ledger of an earlier release; and
a catch-up or rebuild of it still moves its rows and its tracking row in one transaction."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.application import GovernanceLedger
from ledger.audit import actor_actions
from ledger.kernel.eventlog import iter_log
from ledger.kernel.store import write_intent
from ledger.projections import Projection, catch_up, catch_up_many, rebuild_many
from ledger.projections.audit import AuditProjection, actions, signed_by_of
from ledger.projections.status import utc_key
from tests.integration.test_projection_rebuild import load_sample_year, start_over

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


class EventByEvent(AuditProjection):
    """The audit read model as it was: every event decoded and its rows built in Python."""

    in_sql = False


def audit_rows(led: GovernanceLedger) -> dict[str, list[tuple[Any, ...]]]:
    with led.engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.position))]
                for t in (actions,)}


def both_ways(led: GovernanceLedger, projection: Projection, batch: int,
              ) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]]:
    head = led.recorder.max_notification_id() or 0
    start_over(led)
    assert catch_up(led, EventByEvent(), batch=batch) == head
    python = audit_rows(led)
    start_over(led)
    assert catch_up(led, projection, batch=batch) == head
    return python, audit_rows(led)


def test_sql_rows_equal_event_by_event_rows_for_the_sample_year(
        ledger: GovernanceLedger) -> None:
    head = load_sample_year(ledger)
    audit = ledger.projections["audit"]
    assert audit.in_sql
    python, sql = both_ways(ledger, audit, batch=97)
    assert len(python["rm_audit_actions"]) == head
    assert sql == python
    # A batch ending anywhere, a single event per batch, one batch for everything.
    for batch in (1, head):
        assert both_ways(ledger, audit, batch)[1] == python
    # Rebuilt through a shadow space (alone, and beside read models decoded in Python).
    rebuild_many(ledger, [audit], batch=113)
    assert audit_rows(ledger) == python
    ledger.rebuild()
    assert audit_rows(ledger) == python


def test_sql_rows_equal_event_by_event_rows_for_a_generated_ledger(
        ledger: GovernanceLedger, tmp_path: Path) -> None:
    out = tmp_path / "g.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"), "--towns", "2",
                    "--communities-per-town", "2", "--years", "1", "--seed", "3",
                    "--out", str(out)], check=True, capture_output=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    with out.open(encoding="utf-8") as fh:
        assert all(o.ok for o in ledger.apply(fh))
    python, sql = both_ways(ledger, ledger.projections["audit"], batch=1000)
    assert len(python["rm_audit_actions"]) == ledger.recorder.max_notification_id()
    assert sql == python


@pytest.mark.parametrize("release", ["release-2026-11", "release-2026-12"])
def test_sql_rows_equal_event_by_event_rows_for_an_earlier_release(
        release: str, tmp_path: Path) -> None:
    for f in (FIXTURES / release).iterdir():
        if f.name.startswith("ledger.db"):
            shutil.copy(f, tmp_path / f.name)
            (tmp_path / f.name).chmod(0o600)
    if (FIXTURES / release / "signing.key").exists():
        shutil.copy(FIXTURES / release / "signing.key", tmp_path / "ledger.db.signing.key")
        (tmp_path / "ledger.db.signing.key").chmod(0o600)
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        python, sql = both_ways(led, led.projections["audit"], batch=3)
        assert len(python["rm_audit_actions"]) == led.recorder.max_notification_id()
        assert all(r[1] and r[2] for r in python["rm_audit_actions"])  # actor, UTC key
        assert sql == python
    finally:
        led.close()


def test_a_catch_up_of_several_moves_the_sql_one_from_its_own_position(
        ledger: GovernanceLedger) -> None:
    head = load_sample_year(ledger)
    audit = ledger.projections["audit"]
    start_over(ledger)
    assert catch_up(ledger, EventByEvent(), batch=500) == head
    python = audit_rows(ledger)
    start_over(ledger)
    # The audit read model ahead of the others, then all of them together.
    catch_up(ledger, audit, batch=10, stop=head // 3)
    catch_up_many(ledger, list(ledger.projections.values()), batch=250)
    assert audit_rows(ledger) == python


def _tables(led: GovernanceLedger) -> dict[str, set[str]]:
    with led.engine.connect() as conn:
        insp = sa.inspect(conn)
        return {t: {c["name"] for c in insp.get_columns(t)}
                for t in insp.get_table_names() if t.startswith("rm_audit")}


def _open_release(release: str, tmp_path: Path) -> GovernanceLedger:
    for f in (FIXTURES / release).iterdir():
        if f.name.startswith("ledger.db"):
            shutil.copy(f, tmp_path / f.name)
            (tmp_path / f.name).chmod(0o600)
    return GovernanceLedger(f"sqlite:///{tmp_path / 'ledger.db'}")


#: The fields of each row of ``actor_actions``, in order (as every release gave them).
ACTION_FIELDS = ["position", "actor", "post", "command", "command_id", "type", "aggregate_id",
                 "version", "occurred_at", "recorded_at", "signed_by"]


@pytest.mark.parametrize("how", ["catch_up", "rebuild"])
def test_an_earlier_release_audit_index_is_reshaped_and_answers_as_before(
        how: str, tmp_path: Path) -> None:
    """The 2026-12 release copied each event's post, command, type, times… into the audit
    table and its signer into ``rm_audit_signed_by`` (schema version 2). Its ledger gets the
    slim index on its first catch-up as on a rebuild, loses the old table, and ``audit actor``
    answers with every field, each what the log says."""
    led = _open_release("release-2026-12", tmp_path)
    try:
        before = _tables(led)
        assert "rm_audit_signed_by" in before and "command_id" in before["rm_audit_actions"]
        with led.engine.connect() as conn:
            log = list(iter_log(conn, led.events_table, led.mapper))
        if how == "catch_up":
            led.catch_up("audit")
        else:
            rebuild_many(led, [led.projections["audit"]], batch=50)
        after = _tables(led)
        assert "rm_audit_signed_by" not in after
        assert after["rm_audit_actions"] == {"position", "actor", "occurred_utc"}
        with led.engine.connect() as conn:
            rows = conn.execute(sa.select(actions)).all()
            tracked = conn.execute(sa.text(
                "SELECT schema_version FROM ledger_projection_tracking WHERE name = 'audit'"
            )).scalar_one()
        assert tracked == AuditProjection.schema_version == 3
        assert len(rows) == len(log) == led.recorder.max_notification_id()
        for person in {e.envelope.get("actor") for e in log}:
            mine = sorted((e for e in log if e.envelope.get("actor") == person),
                          key=lambda e: (utc_key(e.envelope["occurred_at"]), e.position))
            want = [{"position": e.position, "actor": person, "post": e.envelope.get("post"),
                     "command": e.envelope.get("command"),
                     "command_id": e.envelope.get("command_id"), "type": e.type,
                     "aggregate_id": str(e.aggregate_id), "version": e.version,
                     "occurred_at": e.envelope.get("occurred_at"),
                     "recorded_at": e.recorded_at.isoformat(),
                     "signed_by": signed_by_of(e.envelope)} for e in mine]
            got = actor_actions(led, person)
            assert got == want
            assert all(list(r) == ACTION_FIELDS for r in got)
    finally:
        led.close()


def test_a_schema_version_change_recreates_the_tables_in_their_new_shape(
        ledger: GovernanceLedger) -> None:
    """A tracked schema version other than the read model's: its tables are dropped and made
    afresh from their definitions (columns added or removed since), then rebuilt from zero."""
    head = load_sample_year(ledger)
    ledger.catch_up("audit")
    with write_intent(), ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE rm_audit_actions"))
        conn.execute(sa.text("CREATE TABLE rm_audit_actions (position INTEGER PRIMARY KEY, "
                             "actor TEXT, command_id TEXT, signed_by TEXT)"))
        conn.execute(sa.text("CREATE TABLE rm_audit_signed_by (position INTEGER PRIMARY KEY, "
                             "signed_by TEXT)"))
        conn.execute(sa.text("UPDATE ledger_projection_tracking SET schema_version = 2, "
                             "position = 5 WHERE name = 'audit'"))
    ledger.projections["audit"].discard()
    ledger.catch_up("audit")
    tables = _tables(ledger)
    assert "rm_audit_signed_by" not in tables
    assert tables["rm_audit_actions"] == {"position", "actor", "occurred_utc"}
    assert len(audit_rows(ledger)["rm_audit_actions"]) == head


def _by_command(led: GovernanceLedger) -> dict[str, list[int]]:
    with led.engine.connect() as conn:
        out: dict[str, list[int]] = {}
        for e in iter_log(conn, led.events_table, led.mapper):
            cid = e.envelope.get("command_id")
            if cid:
                out.setdefault(cid, []).append(e.position)
    return out


@pytest.mark.parametrize("where", ["sample year", "release-2026-11", "release-2026-12"])
def test_the_events_of_one_command_are_those_the_log_says(
        where: str, sqlite_url: str, tmp_path: Path) -> None:
    """``audit decision`` lists the other events the same command wrote (and rule outcomes
    find their source among them): read through the command log's first and last position,
    they are every event of the log with that command id, for a ledger written line by line
    in batches and for ledgers of earlier releases."""
    from ledger.audit import _same_command, decision, event_at

    if where == "sample year":
        led = GovernanceLedger(sqlite_url)
        load_sample_year(led)
    else:
        led = _open_release(where, tmp_path)
    try:
        commands = _by_command(led)
        assert any(len(p) > 1 for p in commands.values())
        for positions in commands.values():
            for pos in positions:
                same = _same_command(led, event_at(led, pos))
                assert [e.position for e in same] == [p for p in positions if p != pos]
        several = max(commands.values(), key=len)
        assert [e["position"] for e in decision(led, several[0])["same_command"]] == several[1:]
    finally:
        led.close()


def test_an_audit_index_edited_to_point_at_anothers_event_attributes_nothing(
        ledger: GovernanceLedger) -> None:
    """The attacker who can write the file moves one of their own index rows onto an event of
    another actor (raw SQL), to put it under their name, or to hide theirs: ``audit actor``
    reads who acted from the event itself, so the other's event is not shown as theirs, and
    ``verify --projections`` names the edited row."""
    from ledger.integrity.verifier import verify
    from tests.integration.test_verify_full import _vk

    load_sample_year(ledger)
    ledger.catch_up("audit")
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(actions.c.position, actions.c.actor)).all()
    mine, theirs = rows[10], next(r for r in rows if r.actor not in (rows[10].actor, ""))
    honest = actor_actions(ledger, mine.actor)
    with write_intent(), ledger.engine.begin() as conn:
        conn.execute(sa.delete(actions).where(actions.c.position == theirs.position))
        conn.execute(sa.update(actions).where(actions.c.position == mine.position)
                     .values(position=theirs.position))
    shown = actor_actions(ledger, mine.actor)
    assert all(r["actor"] == mine.actor for r in shown)
    assert theirs.position not in {r["position"] for r in shown}
    assert shown == [r for r in honest if r["position"] != mine.position]
    result = verify(ledger, verifier_key=_vk(ledger), projections=True)
    assert any(f.kind == "projection_row" and "rm_audit_actions" in f.detail
               and f"position={theirs.position}" in f.detail for f in result.findings)
