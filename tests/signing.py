"""Helpers for tests of signed commands: officials' keys and DSSE envelopes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.integrity import dsse


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public(key: Ed25519PrivateKey) -> str:
    return dsse.public_key_b64(key.public_key())


def kid(key: Ed25519PrivateKey) -> str:
    return dsse.key_id_for("ed25519", public(key))


def body(command: dict[str, Any]) -> bytes:
    """The exact bytes that are signed (a command_id is added when there is none)."""
    return json.dumps({"command_id": str(uuid.uuid4()), **command}, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def signed(key: Ed25519PrivateKey, command: dict[str, Any]) -> dsse.Envelope:
    return dsse.sign_command(key, body(command))


def envelope_json(env: dsse.Envelope) -> bytes:
    return json.dumps(env.to_json()).encode()


ADMIN_POST = {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}


def signed_town(led: GovernanceLedger, admin: Ed25519PrivateKey) -> None:
    """Town ZQ bootstrapped with its administrator P-0001's key (signed by it), and community
    ZQ-001 registered by P-0001 (signed)."""
    led.execute(signed(admin, {
        "type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ", "name": "颛桥镇",
        "admin": "P-0001", "admin_name": "王明", "admin_public_key": public(admin),
        "occurred_at": "2025-01-01"}))
    led.execute(signed(admin, {"type": "community.register", **ADMIN_POST, "code": "ZQ-001",
                               "name": "阳光花园", "occurred_at": "2025-01-02"}))


def register(led: GovernanceLedger, admin: Ed25519PrivateKey, person: str,
             key: Ed25519PrivateKey, **extra: Any) -> Any:
    return led.execute(signed(admin, {"type": "person.key.register", **ADMIN_POST,
                                      "town": "ZQ", "person": person, "public_key": public(key),
                                      **extra}))


def appoint(person: str, post: str, name: str = "李华") -> dict[str, Any]:
    return {"type": "post.appoint", **ADMIN_POST, "target_post": post, "person": person,
            "person_name": name, "occurred_at": "2025-01-03"}
