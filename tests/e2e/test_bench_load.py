"""The bench's loader: a generated town copied and re-keyed is still a ledger that verifies,
rebuilds into the same read models per town, and decrypts its personal data."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.kernel.privacy import unseal

ROOT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LEDGER_ALLOW_UNSIGNED": "1"}


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True, env=ENV)


def _sealed(value: object) -> list[dict[str, str]]:
    if isinstance(value, dict):
        if "ciphertext" in value:
            return [value]
        return [s for v in value.values() for s in _sealed(v)]
    if isinstance(value, list):
        return [s for v in value for s in _sealed(v)]
    return []


def test_loaded_copies_verify_rebuild_and_decrypt(tmp_path: Path) -> None:
    base, big = tmp_path / "base.db", tmp_path / "big.db"
    _run(str(ROOT / "scripts" / "generate.py"), "--towns", "2", "--communities-per-town", "3",
         "--years", "1", "--seed", "3", "--db", f"sqlite:///{base}", "--out",
         str(tmp_path / "base.jsonl"))
    with sqlite3.connect(base) as conn:
        base_events = conn.execute("SELECT count(*) FROM ledger_events").fetchone()[0]
    _run(str(ROOT / "scripts" / "bench_load.py"), "--base", str(base), "--out", str(big),
         "--events", str(base_events + 1), "--seal")
    # grown again: more copies appended to the sealed ledger, sealed again
    _run(str(ROOT / "scripts" / "bench_load.py"), "--base", str(base), "--out", str(big),
         "--events", str(base_events * 2), "--seal")

    url = f"sqlite:///{big}"
    runner = CliRunner()
    key = runner.invoke(cli, ["--db", url, "key", "export"])
    assert key.exit_code == 0, key.output
    (tmp_path / "vk.txt").write_text(key.output)
    os.environ["LEDGER_ALLOW_UNSIGNED"] = "1"
    try:
        led = GovernanceLedger(url)
        counts = led.rebuild()
        led.close()
        verified = runner.invoke(cli, ["--db", url, "verify", "--key", str(tmp_path / "vk.txt"),
                                        "--projections", "--json"])
    finally:
        del os.environ["LEDGER_ALLOW_UNSIGNED"]
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.output)
    with sqlite3.connect(big) as conn:
        head = conn.execute("SELECT max(id) FROM ledger_events").fetchone()[0]
        towns = dict(conn.execute("SELECT substr(code, 1, instr(code, '-') - 1), count(*) "
                                  "FROM rm_communities GROUP BY 1").fetchall())
        cases = dict(conn.execute("SELECT substr(ref, 1, instr(ref, '-') - 1), count(*) "
                                  "FROM rm_cases GROUP BY 1").fetchall())
        sealed = [s for (state,) in conn.execute(
            "SELECT state FROM ledger_events WHERE id > ?", (base_events,))
            for s in _sealed(json.loads(state))]
    assert head >= base_events * 2 and report["events"] == head
    assert set(counts.values()) == {head}
    # every copy is a town of its own, with the template town's communities and cases
    assert set(towns) >= {"ZQ", "T001", "T002", "T003"}
    assert towns["T002"] == towns["T003"] == towns["T001"]
    assert cases["T002"] == cases["T001"] > 0
    # the copies' personal data is sealed for their own subjects and opens with their keys
    copies = tuple(f"S-{t}-" for t in towns if t not in ("ZQ", "T001"))
    assert sealed and all(s["subject"].startswith(copies) for s in sealed)
    with create_engine(url).connect() as conn:
        assert all(unseal(conn, s) is not None for s in sealed)
