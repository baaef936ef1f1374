"""Helpers for tests of the hotline's Open311 intake: a signed town whose 12345 hotline system
holds an intake post and a registered key, served by a real ``ledger serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from ledger.cli import cli
from tests.feedkit import serve

ADMIN = ["--actor", "P-0001", "--post", "town.ledger_admin@ZQ"]
HOTLINE_POST = "town.peace_office.staff@ZQ"
NAME_FIRST, NAME_LAST, PHONE = "明", "张", "13800001111"


def run(db: str, *args: str, key: Path | None = None) -> Result:
    pre = ["--db", db] + (["--key-file", str(key)] if key else [])
    return CliRunner().invoke(cli, [*pre, *args], catch_exceptions=False)


@dataclass
class Hotline:
    db: str
    url: str
    admin_key: Path
    hotline_key: Path
    hotline_key_id: str
    log: Path
    tmp: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20)


@contextmanager
def hotline_town(tmp_path: Path, *serve_args: str) -> Iterator[Hotline]:
    """Town ZQ (signatures required) with communities ZQ-001 and ZQ-002; the 12345 hotline's
    system person HL-12345 holds the peace office's intake post and has a registered key,
    which the server holds as the hotline's intake key (tokens.toml)."""
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    keys: dict[str, tuple[Path, dict[str, Any]]] = {}
    for person in ("P-0001", "HL-12345"):
        path = tmp_path / f"{person}.key"
        made = run(db, "key", "new", "--person", person, "--out", str(path), "--json")
        assert made.exit_code == 0, made.output
        keys[person] = (path, json.loads(made.output))
    admin_key = keys["P-0001"][0]
    steps = [
        ["init", "--town", "ZQ", "--town-name", "颛桥镇", "--admin", "P-0001",
         "--admin-name", "王明"],
        ["community", "register", "ZQ-001", "阳光花园", *ADMIN],
        ["community", "register", "ZQ-002", "春申苑", *ADMIN],
        ["key", "register", "HL-12345", "--public-key", keys["HL-12345"][1]["public_key"],
         *ADMIN],
        ["post", "appoint", HOTLINE_POST, "HL-12345", "--name", "12345市民服务热线", *ADMIN,
         "--from", "2025-01-01"],
    ]
    for step in steps:
        done = run(db, *step, key=admin_key)
        assert done.exit_code == 0, done.output
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(f'''
[tokens.hotline-12345]
secret = "hotline-api-key-1"
scopes = ["write:intake", "read:cases"]
[tokens.hotline-12345.intake]
person = "HL-12345"
post = "{HOTLINE_POST}"
key_file = "HL-12345.key"

[tokens.board]
secret = "board-secret-1"
scopes = ["read:cases"]

[tokens.credit]
secret = "credit-secret-1"
scopes = ["read:events"]
''')
    log = tmp_path / "serve.log"
    with serve(db, args=["--tokens-file", str(tokens), *serve_args], stderr_path=log,
               health_token="credit-secret-1") as url:
        yield Hotline(db, url, admin_key, keys["HL-12345"][0],
                      keys["HL-12345"][1]["key_id"], log, tmp_path)


def report(c: httpx.Client, fmt: str = "json", **fields: str) -> httpx.Response:
    """The hotline's report of a case, as the spec's POST example gives its fields."""
    form = {"api_key": "hotline-api-key-1", "service_code": "group_renting",
            "attribute[community]": "ZQ-001", "address_string": "3号楼502室",
            "description": "楼上疑似群租，夜间噪音", "first_name": NAME_FIRST,
            "last_name": NAME_LAST, "phone": PHONE, "email": "zhang@example.com",
            "device_id": "tel-01", **fields}
    return c.post(f"/open311/v2/requests.{fmt}", data=form)
