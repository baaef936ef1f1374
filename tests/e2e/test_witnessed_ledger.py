"""A ledger and two witnesses, each its own process, over loopback HTTP.

The town's `ledger checkpoint` sends each checkpoint to the district's witnesses; `verify`
and `scripts/verify-proof` accept a witness policy and fail without its quorum; an attacker
holding the town's database and its signing key (but not the witnesses' keys) cannot get a
rewritten history cosigned.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INIT = ["init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
        "--admin-name", "王明", "--at", "2025-01-01"]
ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ", "--at", "2025-01-02"]


REBUILD = """
import sys
import sqlalchemy as sa
from ledger.application import GovernanceLedger
from ledger.integrity import sealer
from ledger.integrity.sqlstore import SqlNodeStore
from ledger.integrity.tree import IncrementalTree
led = GovernanceLedger(sys.argv[1])
with led.engine.begin() as conn:  # the tree of the rewritten log, built with the ledger's code
    rows = list(sealer.event_rows(conn, led.events_table))
    IncrementalTree(SqlNodeStore(conn), 0).append(
        [sealer.leaf_v2(i, r, sealer.command_row_of(conn, r.notification_id))
         for i, r in enumerate(rows)])
    conn.execute(sa.text("INSERT INTO ledger_merkle_leaves (position, notification_id) "
                         "VALUES (:p, :n)"),
                 [{"p": i, "n": r.notification_id} for i, r in enumerate(rows)])
