"""A fresh process that opens a ledger before importing any domain module still gets every
projection's tables (the projections are discovered before the tables are created)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_new_ledger_creates_the_deliberation_tables_before_any_domain_import(
        tmp_path: Path) -> None:
    code = (
        "import sqlalchemy as sa\n"
        "from ledger.application import GovernanceLedger\n"
        f"led = GovernanceLedger('sqlite:///{tmp_path / 'x.db'}')\n"
        "print(sorted(t for t in sa.inspect(led.engine).get_table_names() "
        "if t.startswith('rm_delib_')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         check=True).stdout
    assert "rm_delib_items" in out and "rm_delib_meetings" in out
