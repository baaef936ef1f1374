"""``status`` and ``roster`` read straight from a SQLite file's tables (ledger.quickread) give
the answer the ledger gives, and step aside whenever the read model is not current."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger import quickread
from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.config import localize, now
from ledger.projections.status import StatusProjection
from tests.conftest import ADMIN, load_sample_year, sunny_garden


@pytest.fixture(scope="module")
def sample_year(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('quick') / 'ledger.db'}"
    led = GovernanceLedger(url)
    load_sample_year(led)
    led.catch_up()
    led.close()
    return url


def _without_time(answer: dict[str, object] | None) -> dict[str, object]:
    assert answer is not None
    return {k: v for k, v in answer.items() if k != "as_of"}


@pytest.mark.parametrize("community", [None, "ZQ-001", "ZQ-003"])
def test_status_read_from_the_tables_is_the_ledgers_answer(sample_year: str,
                                                          community: str | None) -> None:
    quick = quickread.status(sample_year, community, now())
    led = GovernanceLedger(sample_year)
    try:
        full = led.status(community)
    finally:
        led.close()
    assert _without_time(quick) == _without_time(full)
    assert any(c["posts"] for c in full["communities"])  # type: ignore[index]


@pytest.mark.parametrize("when", ["2025-01-20", "2025-06-30T12:00:00", "2026-01-01"])
def test_roster_read_from_the_tables_is_the_ledgers_answer(sample_year: str, when: str) -> None:
    at = localize(datetime.fromisoformat(when))
    led = GovernanceLedger(sample_year)
    try:
        assert quickread.roster(sample_year, "ZQ-001", at) == led.roster("ZQ-001", at)
    finally:
        led.close()


def _tracking(url: str, sql: str) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    with conn:
        conn.execute(sql)
    conn.close()


def test_a_read_model_behind_the_log_or_of_another_version_is_not_read(sqlite_url: str) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.catch_up()
    assert quickread.status(sqlite_url, None, now()) is not None
    led.execute({"type": "community.register", **ADMIN, "code": "ZQ-002", "name": "春申社区",
                 "occurred_at": "2025-01-05"})
    assert quickread.status(sqlite_url, None, now()) is None  # the write is not projected yet
    led.catch_up("status")
    quick = quickread.status(sqlite_url, None, now())
    assert quick is not None and [c["code"] for c in quick["communities"]] == ["ZQ-001", "ZQ-002"]
    _tracking(sqlite_url, "UPDATE ledger_projection_tracking SET schema_version = 99 "
                          "WHERE name = 'status'")
    assert quickread.status(sqlite_url, None, now()) is None
    led.close()


def test_a_write_not_yet_projected_is_shown_by_the_cli(sqlite_url: str) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.catch_up()
    led.execute({"type": "post.appoint", **ADMIN, "target_post": "building_leader@ZQ-001/B9",
                 "person": "P-0999", "person_name": "新楼组长", "occurred_at": "2025-02-01"})
    led.close()
    run = CliRunner().invoke(cli, ["--db", sqlite_url, "--lang", "en", "status", "ZQ-001",
                                   "--json"])
    assert run.exit_code == 0, run.output
    assert "P-0999" in run.output


def test_what_it_cannot_answer_it_leaves_to_the_ledger(sqlite_url: str, tmp_path: Path) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.catch_up()
    led.close()
    assert quickread.status(sqlite_url, "ZQ-404", now()) is None
    assert quickread.roster(sqlite_url, "ZQ-404", now()) is None
    assert quickread.status(f"sqlite:///{tmp_path / 'absent.db'}", None, now()) is None
    assert quickread.status("postgresql+psycopg://postgres@127.0.0.1/test", None, now()) is None
    assert not (tmp_path / "absent.db").exists()
    run = CliRunner().invoke(cli, ["--db", sqlite_url, "--lang", "en", "status", "ZQ-404"])
    assert run.exit_code != 0 and "ZQ-404" in run.output


def test_the_schema_version_it_trusts_is_the_read_models() -> None:
    assert StatusProjection.schema_version == quickread.STATUS_SCHEMA


def test_a_current_status_loads_neither_sqlalchemy_nor_eventsourcing(sample_year: str) -> None:
    """What makes ``ledger status`` start in a blink: a whole process, asked what it loaded."""
    import subprocess
    import sys

    probe = ("import sys\nfrom click.testing import CliRunner\nfrom ledger.cli import cli\n"
             f"run = CliRunner().invoke(cli, ['--db', {sample_year!r}, 'status', 'ZQ-001'])\n"
             "assert run.exit_code == 0, run.output\n"
             "print(sorted(m for m in ('sqlalchemy', 'eventsourcing', 'pydantic', 'structlog',"
             " 'psycopg') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
