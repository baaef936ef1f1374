"""Residents' personal data: sealed per data subject, erasable, never in the logs.

After ``erase-subject`` the data can no longer be read, every other event stays readable, and
``verify`` still passes (the log hashes the ciphertext, which erasure does not touch).
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.integrity.checkpoint import format_verifier_key
from ledger.integrity.sealer import log_origin, seal
from ledger.integrity.verifier import verify
from ledger.kernel import privacy
from ledger.kernel.errors import LedgerError
from ledger.kernel.logs import configure
from tests.case_world import PEACE_STAFF, receive, run, world

REF = "ZQ-2025-000042"
NAME, PHONE = "钱女士", "13912345678"


def test_erasing_a_caller_leaves_every_event_readable_and_the_log_verifying(
        ledger: GovernanceLedger) -> None:
    world(ledger)
    receive(ledger, REF, "2025-03-03T09:00:00", caller={"name": NAME, "phone": PHONE,
                                                          "subject": "HOTLINE-CALLER-7"})
    run(ledger, "case.accept", PEACE_STAFF, "2025-03-03T10:00:00", ref=REF)
    key = Ed25519PrivateKey.generate()
    seal(ledger, key=key)
    before = [e.public() for e in ledger.history(REF)]
    sealed = ledger.history(REF)[0].data["caller"]
    assert sealed["subject"] == "HOTLINE-CALLER-7"
    assert NAME not in json.dumps(before, ensure_ascii=False)
    with ledger.engine.connect() as conn:
        assert privacy.unseal(conn, sealed) == {"name": NAME, "phone": PHONE}

    result = CliRunner().invoke(cli, ["--db", ledger.settings.db_url, "erase-subject",
                                      "HOTLINE-CALLER-7"])
    assert result.exit_code == 0, result.output

    with ledger.engine.connect() as conn:
        assert privacy.unseal(conn, sealed) is None
    assert [e.public() for e in ledger.history(REF)] == before   # every event still readable
    vk = format_verifier_key(log_origin(ledger), key.public_key())
    assert verify(ledger, verifier_key=vk).ok                     # and the log still verifies


def test_logs_never_contain_a_callers_personal_data(ledger: GovernanceLedger) -> None:
    world(ledger)
    configure("info")
    with capture_logs() as logs:
        receive(ledger, REF, "2025-03-03T09:00:00", caller={"name": NAME, "phone": PHONE})
        with pytest.raises(LedgerError):  # refused as a duplicate reference; logged too
            receive(ledger, REF, "2025-03-03T09:00:00", caller={"name": NAME, "phone": PHONE})
        ledger.status()
    configure("warning")
    text = json.dumps(logs, ensure_ascii=False, default=str)
    assert logs and NAME not in text and PHONE not in text


def test_erasing_a_caller_blanks_the_signed_bytes_that_carried_their_data(
        ledger: GovernanceLedger) -> None:
    """A signed command keeps its exact bytes for verify; those bytes hold the caller in clear,
    so erasure blanks them: the signature stays on the events and verify counts it as erased,
    not forged."""
    from ledger.kernel.store import signed_commands
    from tests.signing import public, signed

    world(ledger)  # unsigned mode: the administrator has no key
    staff = Ed25519PrivateKey.generate()
    ledger.execute({"type": "person.key.register", "actor": "P-0001",
                    "post": "town.ledger_admin@ZQ", "town": "ZQ", "person": "P-0005",
                    "public_key": public(staff)})
    env = signed(staff, {"type": "case.receive", "actor": "P-0005",
                         "post": "town.peace_office.staff@ZQ", "occurred_at": "2025-03-03",
                         "ref": REF, "community": "ZQ-001", "channel": "hotline",
                         "problem_type": "illegal_construction", "location": "阳光花园12号楼",
                         "description": "屋顶违法搭建",
                         "caller": {"name": NAME, "phone": PHONE, "subject": "CALLER-9"}})
    written = ledger.execute(env).positions
    with ledger.engine.connect() as conn:
        stored = conn.execute(sa.select(signed_commands.c.payload)).scalars().all()
    assert [PHONE.encode() in bytes(p) for p in stored] == [True]
    key = Ed25519PrivateKey.generate()
    seal(ledger, key=key)
    vk = format_verifier_key(log_origin(ledger), key.public_key())
    first = verify(ledger, verifier_key=vk).signatures
    assert (first.erased, first.signed, first.commands) == (0, len(written), 1)

    erased = privacy.erase(ledger, "CALLER-9")
    assert erased["signed_commands_blanked"] == 1
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(signed_commands.c.payload)).scalars().all() == [None]
    checked = verify(ledger, verifier_key=vk)
    assert checked.findings == []
    assert checked.signatures.erased == len(written)
