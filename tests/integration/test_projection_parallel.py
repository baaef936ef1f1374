"""A rebuild in worker processes, one per group of read models, each building a shadow space
with tracking rows of its own: its tables equal those of catching up event by event, and when
the rebuild and its workers are killed midway (SIGKILL, a real process), the next rebuild
resumes each shadow after its last committed batch instead of starting again."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import ledger.projections as projections
from ledger.application import GovernanceLedger
from ledger.kernel.errors import LedgerError
from ledger.projections import catch_up_many, rebuild_many
from ledger.projections.runner import rebuild_swapped
from tests.integration.test_projection_rebuild import contents, load_sample_year, start_over

ROOT = Path(__file__).resolve().parents[2]


def _shadow_positions(db: Path) -> dict[str, int]:
    """The tracking position of every shadow file beside *db* (those with one)."""
    out: dict[str, int] = {}
    for f in db.parent.glob(f"{db.name}.rebuild-*"):
        if f.name.endswith(("-journal", "-wal", "-shm")):
            continue
        try:
            conn = sqlite3.connect(f"file:{f}?mode=rw", uri=True, timeout=0.05)
            try:
                row = conn.execute("SELECT min(position) FROM ledger_projection_tracking").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            continue
        if row and row[0] is not None:
            out[f.name] = int(row[0])
    return out


def test_parallel_rebuild_killed_midway_resumes_where_each_worker_stopped(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    led = GovernanceLedger(sqlite_url)
    try:
        head = load_sample_year(led)
        everything = list(led.projections.values())
        start_over(led)
        monkeypatch.setattr(projections, "MEMO_LIMIT", 0)
        assert catch_up_many(led, everything, batch=1) == head
        monkeypatch.undo()
        one_by_one = contents(led)

        # A rebuild in two workers, small batches, in a process of its own: killed with its
        # workers (the whole process group) once both shadows have committed some batches.
        script = ("import sys; from ledger.application import GovernanceLedger; "
                  "from ledger.projections import rebuild_many; "
                  "led = GovernanceLedger(sys.argv[1]); "
                  "rebuild_many(led, list(led.projections.values()), batch=1)")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_REBUILD_WORKERS": "2",
               "LEDGER_REBUILD_PARALLEL_MIN": "0"}
        proc = subprocess.Popen([sys.executable, "-c", script, sqlite_url], env=env,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        seen: dict[str, int] = {}
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                seen = _shadow_positions(db)
                if len(seen) == 2 and all(0 < p < head for p in seen.values()):
                    break
                time.sleep(0.002)
            assert proc.poll() is None, "the rebuild ended before it could be killed"
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        time.sleep(0.2)  # let the killed workers go
        stopped = _shadow_positions(db)
        assert len(stopped) == 2 and all(0 < p < head for p in stopped.values()), stopped

        # The next rebuild starts from where each shadow stopped: it moves the positions by
        # head - (lowest shadow position), not by head.
        monkeypatch.setenv("LEDGER_REBUILD_WORKERS", "2")
        monkeypatch.setenv("LEDGER_REBUILD_PARALLEL_MIN", "0")
        counts = rebuild_many(led, everything, batch=2)
        assert set(counts.values()) == {head - min(stopped.values())}
        assert contents(led) == one_by_one
        assert _shadow_positions(db) == {}  # swapped in and removed

        # And from zero in workers, the same tables.
        counts = rebuild_many(led, everything, batch=500)
        assert set(counts.values()) == {head}
        assert contents(led) == one_by_one
    finally:
        led.close()


def test_a_shadow_is_resumed_only_on_the_log_it_was_built_from(sqlite_url: str) -> None:
    """A shadow records which event its position is at; one whose event is not the log's
    (a restored older copy, another log) is built again from zero, not resumed."""
    from ledger.projections.runner import _Shadow

    db = Path(sqlite_url.removeprefix("sqlite:///"))
    led = GovernanceLedger(sqlite_url)
    try:
        head = load_sample_year(led)
        status = led.projections["status"]
        shadow = _Shadow(led, [status])
        assert shadow.open(led) == 0
        stop = head // 2
        pos, _moved = shadow.build(led, 0, 50, stop=stop)
        assert 0 < pos <= stop
        shadow.release()  # as if killed before the swap

        again = _Shadow(led, [status])
        assert again.open(led) == pos  # resumed
        again.release()

        conn = sqlite3.connect(again.where)
        conn.execute("UPDATE ledger_rebuild_mark SET mark = '00/1'")
        conn.commit()
        conn.close()
        other = _Shadow(led, [status])
        assert other.open(led) == 0  # not this log's event at that position: from zero
        assert _shadow_positions(db) == {Path(other.where).name: 0}
        other.drop(led)
        other.release()
    finally:
        led.close()


def _read_model_indexes(led: GovernanceLedger) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table's indexes as the database describes them (name, columns,
    uniqueness), sorted."""
    insp = sa.inspect(led.engine)
    return {t.name: sorted((ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                           for ix in insp.get_indexes(t.name))
            for p in led.projections.values() for t in p.tables}


def test_a_parallel_rebuild_swaps_in_the_same_tables_and_indexes_a_new_ledger_has(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The workers make the indexes in their shadows and the swap brings them over (copied
    # with the rows on SQLite, moved with the table on PostgreSQL): the live schema after a
    # rebuild is the one a new ledger is created with, and the rows are those of catching up.
    led = GovernanceLedger(db_url)
    try:
        fresh = _read_model_indexes(led)
        assert any(fresh.values())
        head = load_sample_year(led)
        everything = list(led.projections.values())
        catch_up_many(led, everything)
        caught_up = contents(led)
        monkeypatch.setenv("LEDGER_REBUILD_WORKERS", "2")
        monkeypatch.setenv("LEDGER_REBUILD_PARALLEL_MIN", "0")
        for _ in range(2):  # twice: the second swap replaces tables the first one made
            counts = rebuild_many(led, everything, batch=300)
            assert set(counts.values()) == {head}
            assert _read_model_indexes(led) == fresh
            assert contents(led) == caught_up
    finally:
        led.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_rebuild_tells_how_far_it_is_from_the_first_event_to_the_swap(
        db_url: str, workers: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the progress bar of 'ledger projections rebuild' shows: the events of the log the
    # shadows have applied (never backwards, never past the log's head, counted once however
    # many workers read the log), then the tables swapped in; and the rows are unchanged by it.
    led = GovernanceLedger(db_url)
    try:
        head = load_sample_year(led)
        everything = list(led.projections.values())
        catch_up_many(led, everything)
        caught_up = contents(led)
        monkeypatch.setenv("LEDGER_REBUILD_WORKERS", workers)
        monkeypatch.setenv("LEDGER_REBUILD_PARALLEL_MIN", "0")
        told: list[tuple[str, int, int]] = []
        counts = rebuild_many(led, everything, batch=100,
                              progress=lambda *a: told.append(a))
        assert set(counts.values()) == {head}
        builds = [(done, total) for phase, done, total in told if phase == "build"]
        assert builds[0] == (0, head)
        assert builds[-1] == (head, head)
        assert {total for _done, total in builds} == {head}
        dones = [done for done, _total in builds]
        assert dones == sorted(set(dones))  # strictly forward
        if workers == "1":  # one batch of 100 events at a time: the way there is seen
            assert any(0 < d < head for d in dones)
        # And the swaps, table by table, the last one told once the last swap has committed.
        # In one process there is one swap, after the build; with workers, each group is
        # swapped in as soon as its worker is done, so the others' build may be told between.
        swaps = [t for t in told if t[0] == "swap"]
        tables = sum(len(p.tables) for p in everything)
        assert swaps == [("swap", n, tables) for n in range(tables + 1)]
        assert told[-1] == ("swap", tables, tables)
        if workers == "1":
            assert told[len(builds):] == swaps
        assert contents(led) == caught_up
    finally:
        led.close()


def _tracked(led: GovernanceLedger) -> dict[str, int]:
    return {row["name"]: row["position"] for row in led.projection_status()}


def _caught_up(led: GovernanceLedger) -> tuple[int, list[Any], dict[str, Any]]:
    """The sample year loaded and every read model caught up: (head, the read models, their
    rows)."""
    head = load_sample_year(led)
    everything = list(led.projections.values())
    catch_up_many(led, everything)
    return head, everything, contents(led)


def _track_all_at(led: GovernanceLedger, position: int) -> None:
    """Every read model tracked at *position* (behind the head: the rebuild has to move it)."""
    with led.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_projection_tracking SET position = :p"),
                     {"p": position})


def _shadow_files(db: Path) -> list[str]:
    return sorted(f.name for f in db.parent.glob(f"{db.name}.rebuild-*")
                  if not f.name.endswith(("-journal", "-wal", "-shm")))


def test_each_group_is_swapped_in_by_itself_as_soon_as_its_worker_is_done(
        sqlite_url: str) -> None:
    # Two workers, two groups: before the second swap the first group is already live
    # (tracked at the head, its shadow gone) while the second group's shadow still waits,
    # and its projections are still where the catch-up left them.
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    led = GovernanceLedger(sqlite_url)
    try:
        head, everything, caught_up = _caught_up(led)
        _track_all_at(led, head - 1)
        seen: list[tuple[dict[str, int], list[str]]] = []

        def before_swap() -> None:
            seen.append((_tracked(led), _shadow_files(db)))

        moved = rebuild_swapped(led, everything, batch=200, workers=2, on_built=before_swap)
        assert moved == head
        assert len(seen) == 2
        (first, shadows1), (second, shadows2) = seen
        assert set(first.values()) == {head - 1} and len(shadows1) == 2
        assert len(shadows2) == 1
        swapped_first = {name for name, pos in second.items() if pos == head}
        assert swapped_first and swapped_first != set(first)
        assert {pos for name, pos in second.items() if name not in swapped_first} == {head - 1}
        assert set(_tracked(led).values()) == {head}
        assert contents(led) == caught_up
    finally:
        led.close()


def test_when_one_worker_fails_the_other_group_is_swapped_in_and_named(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker that dies (here: the one building the audit read model exits with 3 at start,
    # in a real process) fails the rebuild with a message naming it and the read models that
    # were rebuilt anyway; those are live at the head, the failed group is untouched, and the
    # next rebuild finishes it.
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    crash = tmp_path / "crash"
    crash.mkdir()
    (crash / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if os.environ.get('CRASH_AUDIT_WORKER') and any('\"audit\"' in a for a in sys.argv):\n"
        "    os._exit(3)\n")
    led = GovernanceLedger(sqlite_url)
    try:
        head, everything, caught_up = _caught_up(led)
        _track_all_at(led, 1)
        monkeypatch.setenv("LEDGER_REBUILD_WORKERS", "2")
        monkeypatch.setenv("LEDGER_REBUILD_PARALLEL_MIN", "0")
        monkeypatch.setenv("PYTHONPATH", str(crash))
        monkeypatch.setenv("CRASH_AUDIT_WORKER", "1")
        with pytest.raises(LedgerError) as raised:
            rebuild_many(led, everything, batch=300)
        message = str(raised.value)
        assert re.search(r"the worker of [a-z, ]*\baudit\b[a-z, ]* exited with 3", message)
        tracked = _tracked(led)
        rebuilt = {name for name, pos in tracked.items() if pos == head}
        assert rebuilt and "audit" not in rebuilt
        assert f"rebuilt and swapped in: {', '.join(sorted(rebuilt))}" in message
        assert {pos for name, pos in tracked.items() if name not in rebuilt} == {1}
        assert len(_shadow_files(db)) == 1

        monkeypatch.delenv("CRASH_AUDIT_WORKER")
        rebuild_many(led, everything, batch=300)
        assert set(_tracked(led).values()) == {head}
        assert contents(led) == caught_up
    finally:
        led.close()


def test_on_sqlite_each_read_model_is_swapped_in_by_a_transaction_of_its_own(
        sqlite_url: str) -> None:
    # A writer waits for one read model's tables to be copied at a time: while the swap goes
    # table by table, another connection sees the read models already swapped in tracked at
    # the head (their tables and tracking row committed together) and the others not yet.
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    led = GovernanceLedger(sqlite_url)
    try:
        head, everything, caught_up = _caught_up(led)
        _track_all_at(led, 1)
        seen: list[frozenset[str]] = []

        def told(phase: str, _done: int, _total: int) -> None:
            if phase == "swap":
                other = sqlite3.connect(db, timeout=5)
                try:
                    seen.append(frozenset(name for name, pos in other.execute(
                        "SELECT name, position FROM ledger_projection_tracking") if pos == head))
                finally:
                    other.close()

        rebuild_swapped(led, everything, batch=300, workers=1, progress=told)
        partial = [s for s in seen if s and len(s) < len(everything)]
        assert len(set(partial)) >= len(everything) - 2, seen  # one more at a time
        assert all(a <= b for a, b in itertools.pairwise(seen))  # never undone
        assert seen[-1] == frozenset(p.name for p in everything)
        assert contents(led) == caught_up
    finally:
        led.close()


def test_on_sqlite_the_swapped_pages_are_written_back_to_the_database_file(
        sqlite_url: str, tmp_path: Path) -> None:
    # The swap's own connection does not write the WAL back after each commit (a thread does,
    # while the next read model is copied): once the rebuild returns, the database file alone,
    # without its WAL, holds the rebuilt read models, and the connection writes back again on
    # its own afterwards.
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    led = GovernanceLedger(sqlite_url)
    try:
        _head, everything, caught_up = _caught_up(led)
        start_over(led)
        rebuild_swapped(led, everything, batch=300, workers=1)
        assert contents(led) == caught_up
        alone = tmp_path / "alone.db"
        alone.write_bytes(db.read_bytes())  # the file without its -wal
        copy = GovernanceLedger(f"sqlite:///{alone}")
        try:
            assert contents(copy) == caught_up
        finally:
            copy.close()
        with led.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        led.close()


WRITER = """
import json, select, sys
from ledger.application import GovernanceLedger
led = GovernanceLedger(sys.argv[1])
print("ready", flush=True)
accepted = []
n = 0
while not select.select([sys.stdin], [], [], 0)[0]:  # until told to stop
    n += 1
    result = led.execute({"type": "post.appoint", "actor": "P-0001",
                          "post": "town.ledger_admin@ZQ",
                          "target_post": f"building_leader@ZQ-001/W{n}",
                          "person": f"P-{5000 + n}", "person_name": f"楼组长{n}",
                          "occurred_at": "2025-03-01", "command_id": f"meanwhile-{n}"})
    accepted.append(result.positions[-1])
led.close()
print(json.dumps(accepted), flush=True)
"""


def test_commands_written_during_a_rebuild_in_workers_are_neither_lost_nor_doubled(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process writes commands all through a rebuild in two workers (read models
    # swapped in one at a time, group by group, written back by a thread): every one of them
    # is accepted and in the log once, and the read models, once caught up, are those a
    # catch-up from nothing makes of the same log.
    from tests.feedkit import subprocess_env

    led = GovernanceLedger(sqlite_url)
    try:
        _caught_up(led)
        monkeypatch.setenv("LEDGER_REBUILD_WORKERS", "2")
        monkeypatch.setenv("LEDGER_REBUILD_PARALLEL_MIN", "0")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, sqlite_url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=subprocess_env())
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
            rebuild_many(led, list(led.projections.values()), batch=20)
            out, _ = writer.communicate("stop\n", timeout=120)
        finally:
            if writer.poll() is None:
                writer.kill()
        assert writer.returncode == 0
        accepted = json.loads(out.strip().splitlines()[-1])
        assert len(accepted) >= 1
        with led.engine.connect() as conn:
            logged = conn.execute(sa.text(
                "SELECT command_id, last_notification_id FROM ledger_command_log "
                "WHERE command_id LIKE 'meanwhile-%'")).all()
        assert sorted(r[1] for r in logged) == sorted(accepted)  # each once, where it said
        led.catch_up()
        rebuilt_then_caught_up = contents(led)
        start_over(led)
        catch_up_many(led, list(led.projections.values()))
        assert contents(led) == rebuilt_then_caught_up
        leaders = {r["post"] for r in led.status("ZQ-001")["communities"][0]["posts"]
                   if r["post"].startswith("building_leader@ZQ-001/W")}
        assert len(leaders) == len(accepted)
    finally:
        led.close()
