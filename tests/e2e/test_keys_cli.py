"""The clerk's signing flow on the command line (click's CliRunner), signatures required:
make a key, bootstrap with it, register an official's key, sign writes with --key-file,
see refusals in ``ledger audit refused`` and who signed in ``ledger audit actor``."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger.cli import cli

pytestmark = pytest.mark.signed

ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ"]


def run(db: str, *args: str, key: Path | None = None) -> Result:
    pre = ["--db", db] + (["--key-file", str(key)] if key else [])
    return CliRunner().invoke(cli, [*pre, *args], catch_exceptions=False)


def new_key(tmp_path: Path, person: str) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "keys" / f"{person}.key"
    result = run("sqlite:///unused.db", "key", "new", "--person", person, "--out", str(path),
                 "--json")
    assert result.exit_code == 0, result.output
    return path, json.loads(result.output)


def test_the_signing_flow(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    admin_key, admin = new_key(tmp_path, "P-0001")
    assert stat.S_IMODE(admin_key.stat().st_mode) == 0o600
    assert admin["key_id"].startswith("ed25519:")
    # init needs the administrator's key when signatures are required.
    refused = run(db, "init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
                  "--admin-name", "王明")
    assert refused.exit_code == 2 and "--key-file is required" in refused.output
    ok = run(db, "init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
             "--admin-name", "王明", key=admin_key)
    assert ok.exit_code == 0, ok.output
    assert run(db, "community", "register", "ZQ-001", "阳光花园", *ADMIN,
               key=admin_key).exit_code == 0
    # An unsigned write is refused, naming the fix.
    unsigned = run(db, "community", "register", "ZQ-002", "春申", *ADMIN)
    assert unsigned.exit_code == 1
    assert "has a registered key" in unsigned.output and "--key-file" in unsigned.output
    # The official's key: made on their machine, registered by the administrator.
    official_key, official = new_key(tmp_path, "P-0101")
    reg = run(db, "key", "register", "P-0101", "--public-key", official["public_key"], *ADMIN,
              key=admin_key)
    assert reg.exit_code == 0, reg.output
    assert run(db, "post", "appoint", "party_org.secretary@ZQ-001", "P-0101", "--name", "李华",
               *ADMIN, "--from", "2025-01-01", key=admin_key).exit_code == 0
    as_secretary = ["--actor", "P-0101", "--post", "party_org.secretary@ZQ-001"]
    wrong = run(db, "post", "appoint", "party_group_leader@ZQ-001/G1", "P-2001", "--name", "任",
                *as_secretary, key=admin_key)
    assert wrong.exit_code == 1 and "not registered for P-0101" in wrong.output
    good = run(db, "post", "appoint", "party_group_leader@ZQ-001/G1", "P-2001", "--name", "任",
               *as_secretary, "--json", key=official_key)
    assert good.exit_code == 0, good.output
    listed = json.loads(run(db, "key", "list", "--json").output)
    assert {(k["person"], k["key_id"]) for k in listed} == {
        ("P-0001", admin["key_id"]), ("P-0101", official["key_id"])}
    actions = json.loads(run(db, "audit", "actor", "P-0101", "--json").output)
    assert [a["signed_by"] for a in actions] == [official["key_id"]]
    refusals = json.loads(run(db, "audit", "refused", "--json").output)
    assert [(r["actor"], r["code"], r["channel"]) for r in refusals] == [
        ("P-0001", "signature_missing", "cli"), ("P-0101", "key_unknown", "cli")]
    only = json.loads(run(db, "audit", "refused", "--actor", "P-0101", "--json").output)
    assert len(only) == 1
    # Revoked: the official's next write is refused.
    revoke = run(db, "key", "revoke", "P-0101", official["key_id"], "--reason", "遗失", *ADMIN,
                 key=admin_key)
    assert revoke.exit_code == 0, revoke.output
    after = run(db, "post", "appoint", "party_group_leader@ZQ-001/G2", "P-2002", "--name", "谭",
                *as_secretary, key=official_key)
    assert after.exit_code == 1 and "revoked" in after.output
    # The ledger verifies, every event signed (or by the system).
    key_text = run(db, "key", "export").output.strip()
    (tmp_path / "vk.txt").write_text(key_text)
    checked = run(db, "verify", "--key", str(tmp_path / "vk.txt"))
    assert checked.exit_code == 0, checked.output
    assert "signed by officials" in checked.output


def test_apply_signs_each_line_with_its_actors_key(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    admin_key, _admin = new_key(tmp_path, "P-0001")
    assert run(db, "init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
               "--admin-name", "王明", key=admin_key).exit_code == 0
    lines = tmp_path / "lines.jsonl"
    lines.write_text("\n".join(json.dumps({"type": "community.register", "actor": "P-0001",
                                           "post": "town.ledger_admin@ZQ", "code": f"ZQ-00{n}",
                                           "name": f"社区{n}"}, ensure_ascii=False)
                               for n in (1, 2)) + "\n", encoding="utf-8")
    unsigned = run(db, "apply", str(lines))
    assert unsigned.exit_code == 1 and "unsigned" in unsigned.output
    signed = run(db, "apply", "--keys-dir", str(tmp_path / "keys"), str(lines))
    assert signed.exit_code == 0, signed.output
    assert "2 " in signed.output or "accepted" in signed.output
