"""Officials sign what they decide: DSSE-signed commands checked against keys recorded as
events, on SQLite and PostgreSQL, with signatures required (no unsigned mode).

Each refusal leaves the store unchanged and is kept in the refusals log; ``verify`` re-checks
every event's signature against the key history in the log.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import signatures
from ledger.application import GovernanceLedger
from ledger.audit import actor_actions, decision, refused
from ledger.integrity import dsse, sealer
from ledger.integrity.verifier import Verification
from ledger.integrity.verifier import verify as verify_ledger
from ledger.kernel.config import now
from ledger.kernel.errors import LedgerError
from ledger.kernel.store import signed_commands
from tests.conftest import store_snapshot
from tests.signing import (
    ADMIN_POST,
    appoint,
    body,
    kid,
    new_key,
    public,
    register,
    signed,
    signed_town,
)

pytestmark = pytest.mark.signed

def verify(led: GovernanceLedger, **kw: Any) -> Verification:
    """Seal what is there with the ledger's key, then verify."""
    sealer.ensure_key_file(led.settings)
    sealer.seal(led)
    return verify_ledger(led, **kw)


SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}


def group_leader(n: int) -> dict[str, Any]:
    """A command P-0101 may issue as party secretary of ZQ-001."""
    return {"type": "post.appoint", **SECRETARY, "target_post": f"party_group_leader@ZQ-001/G{n}",
            "person": f"P-20{n:02d}", "person_name": "任桂英", "occurred_at": "2025-02-01"}


@pytest.fixture
def admin() -> Ed25519PrivateKey:
    return new_key()


@pytest.fixture
def official() -> Ed25519PrivateKey:
    return new_key()


@pytest.fixture
def town(ledger: GovernanceLedger, admin: Ed25519PrivateKey,
         official: Ed25519PrivateKey) -> GovernanceLedger:
    """ZQ with its administrator's key, ZQ-001, and P-0101 (key registered) as its secretary."""
    signed_town(ledger, admin)
    register(ledger, admin, "P-0101", official)
    ledger.execute(signed(admin, appoint("P-0101", "party_org.secretary@ZQ-001")))
    return ledger


def refused_unchanged(led: GovernanceLedger, command: Any, code: str) -> LedgerError:
    """Send *command*; it must be refused with *code*, write nothing, and be recorded."""
    before = store_snapshot(led)
    logged = len(refused(led))
    with pytest.raises(LedgerError) as caught:
        led.execute(command)
    assert caught.value.code == code, str(caught.value)
    assert store_snapshot(led) == before
    rows = refused(led)
    assert len(rows) == logged + 1
    assert rows[-1]["code"] == code
    return caught.value


def test_a_signed_command_is_accepted_and_its_events_keep_the_signature(
        town: GovernanceLedger, official: Ed25519PrivateKey) -> None:
    env = signed(official, group_leader(1))
    result = town.execute(env)
    assert result.outcome == "accepted"
    event = town.history("community:ZQ-001")[-1]
    sig = event.envelope["signature"]
    assert sig["key_id"] == kid(official)
    assert sig["payload_sha256"] == env.payload_sha256
    assert base64.b64decode(sig["sig"]) == env.signatures[0][1]
    # The exact signed bytes are kept for verify.
    with town.engine.connect() as conn:
        stored = conn.execute(sa.select(signed_commands.c.payload).where(
            signed_commands.c.command_id == result.command_id)).scalar_one()
    assert bytes(stored) == env.payload
    checked = verify(town, require_signed=True)
    assert checked.findings == []
    assert checked.signatures.signed == checked.events  # every event signed
    assert checked.signatures.unsigned == 0


def test_a_field_changed_after_signing_is_refused(town: GovernanceLedger,
                                                   official: Ed25519PrivateKey) -> None:
    env = signed(official, group_leader(1))
    changed = json.loads(env.payload)
    changed["person_name"] = "冒名者"
    forged = dsse.Envelope(env.payload_type, json.dumps(changed).encode(), env.signatures)
    error = refused_unchanged(town, forged, "signature_invalid")
    assert "P-0101" in str(error)


def test_a_signature_by_a_revoked_key_is_refused(town: GovernanceLedger,
                                                  admin: Ed25519PrivateKey,
                                                  official: Ed25519PrivateKey) -> None:
    town.execute(signed(admin, {"type": "person.key.revoke", **ADMIN_POST, "town": "ZQ",
                                "person": "P-0101", "key_id": kid(official),
                                "reason": "笔记本电脑遗失"}))
    error = refused_unchanged(town, signed(official, group_leader(1)), "key_revoked")
    assert kid(official) in str(error) and "笔记本电脑遗失" in str(error)


