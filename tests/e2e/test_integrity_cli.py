"""ledger init/checkpoint/prove/verify/key export through the CLI, on a SQLite file."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.integrity import appendonly
from ledger.integrity.checkpoint import parse_verifier_key
from ledger.integrity.sqlstore import INTEGRITY_TABLES

ROOT_DIR = Path(__file__).resolve().parents[2]
INIT = ["init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
        "--admin-name", "王明", "--at", "2025-01-01"]
ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(db: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


def _register(db: str, code: str) -> None:
    r = run(db, "community", "register", code, f"小区{code}", *ADMIN, "--at", "2025-01-02")
    assert r.exit_code == 0, r.output


def test_init_creates_an_owner_only_signing_key_beside_the_database_and_seals(
        db: str, tmp_path: Path) -> None:
    r = run(db, *INIT)
    assert r.exit_code == 0, r.output
    key = tmp_path / "cli.db.signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f"signing key created at {key}" in r.output
    assert "PRIVATE KEY" not in r.output
    content = key.read_bytes()
    assert run(db, "init").exit_code == 0
    assert key.read_bytes() == content  # never replaced
    exported = run(db, "key", "export").output.strip()
    name, _ = parse_verifier_key(exported)
    assert re.fullmatch(r"zq-governance-ledger/ZQ/[0-9a-f]{16}", name)
    checkpoint = run(db, "checkpoint")
    assert checkpoint.exit_code == 0
    assert checkpoint.stdout.startswith(f"{name}\n2\n")


def test_key_file_flag_and_environment_choose_the_key(db: str, tmp_path: Path) -> None:
    flag_key = tmp_path / "elsewhere.key"
    assert run(db, "--signing-key", str(flag_key), *INIT).exit_code == 0
    assert flag_key.exists()
    assert not (tmp_path / "cli.db.signing.key").exists()
    env_key = tmp_path / "env.key"
    r = CliRunner().invoke(cli, ["--db", db, "init"], env={"LEDGER_SIGNING_KEY": str(env_key)})
    assert r.exit_code == 0
    assert env_key.exists()


def test_a_key_file_others_can_read_is_refused_without_showing_the_key(
        db: str, tmp_path: Path) -> None:
    assert run(db, *INIT).exit_code == 0
    key = tmp_path / "cli.db.signing.key"
    key.chmod(0o644)
    secret = key.read_text()
    r = run(db, "checkpoint")
    assert r.exit_code == 1
    assert f"chmod 600 {key}" in r.output
    assert secret.splitlines()[1] not in r.output
    r = run(db, "key", "export")
    assert r.exit_code == 1


def test_checkpoint_without_a_key_names_the_fix(db: str) -> None:
    GovernanceLedger(db).close()  # a ledger, but no signing key beside it
    r = run(db, "checkpoint")
    assert r.exit_code == 1
    assert "does not exist; create it with 'ledger init'" in r.output


def test_verify_is_clean_then_reports_tampering_as_json_lines_and_exits_1(
        db: str, tmp_path: Path) -> None:
    assert run(db, *INIT).exit_code == 0
    for code in ("ZQ-001", "ZQ-002", "ZQ-003"):
        _register(db, code)
    kept = tmp_path / "kept-checkpoint.txt"
    kept.write_text(run(db, "checkpoint").stdout, encoding="utf-8")
    vk = tmp_path / "verifier-key.txt"
    vk.write_text(run(db, "key", "export").stdout, encoding="utf-8")
    _register(db, "ZQ-004")
    clean = run(db, "verify", "--checkpoint", str(kept), "--key", str(vk))
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.startswith("verified 6 events, tree size 6, root ")
    assert "not sealed yet" not in clean.stdout  # every event has its leaf at once
    assert run(db, "checkpoint").exit_code == 0
    as_json = json.loads(run(db, "verify", "--key", str(vk), "--json").stdout)
    assert (as_json["ok"], as_json["tree_size"], as_json["findings"]) == (True, 6, [])

    led = GovernanceLedger(db)
    try:
        appendonly.remove(led.engine, [led.events_table.name, *INTEGRITY_TABLES])
        with led.engine.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {led.events_table.name} WHERE id = 4"))
    finally:
        led.close()
    tampered = run(db, "verify", "--key", str(vk))
    assert tampered.exit_code == 1
    findings = [json.loads(line) for line in tampered.stdout.splitlines()]
    assert {"position": 3, "kind": "missing_event",
            "detail": "leaf 3 covers event 4, which is no longer in the log (deleted?)"} in findings
    assert all(set(f) == {"position", "kind", "detail"} for f in findings)


def test_prove_inclusion_json_is_accepted_by_verify_proof_with_the_exported_key(
        db: str, tmp_path: Path) -> None:
    assert run(db, *INIT).exit_code == 0
    _register(db, "ZQ-001")
    assert run(db, "checkpoint").exit_code == 0
    proof = tmp_path / "proof.json"
    r = run(db, "prove", "inclusion", "ZQ-001@1", "--json")
    assert r.exit_code == 0, r.output
    proof.write_text(r.stdout, encoding="utf-8")
    key = run(db, "key", "export").stdout.strip()
    checked = subprocess.run([sys.executable, str(ROOT_DIR / "scripts" / "verify-proof"),
                              "--key", key, str(proof)], capture_output=True, text=True,
                             check=False, env={"PATH": os.environ.get("PATH", "")})
    assert checked.returncode == 0, checked.stderr
    assert "Community.Registered" in checked.stdout
    text = run(db, "--lang", "en", "prove", "inclusion", "3")
    assert "leaf index: 2" in text.output
    consistency = json.loads(run(db, "prove", "consistency", "--from", "2", "--json").stdout)
    assert (consistency["from_size"], consistency["to_size"]) == (2, 3)


def test_prove_an_unsealed_event_is_refused_with_the_fix(db: str) -> None:
    assert run(db, *INIT).exit_code == 0
    _register(db, "ZQ-001")
    r = run(db, "prove", "inclusion", "3")
    assert r.exit_code == 1
    assert "is not sealed yet by a signed checkpoint" in r.output
    assert "run 'ledger checkpoint' first" in r.output


def test_demo_seals_so_verify_passes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    r = run(db, "--lang", "en", "demo")
    assert r.exit_code == 0, r.output
    assert "Verified: " in r.output  # the overview's verification, after the demo sealed
    key = run(db, "key", "export").stdout.strip()
    verified = run(db, "verify", "--key", key)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("verified ")


def test_verify_without_key_file_or_key_uses_the_stored_key_and_warns(
        db: str, tmp_path: Path) -> None:
    assert run(db, *INIT).exit_code == 0
    (tmp_path / "cli.db.signing.key").unlink()
    refused = run(db, "verify")  # nothing to check against but the ledger itself
    assert refused.exit_code == 2
    assert refused.stderr.startswith("Error: neither --key (the published verifier key) nor a "
                                     "witness policy")
    assert len(refused.stderr.splitlines()) == 1
    r = run(db, "verify", "--allow-unverified")
    assert r.exit_code == 0, r.output
    assert "WARNING: unverified: signatures were checked with the stored key" in r.stderr
    assert r.stdout.startswith("verified 2 events")
