"""``ledger project``, ``ledger projections status`` and ``rebuild`` from the command line."""

from __future__ import annotations

import json
import subprocess
import time

from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from tests.conftest import sunny_garden
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
                                    "runner": False}
    assert run(sqlite_url, "project", "status") == (0, "status: 5 events applied\n")
    code, out = run(sqlite_url, "projections", "status")
    assert code == 0
    assert "not running" in out
    assert run(sqlite_url, "projections", "rebuild", "status") == (
        0, "status: rebuilt from 5 events\n")
    code, out = run(sqlite_url, "project", "nonesuch")
    assert code == 1
    assert "unknown projection 'nonesuch'" in out


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