def test_a_key_used_before_its_registration_is_refused(town: GovernanceLedger,
                                                        admin: Ed25519PrivateKey) -> None:
    later = new_key()
    town.execute(signed(admin, appoint("P-0102", "residents_committee.director@ZQ-001")))
    command = {**group_leader(2), "actor": "P-0102",
               "post": "residents_committee.director@ZQ-001",
               "target_post": "resident_group_leader@ZQ-001/R2"}
    refused_unchanged(town, signed(later, command), "key_unknown")
    # Registered to become valid only tomorrow: still refused today.
    register(town, admin, "P-0102", later, valid_from=(now() + timedelta(days=1)).isoformat())
    refused_unchanged(town, signed(later, command), "key_not_yet_valid")


def test_a_signed_command_replayed_under_another_command_id_is_refused(
        town: GovernanceLedger, official: Ed25519PrivateKey) -> None:
    env = signed(official, group_leader(1))
    assert town.execute(env).outcome == "accepted"
    assert town.execute(env).outcome == "duplicate"  # the same command: writes nothing
    replay = json.loads(env.payload)
    replay["command_id"] = "another-id"
    replayed = dsse.Envelope(env.payload_type, json.dumps(replay).encode(), env.signatures)
    refused_unchanged(town, replayed, "signature_invalid")


def test_unsigned_commands_are_refused(town: GovernanceLedger) -> None:
    # By an official who has a key.
    refused_unchanged(town, group_leader(1), "signature_missing")
    # By one who has none, without the unsigned mode.
    refused_unchanged(town, appoint("P-0300", "residents_committee.member@ZQ-001"),
                      "signature_missing")


def test_a_signature_by_another_persons_key_is_refused(town: GovernanceLedger,
                                                        admin: Ed25519PrivateKey) -> None:
    refused_unchanged(town, signed(admin, group_leader(1)), "key_unknown")


def test_refusals_record_no_personal_data(town: GovernanceLedger,
                                          official: Ed25519PrivateKey) -> None:
    bad = {**group_leader(1), "person_name": "13812345678"}
    refused_unchanged(town, signed(official, bad), "personal_data_in_text")
    row = refused(town, actor="P-0101")[-1]
    assert set(row) >= {"recorded_at", "actor", "type", "command_id", "code", "reason"}
    assert "13812345678" not in json.dumps(row, ensure_ascii=False)
    assert signatures.scrub("call 13812345678 or 310101199001011234") == \
        "call ########### or ##################"


def test_audit_shows_the_key_its_registration_and_who_registered_it(
        town: GovernanceLedger, official: Ed25519PrivateKey) -> None:
    result = town.execute(signed(official, group_leader(1)))
    info = decision(town, result.positions[0])["signature"]
    assert info["signed_by"] == kid(official)
    reg = info["registration"]
    assert (reg["person"], reg["registered_by"], reg["registered_in"]) == (
        "P-0101", "P-0001", "town.ledger_admin@ZQ")
    assert town.history("person_keys:P-0101")[0].position == reg["position"]
    actions = actor_actions(town, "P-0101")
    assert [a["signed_by"] for a in actions] == [kid(official)]


