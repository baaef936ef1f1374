"""``POST /commands`` end to end: a real ``ledger serve`` process over loopback HTTP takes
signed commands (DSSE envelopes): accepted (201), repeated (200, nothing written), refused
(4xx with a JSON body naming what failed, nothing written, the refusal recorded)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ledger.application import GovernanceLedger
from ledger.audit import refused
from ledger.integrity import dsse
from tests.conftest import store_snapshot
from tests.feedkit import serve
from tests.signing import appoint, envelope_json, new_key, register, signed, signed_town

pytestmark = pytest.mark.signed

SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}


def leader(n: int) -> dict[str, object]:
    return {"type": "post.appoint", **SECRETARY, "target_post": f"party_group_leader@ZQ-001/G{n}",
            "person": f"P-20{n:02d}", "person_name": "任桂英", "occurred_at": "2025-02-01"}


@pytest.fixture
def keys() -> dict[str, object]:
    return {"admin": new_key(), "official": new_key()}


@pytest.fixture
def town(sqlite_url: str, keys: dict[str, object]) -> Iterator[GovernanceLedger]:
    led = GovernanceLedger(sqlite_url)
    signed_town(led, keys["admin"])  # type: ignore[arg-type]
    register(led, keys["admin"], "P-0101", keys["official"])  # type: ignore[arg-type]
    led.execute(signed(keys["admin"], appoint("P-0101", "party_org.secretary@ZQ-001")))  # type: ignore[arg-type]
    yield led
    led.close()


def test_post_commands_accepts_repeats_and_refuses(town: GovernanceLedger, sqlite_url: str,
                                                    keys: dict[str, object]) -> None:
    official = keys["official"]
    env = signed(official, leader(1))  # type: ignore[arg-type]
    with serve(sqlite_url, LEDGER_FEED_TOKENS="hotline-token") as url, \
            httpx.Client(base_url=url, timeout=10,
                         headers={"Authorization": "Bearer hotline-token"}) as c:
        first = c.post("/commands", content=envelope_json(env),
                       headers={"Content-Type": "application/json"})
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["outcome"] == "accepted" and body["positions"]
        assert body["events"] == ["Community.PostAppointed"]

        again = c.post("/commands", content=envelope_json(env))
        assert again.status_code == 200
        assert again.json()["outcome"] == "duplicate"
        assert again.json()["positions"] == body["positions"]

        before = store_snapshot(town)
        unsent = signed(official, leader(5))  # type: ignore[arg-type]
        changed = json.loads(unsent.payload)
        changed["person"] = "P-9999"
        forged = dsse.Envelope(unsent.payload_type, json.dumps(changed).encode(),
                               unsent.signatures)
        cases = [
            (envelope_json(forged), 403, "signature_invalid"),
            (json.dumps(leader(2)).encode(), 403, "signature_missing"),  # a bare command
            (b"{not json", 422, "invalid_command"),
            (envelope_json(signed(official, {**leader(3), "post": "town.ledger_admin@ZQ"})),  # type: ignore[arg-type]
             403, "post_not_held"),
            (envelope_json(signed(official, {**leader(4), "person_name": ""})),  # type: ignore[arg-type]
             422, "invalid_command"),
            (b'{"payloadType": "x", "payload": "' + b"A" * 200_000 + b'", "signatures": []}',
             413, "too_large"),
        ]
        for content, status, code in cases:
            r = c.post("/commands", content=content)
            assert r.status_code == status, (code, r.text)
            assert r.json()["error"]["code"] == code, r.text
            assert r.json()["error"]["message"]
        assert "person_name" in c.post("/commands", content=cases[4][0]).json()["error"]["message"]
        assert store_snapshot(town) == before
        # No token: refused before anything is read.
        assert httpx.post(f"{url}/commands", content=envelope_json(env)).status_code == 401
    codes = [row["code"] for row in refused(town) if row["channel"] == "http"]
    assert codes[:6] == ["signature_invalid", "signature_missing", "invalid_command",
                         "post_not_held", "invalid_command", "too_large"]
