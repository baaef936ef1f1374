"""``ledger project``, ``ledger projections status`` and ``rebuild`` from the command line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.store import projection_tracking
from ledger.projections.status import StatusProjection
from tests.conftest import ADMIN, store_snapshot, sunny_garden
from tests.feedkit import PYTHON, subprocess_env


def run(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db, "--lang", "en", *args])
    return result.exit_code, result.output


def entry(out: str, name: str) -> dict[str, object]:
    return next(p for p in json.loads(out) if p["name"] == name)


def lag(led: GovernanceLedger) -> int:
    return next(int(p["lag"]) for p in led.projection_status() if p["name"] == "status")


def test_project_catches_up_and_status_shows_position_lag_and_runner(sqlite_url: str) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.close()
    code, out = run(sqlite_url, "projections", "status", "--json")
    assert code == 0
    assert entry(out, "status") == {"name": "status", "position": 0, "head": 5, "lag": 5,
                                    "schema_version": None,
                                    "builds": StatusProjection.schema_version, "runner": False}
    assert run(sqlite_url, "project", "status") == (0, "status: 5 events applied\n")
    code, out = run(sqlite_url, "projections", "status")
    assert code == 0
    assert "not running" in out
    code, out = run(sqlite_url, "projections", "rebuild", "status")
    assert code == 0
    first, summary = out.splitlines()
    assert first == "status: rebuilt from 5 events"
    assert re.fullmatch(r"1 read model\(s\) rebuilt in \d+\.\d s \(\d+ events/s\)", summary)
    code, out = run(sqlite_url, "project", "nonesuch")
    assert code == 1
    assert "unknown projection 'nonesuch'" in out


def test_status_names_a_read_model_whose_tables_another_release_built(
        sqlite_url: str) -> None:
    """After an upgrade that changed a read model's tables, ``projections status`` says so:
    its whole log is to be read again, and the note says how to do it in the background."""
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.catch_up("audit")
    builds = led.projections["audit"].schema_version
    with led.engine.begin() as conn:
        conn.execute(update(projection_tracking).where(projection_tracking.c.name == "audit")
                     .values(schema_version=builds - 1))
    led.close()
    code, out = run(sqlite_url, "projections", "status", "--json")
    assert code == 0
    audit = entry(out, "audit")
    assert audit["position"] == audit["head"] == 5
    assert (audit["lag"], audit["schema_version"], audit["builds"]) == (5, builds - 1, builds)
    code, out = run(sqlite_url, "projections", "status")
    assert code == 0
    assert (f"audit: its tables have schema version {builds - 1}, this release builds {builds}"
            in out)
    assert "ledger projections rebuild audit" in out
    # Rebuilt, it is current again and the note is gone.
    assert run(sqlite_url, "projections", "rebuild", "audit")[0] == 0
    code, out = run(sqlite_url, "projections", "status")
    assert "schema version" not in out
    assert entry(run(sqlite_url, "projections", "status", "--json")[1], "audit")["lag"] == 0


def test_a_second_follower_of_the_same_projections_is_refused(sqlite_url: str) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    first = subprocess.Popen([PYTHON, "-m", "ledger", "--db", sqlite_url, "project", "status",
                              "--follow", "--poll-max", "0.1"], env=subprocess_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while lag(led) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lag(led) == 0
        _code, out = run(sqlite_url, "projections", "status", "--json")
        assert entry(out, "status")["runner"] is True
        second = subprocess.run([PYTHON, "-m", "ledger", "--db", sqlite_url, "project",
                                 "status", "--follow"], env=subprocess_env(), capture_output=True,
                                text=True, timeout=60, check=False)
        assert second.returncode == 1
        assert "already has a runner" in second.stderr
    finally:
        first.terminate()
        out, err = first.communicate(timeout=20)
        led.close()
    assert first.returncode == 0
    assert "status: +5" in out
    assert "stopped (status)" in err


def test_a_rebuild_killed_before_its_swap_leaves_the_live_tables_whole(
        sqlite_url: str, tmp_path: Path) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    lines = [json.dumps({"type": "post.appoint", **ADMIN,
                         "target_post": f"building_leader@ZQ-001/B{n}", "person": f"P-{n:04d}",
                         "person_name": f"楼组长{n}", "occurred_at": "2025-02-01"})
             for n in range(1000)]
    assert all(o.ok for o in led.apply(lines))
    led.catch_up("status")
    before = led.status("ZQ-001")["communities"][0]["posts"]
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    proc = subprocess.Popen([PYTHON, "-m", "ledger", "--db", sqlite_url, "projections",
                             "rebuild", "status"], env=subprocess_env(LEDGER_PROJECTION_BATCH="20"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(f"{db_file.name}.rebuild-*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.005)  # inside the shadow build (a few ms of its 20 batches)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed mid-build: its shadow file is left behind
    assert list(tmp_path.glob(f"{db_file.name}.rebuild-*"))
    assert lag(led) == 0
    assert led.status("ZQ-001")["communities"][0]["posts"] == before
    assert run(sqlite_url, "projections", "rebuild", "status")[0] == 0
    assert led.status("ZQ-001")["communities"][0]["posts"] == before
    led.close()


def test_rebuild_on_a_terminal_shows_a_progress_bar_and_then_how_long_it_took(
        sqlite_url: str) -> None:
    # A real process whose stderr is a terminal (a pseudo-terminal): the bar is drawn there,
    # labelled in the interface's language, and cleared; stdout says what was rebuilt and how
    # fast. Piped (every other test), nothing is drawn.
    import os
    import pty

    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    tables = sum(len(p.tables) for p in led.projections.values())
    led.close()
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([PYTHON, "-m", "ledger", "--db", sqlite_url, "--lang", "zh",
                             "projections", "rebuild"], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(controller)
    assert proc.returncode == 0
    screen = drawn.decode()
    # The first frame (drawn as the bar starts) is the build's, the last the swap's: every
    # table swapped in. The swap has a bar of its own under the build's, which stays drawn
    # (a rebuild in workers may go on building while a group is swapped in).
    assert 0 <= screen.index("正在重建读模型") < screen.rindex("正在换入新表")
    assert f"{tables}/{tables}" in screen[screen.rindex("正在换入新表"):]
    assert screen.index("正在换入新表") < screen.rindex("正在重建读模型")
    assert screen.rstrip().endswith("\x1b[2K")  # cleared at the end
    lines = out.decode().splitlines()
    assert "status:已从 5 条事件重建" in lines
    assert re.fullmatch(r"已重建 9 个读模型,用时 \d+\.\d 秒\(每秒 \d+ 条事件\)", lines[-1])


def test_projections_status_in_a_fresh_process_says_whether_a_runner_follows(
        sqlite_url: str) -> None:
    # The runner column comes with the command itself, not with whichever other command's
    # module happens to be loaded (a new process loads only what the command needs).
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.close()
    done = subprocess.run([PYTHON, "-m", "ledger", "--db", sqlite_url, "--lang", "en",
                           "projections", "status", "--json"], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60, check=True)
    status = entry(done.stdout, "status")
    assert status == {"name": "status", "position": 0, "head": 5, "lag": 5,
                      "schema_version": None, "builds": StatusProjection.schema_version,
                      "runner": False}
    table = subprocess.run([PYTHON, "-m", "ledger", "--db", sqlite_url, "--lang", "en",
                            "projections", "status", "--format", "table"],
                           env=subprocess_env(COLUMNS="120"), capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert "runner" in table and "not running" in table and "log head" in table


def test_rebuild_of_an_unknown_read_model_names_the_known_ones_and_changes_nothing(
        sqlite_url: str) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.catch_up()
    before = store_snapshot(led)
    code, out = run(sqlite_url, "projections", "rebuild", "nonesuch")
    assert code == 1
    assert out.splitlines() == [
        "Error: unknown projection 'nonesuch'; known: " + ", ".join(sorted(led.projections))]
    assert store_snapshot(led) == before
    assert not list(Path(sqlite_url.removeprefix("sqlite:///")).parent.glob("*.rebuild-*"))
    led.close()