def test_an_event_written_by_a_tampered_ledger_without_a_valid_signature_is_flagged(
        town: GovernanceLedger, official: Ed25519PrivateKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An insider who runs the ledger's own write path with the signature check removed (the
    event gets its leaf, so the tree is consistent) is caught by verify, by position."""
    good = town.execute(signed(official, group_leader(1)))
    forged_sig = {"key_id": kid(official), "algorithm": "ed25519",
                  "payload_sha256": "0" * 64, "sig": base64.b64encode(b"\0" * 64).decode()}
    monkeypatch.setattr(signatures, "check", lambda *a, **k: dict(forged_sig))
    forged = town.execute(group_leader(2))
    monkeypatch.setattr(signatures, "check", lambda *a, **k: {"unsigned": "allowed"})
    unsigned = town.execute(group_leader(3))
    monkeypatch.undo()
    found = {(f.kind, f.position) for f in verify(town).findings}
    position = {p: p - 1 for p in (*forged.positions, *unsigned.positions)}  # leaf = id - 1
    assert ("signature_payload_missing", position[forged.positions[0]]) in found
    assert ("signature_missing", position[unsigned.positions[0]]) in found
    assert not any(p == good.positions[0] - 1 for _k, p in found)


def test_altered_signed_bytes_are_flagged_by_verify(town: GovernanceLedger,
                                                    official: Ed25519PrivateKey) -> None:
    result = town.execute(signed(official, group_leader(1)))
    with town.engine.begin() as conn:
        conn.execute(sa.update(signed_commands).where(
            signed_commands.c.command_id == result.command_id).values(
            payload=body({**group_leader(1), "person_name": "冒名者"})))
    kinds = {f.kind for f in verify(town).findings if f.position == result.positions[0] - 1}
    assert kinds == {"signature_invalid"}


def test_a_backdated_revocation_flags_what_the_key_signed_since(
        town: GovernanceLedger, admin: Ed25519PrivateKey, official: Ed25519PrivateKey) -> None:
    before = now()
    result = town.execute(signed(official, group_leader(1)))
    town.execute(signed(admin, {"type": "person.key.revoke", **ADMIN_POST, "town": "ZQ",
                                "person": "P-0101", "key_id": kid(official),
                                "reason": "密钥泄露", "revoked_from": before.isoformat()}))
    found = [f for f in verify(town).findings if f.kind == "signature_key_revoked"]
    assert [f.position for f in found] == [result.positions[0] - 1]


def test_rotation_revokes_the_old_key_and_registers_the_new(
        town: GovernanceLedger, admin: Ed25519PrivateKey, official: Ed25519PrivateKey) -> None:
    fresh = new_key()
    town.execute(signed(admin, {"type": "person.key.rotate", **ADMIN_POST, "town": "ZQ",
                                "person": "P-0101", "old_key_id": kid(official),
                                "public_key": public(fresh)}))
    refused_unchanged(town, signed(official, group_leader(1)), "key_revoked")
    assert town.execute(signed(fresh, group_leader(1))).outcome == "accepted"
    assert verify(town, require_signed=True).findings == []


def test_bootstrap_must_be_signed_by_the_key_it_registers(ledger: GovernanceLedger) -> None:
    admin, other = new_key(), new_key()
    command = {"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
               "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
               "admin_public_key": public(admin)}
    refused_unchanged(ledger, signed(other, command), "signature_invalid")
    refused_unchanged(ledger, command, "signature_missing")
    no_key = {k: v for k, v in command.items() if k != "admin_public_key"}
    refused_unchanged(ledger, no_key, "signature_missing")
    assert ledger.execute(signed(admin, command)).outcome == "accepted"


def test_apply_takes_signed_envelopes_line_by_line(town: GovernanceLedger,
                                                   official: Ed25519PrivateKey) -> None:
    lines = [json.dumps(signed(official, group_leader(n)).to_json()) for n in (1, 2)]
    lines.append(json.dumps(group_leader(3)))  # unsigned: refused, recorded
    outcomes = list(town.apply(lines, keep_going=True))
    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[2].error is not None and outcomes[2].error.code == "signature_missing"
    assert refused(town)[-1]["channel"] == "apply"


def test_the_signature_pass_finds_the_same_in_worker_processes(
        town: GovernanceLedger, official: Ed25519PrivateKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.integrity.sigcheck import check_signatures

    for n in range(1, 8):
        town.execute(signed(official, group_leader(n)))
    monkeypatch.setattr(signatures, "check", lambda *a, **k: {"unsigned": "allowed"})
    town.execute(group_leader(9))
    monkeypatch.undo()
    url = town.engine.url.render_as_string(hide_password=False)
    runs = []
    for workers in (1, 2):
        found: list[tuple[int | None, str]] = []
        with town.engine.connect() as conn:
            stats = check_signatures(conn, town.events_table.name,
                                     lambda p, kind, _d: found.append((p, kind)),
                                     workers=workers, url=url, chunk=3, parallel_min=0)
        runs.append((sorted(found, key=str), stats.signed, stats.unsigned, stats.system))
    assert runs[0] == runs[1]
    assert runs[0][0] == [(town.recorder.max_notification_id() - 1, "signature_missing")]
    assert runs[0][1] > 7


def test_an_event_inserted_by_sql_without_a_signature_is_flagged_by_position(
        town: GovernanceLedger, official: Ed25519PrivateKey) -> None:
    """Raw SQL, as an attacker with the database file: an event copied from a real one, its
    signature member dropped (and one with a made-up signature): both named by position."""
    import uuid

    import orjson

    town.execute(signed(official, group_leader(1)))
    sealer.ensure_key_file(town.settings)
    sealer.seal(town)
    table = town.events_table
    with town.engine.connect() as conn:
        last = conn.execute(sa.select(table).order_by(table.c.id.desc()).limit(1)).one()
    state = orjson.loads(last.state)
    del state["envelope"]["signature"]
    forged_sig = orjson.loads(last.state)
    forged_sig["envelope"]["signature"]["sig"] = base64.b64encode(b"\1" * 64).decode()
    forged_sig["envelope"]["command_id"] = "made-up"
    ids = []
    with town.engine.begin() as conn:
        for n, body_ in enumerate((state, forged_sig), start=1):
            nid = last.id + n
            oid = uuid.uuid4()
            conn.execute(sa.insert(table).values(
                id=nid, originator_id=oid, originator_version=1, topic=last.topic,
                state=orjson.dumps(body_)))
            ids.append(nid)
    findings = verify_ledger(town, workers=1).findings
    by_kind = {(f.kind, f.detail.split(" (")[0]) for f in findings}
    assert ("signature_missing", f"event at log position {ids[0]}") in by_kind
    assert ("signature_payload_missing", f"event at log position {ids[1]}") in by_kind
    assert {f.kind for f in findings} >= {"unsealed_event"}