"""


def ledger(*args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "ledger", *args], cwd=cwd, text=True, check=False,
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"ledger {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"witness exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"witness on port {port} did not start")


class Witness:
    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, folder
        self.key, self.state = folder / f"{name}.key", folder / f"{name}.state.json"
        out = ledger("witness", "init", "--key-file", str(self.key), "--state", str(self.state),
                     "--name", f"{name}.district.example", cwd=folder)
        self.vkey = out.stdout.strip().splitlines()[-1]
        self.port = _free_port()
        self.proc: subprocess.Popen[str] | None = None

    def add_log(self, origin: str, log_vkey: str) -> None:
        ledger("witness", "add-log", "--state", str(self.state), "--origin", origin,
               "--key", log_vkey, cwd=self.folder)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledger", "witness", "serve", "--key-file", str(self.key),
             "--state", str(self.state), "--listen", f"127.0.0.1:{self.port}"],
            cwd=self.folder, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        _wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        self.proc = None

    def line(self) -> str:
        return f"witness {self.name} {self.vkey} http://127.0.0.1:{self.port}"


@pytest.fixture
def town(tmp_path: Path) -> Iterator[tuple[Path, list[Witness], str, str]]:
    """A ledger with one community, two running witnesses that know its log."""
    work = tmp_path / "town"
    work.mkdir()
    db = f"sqlite:///{work / 'ledger.db'}"
    ledger("--db", db, *INIT, cwd=work)
    ledger("--db", db, "community", "register", "ZQ-001", "阳光花园", *ADMIN, cwd=work)
    log_vkey = ledger("--db", db, "key", "export", cwd=work).stdout.strip()
    origin = log_vkey.split("+")[0]
    witnesses = [Witness(n, tmp_path) for n in ("witness-a", "witness-b")]
    for w in witnesses:
        w.add_log(origin, log_vkey)
        w.start()
    try:
        yield work, witnesses, db, log_vkey
    finally:
        for w in witnesses:
            w.stop()


def _policy(folder: Path, witnesses: list[Witness], quorum: int) -> Path:
    path = folder / f"policy-{quorum}.txt"
    path.write_text("\n".join([*(w.line() for w in witnesses), f"quorum {quorum}", ""]),
                    encoding="utf-8")
    return path


def _cosignatures(note: str) -> int:
    return sum(1 for line in note.splitlines() if line.startswith("— "))


def test_checkpoints_are_cosigned_and_verified_with_the_quorum(
        town: tuple[Path, list[Witness], str, str]) -> None:
    work, witnesses, db, log_vkey = town
    both = _policy(work, witnesses, 2)
    signed = ledger("--db", db, "checkpoint", "--witness-policy", str(both), cwd=work)
    assert _cosignatures(signed.stdout) == 3  # the log's signature and two cosignatures
    ledger("--db", db, "community", "register", "ZQ-002", "春申", *ADMIN, cwd=work)
    again = ledger("--db", db, "checkpoint", "--witness-policy", str(both), cwd=work)
    assert _cosignatures(again.stdout) == 3
    ledger("--db", db, "verify", "--key", log_vkey, "--witness-policy", str(both), cwd=work)
    # one witness down: 2-of-2 fails loudly, 1-of-2 still signs
    witnesses[1].stop()
    ledger("--db", db, "community", "register", "ZQ-003", "莘庄", *ADMIN, cwd=work)
    down = ledger("--db", db, "checkpoint", "--witness-policy", str(both), cwd=work,
                  check=False)
    assert down.returncode == 1 and "witness-b" in down.stderr
    one = _policy(work, witnesses, 1)
    ledger("--db", db, "community", "register", "ZQ-004", "梅陇", *ADMIN, cwd=work)
    ok = ledger("--db", db, "checkpoint", "--witness-policy", str(one), cwd=work, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "witness-b" in ok.stderr  # the one that did not answer is named
    ledger("--db", db, "verify", "--key", log_vkey, "--witness-policy", str(one), cwd=work)
    failed = ledger("--db", db, "verify", "--key", log_vkey, "--witness-policy", str(both),
                    cwd=work, check=False)
    assert failed.returncode == 1


def test_a_stolen_key_cannot_get_a_rewritten_history_cosigned(
        town: tuple[Path, list[Witness], str, str], tmp_path: Path) -> None:
    work, witnesses, db, log_vkey = town
    both = _policy(work, witnesses, 2)
    ledger("--db", db, "checkpoint", "--witness-policy", str(both), cwd=work)
    proof = ledger("--db", db, "prove", "inclusion", "3", "--json", cwd=work).stdout
    # The attacker copies the database and the key file (not the signer's record), rewrites
    # the community's name, rebuilds the tree and signs.
    evil = tmp_path / "evil"
    evil.mkdir()
    for name in ("ledger.db", "ledger.db.signing.key"):
        (evil / name).write_bytes((work / name).read_bytes())
    (evil / "ledger.db.signing.key").chmod(0o600)
    with sqlite3.connect(evil / "ledger.db") as conn:
        for table in ("ledger_events", "ledger_merkle_nodes", "ledger_merkle_leaves",
                      "ledger_checkpoints", "ledger_log_identity", "ledger_command_log"):
            for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                           "'trigger' AND tbl_name = ?", (table,)).fetchall():
                conn.execute(f"DROP TRIGGER {trigger}")
        state = conn.execute("SELECT state FROM ledger_events WHERE id = 3").fetchone()[0]
        conn.execute("UPDATE ledger_events SET state = ? WHERE id = 3",
                     (bytes(state).replace("阳光花园".encode(), "月亮花园".encode()),))
        for table in ("ledger_merkle_nodes", "ledger_merkle_leaves", "ledger_checkpoints"):
            conn.execute(f"DELETE FROM {table}")
    evil_db = f"sqlite:///{evil / 'ledger.db'}"
    subprocess.run([sys.executable, "-c", REBUILD, evil_db], cwd=ROOT, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    refused = ledger("--db", evil_db, "checkpoint", "--witness-policy", str(both), cwd=evil,
                     check=False)
    assert refused.returncode == 1
    assert "witness-a" in refused.stderr and "witness-b" in refused.stderr
    # What the attacker now serves fails every check that holds the witness policy ...
    checked = ledger("--db", evil_db, "verify", "--key", log_vkey, "--witness-policy",
                     str(both), cwd=evil, check=False)
    assert checked.returncode == 1
    forged = ledger("--db", evil_db, "prove", "inclusion", "3", "--json", cwd=evil).stdout
    assert json.loads(forged)["record"] != json.loads(proof)["record"]
    script = [sys.executable, str(ROOT / "scripts" / "verify-proof"), "--key", log_vkey,
              "--witness-policy", str(both)]
    bad = subprocess.run([*script, "-"], input=forged, text=True, capture_output=True, check=False,
                         timeout=60)
    assert bad.returncode == 1 and "FAIL" in bad.stderr
    # ... while the town's real proof passes it
    good = subprocess.run([*script, "-"], input=proof, text=True, capture_output=True, check=False,
                          timeout=60)
    assert good.returncode == 0, good.stderr
