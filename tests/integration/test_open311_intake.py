"""The Open311 intake on both stores (SQLite and PostgreSQL), in process: a report becomes a
hotline case signed by the hotline's intake key, numbered after the town's last case of the
year, and is listed back; every ``serve`` option has help text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from ledger.application import GovernanceLedger
from ledger.feed.app import create_app
from ledger.feed.tokens import Intake, Token
from ledger.integrity import dsse
from ledger.integrity.checkpoint import generate_key_file
from tests.case_world import ADMIN, world
from tests.feedkit import TestClient


def test_a_report_is_a_signed_hotline_case_numbered_after_the_last(ledger: GovernanceLedger,
                                                                     tmp_path: Path) -> None:
    world(ledger)
    key = generate_key_file(tmp_path / "HL-12345.key")
    public = dsse.public_key_b64(key.public_key())
    ledger.execute({"type": "post.appoint", **ADMIN, "target_post": "town.peace_office.staff@ZQ",
                    "person": "HL-12345", "person_name": "12345热线",
                    "occurred_at": "2025-01-05"})
    ledger.execute({"type": "person.key.register", **ADMIN, "town": "ZQ",
                    "person": "HL-12345", "public_key": public})
    year = datetime.now(UTC).year
    # The town's own numbering already reached 41 this year (a case taken by telephone).
    ledger.execute({"type": "case.receive", "actor": "P-0005",
                    "post": "town.peace_office.staff@ZQ", "ref": f"ZQ-{year}-000041",
                    "community": "ZQ-001", "channel": "street_patrol",
                    "problem_type": "other", "description": "路灯损坏"})
    hotline = Token("hotline", "hotline-api-key-1", frozenset({"write:intake", "read:cases"}),
                    intake=Intake("HL-12345", "town.peace_office.staff@ZQ",
                                  str(tmp_path / "HL-12345.key")))
    app = create_app(ledger, tokens=[hotline])
    with TestClient(app) as c:
        answer = c.post("/open311/v2/requests.json", data={
            "api_key": "hotline-api-key-1", "service_code": "illegal_construction",
            "attribute[community]": "ZQ-002", "attribute[location]": "7号楼顶",
            "description": "屋顶违法搭建", "last_name": "钱", "first_name": "女士",
            "phone": "13912345678"})
        assert answer.status_code == 201, answer.text
        ref = answer.json()[0]["service_request_id"]
        assert ref == f"ZQ-{year}-000042"
        listed = c.get(f"/open311/v2/requests/{ref}.json",
                       params={"api_key": "hotline-api-key-1"}).json()
    assert listed[0]["status_description"] == "received"
    assert listed[0]["address"].startswith("7号楼顶")
    [received] = [e for e in ledger.history(ref) if e.type == "Case.Received"]
    envelope = received.public()["envelope"]
    assert envelope["actor"] == "HL-12345"
    assert envelope["signature"]["key_id"] == dsse.key_id_for("ed25519", public)
    assert received.data["channel"] == "hotline"
    assert "13912345678" not in json.dumps(received.public(), ensure_ascii=False)


def test_a_hotline_over_its_rate_gets_429_in_the_spec_format(ledger: GovernanceLedger,
                                                             tmp_path: Path) -> None:
    world(ledger)
    generate_key_file(tmp_path / "HL-12345.key")
    slow = Token("hotline", "hotline-api-key-1", frozenset({"write:intake"}), rate=1.0,
                 intake=Intake("HL-12345", "town.peace_office.staff@ZQ",
                               str(tmp_path / "HL-12345.key")))
    with TestClient(create_app(ledger, tokens=[slow])) as c:
        # The api_key is in the form, where the gate cannot see it: the route checks the rate.
        answers = [c.post("/open311/v2/requests.xml", data={
            "api_key": "hotline-api-key-1", "service_code": "nope"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[2].headers["retry-after"] == "1"
    assert "<code>429</code>" in answers[2].text


def test_every_serve_option_has_help() -> None:
    from ledger.commandline.feed import serve

    for param in serve.params:
        if isinstance(param, click.Option):
            assert param.help, f"serve {param.opts[0]} has no help text"
