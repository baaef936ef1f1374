"""Crashes: kill -9 during apply, during a projection run and during sealing, many times.

After every restart: no partial command, no command applied twice, read models equal a fresh
rebuild, and (after kills during sealing) ``verify`` is clean.
``LEDGER_CRASH_KILLS`` sets how many kills each test makes (default 6).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from ledger.application import GovernanceLedger
from ledger.integrity.sealer import ensure_key_file, seal
from ledger.integrity.verifier import verify
from ledger.kernel.store import command_log, projection_tracking, write_intent
from ledger.projections import position
from ledger.projections.status import post_terms
from tests.conftest import ADMIN, bootstrap

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("LEDGER_CRASH_KILLS", "6"))
LINES = 1500
PROJECTION_LINES = 600


def _ledger_with_communities(url: str) -> None:
    led = GovernanceLedger(url)
    bootstrap(led)
    for c in range(1, 6):
        led.execute({"type": "community.register", **ADMIN, "code": f"ZQ-00{c}",
                     "name": f"小区{c}", "occurred_at": "2025-01-02"})
    led.close()


def _commands(path: Path, count: int = LINES) -> None:
    lines = []
    for i in range(count):
        lines.append(json.dumps({
            "type": "post.appoint", **ADMIN, "target_post": f"volunteer@ZQ-00{i % 5 + 1}",
            "person": f"V-{i:05d}", "person_name": f"志愿者{i}", "occurred_at": "2025-03-01",
            "command_id": f"crash-{i}"}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run_and_kill(args: list[str], delay: float) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ledger", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _run_and_kill_when(args: list[str], db_file: str, target: int) -> int:
    """Kill the process as soon as the status projection has committed past *target*."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_PROJECTION_BATCH": "50"}
    proc = subprocess.Popen([sys.executable, "-m", "ledger", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_reset = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        with sqlite3.connect(db_file, timeout=5) as conn:
            row = conn.execute("SELECT position FROM ledger_projection_tracking "
                               "WHERE name = 'status'").fetchone()
        pos = row[0] if row else 0
        seen_reset = seen_reset or pos < target
        if seen_reset and pos >= target:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return proc.wait()


def _logged(db_file: str) -> int:
    with sqlite3.connect(db_file, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM ledger_command_log").fetchone()[0])


def _run_and_kill_after(args: list[str], db_file: str, target: int) -> int:
    """Kill the process as soon as the command log holds *target* commands (a point in its
    work, whatever the machine's speed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ledger", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _logged(db_file) >= target:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    return proc.wait()


def _status_rows(led: GovernanceLedger) -> list[tuple[object, ...]]:
    with led.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(post_terms)))


def test_apply_killed_at_random_points_leaves_no_partial_or_doubled_command(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    _ledger_with_communities(url)
    cmds = tmp_path / "cmds.jsonl"
    _commands(cmds)
    db_file = url.removeprefix("sqlite:///")
    rng = random.Random(7)
    killed = 0
    for _ in range(KILLS):  # each run killed at a random point of what is left to do
        done = _logged(db_file)
        target = done + rng.randint(1, max(1, (LINES + 6 - done) // 2))
        if _run_and_kill_after(["--db", url, "apply", str(cmds)], db_file, target) == -9:
            killed += 1
    # The last run completes; every line is then accepted or a duplicate of a committed one.
    final = subprocess.run([sys.executable, "-m", "ledger", "--db", url, "apply", "--json",
                            str(cmds)], check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert killed >= 1
    led = GovernanceLedger(url)
    with led.engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(command_log)
                              .where(command_log.c.type == "post.appoint")).scalar_one()
        appointed = conn.execute(sa.select(sa.func.count()).select_from(led.events_table)
                                 ).scalar_one() - 2 - 5
    assert logged == LINES          # every command recorded once
    assert appointed == LINES       # and wrote its one event once: nothing partial or doubled
    led.catch_up()
    incremental = _status_rows(led)
    led.rebuild()
    assert _status_rows(led) == incremental
    assert len(incremental) == 1 + LINES
    # Sealing, killed at random points many times, then completed: the log verifies clean.
    ensure_key_file(led.settings)
    for _ in range(KILLS):
        _run_and_kill(["--db", url, "checkpoint"], rng.uniform(0.8, 2.0))
    seal(led)
    result = verify(led)
    assert result.findings == [] and result.unsealed == 0
    led.close()


def _reset_in_place(url: str, name: str) -> None:
    """Empty a projection and its tracking row, so that ``ledger project`` replays it from 0
    into the live tables (``projections rebuild`` builds new tables and swaps them in)."""
    led = GovernanceLedger(url)
    with write_intent(), led.engine.begin() as conn:
        led.projections[name].reset(conn)
        conn.execute(sa.delete(projection_tracking).where(projection_tracking.c.name == name))
    led.close()


def test_projection_killed_mid_batch_resumes_exactly_where_it_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proj.db'}"
    _ledger_with_communities(url)
    cmds = tmp_path / "cmds.jsonl"
    _commands(cmds, PROJECTION_LINES)
    led = GovernanceLedger(url)
    assert all(o.ok for o in led.apply(cmds.read_text(encoding="utf-8").splitlines()))
    led.status()
    expected = _status_rows(led)
    led.close()
    rng = random.Random(11)
    stopped_at = []
    head = 2 + 5 + PROJECTION_LINES
    db_file = url.removeprefix("sqlite:///")
    for _ in range(KILLS):
        target = rng.randrange(100, head - 100)
        _reset_in_place(url, "status")
        _run_and_kill_when(["--db", url, "project", "status"], db_file, target)
        led = GovernanceLedger(url)
        with led.engine.connect() as conn:
            tracked = position(conn, "status")
            rows = conn.execute(sa.select(sa.func.count()).select_from(post_terms)).scalar_one()
        stopped_at.append(tracked[0] if tracked else None)
        if tracked:
            # Rows and tracked position committed together: exactly the appointments up to it.
            assert rows == max(0, tracked[0] - 7) + (1 if tracked[0] >= 2 else 0)
        led.catch_up()           # resumes from the tracked position
        assert _status_rows(led) == expected
        led.close()
    assert any(p is not None and 0 < p < head for p in stopped_at), stopped_at
