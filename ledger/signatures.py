"""Officials sign what they decide: the signature rules of the write path.

A command reaches :meth:`GovernanceLedger.execute` either bare (a mapping or JSON text) or in
a DSSE envelope (``ledger.integrity.dsse``) whose payload is the command's exact JSON bytes.
:func:`check` decides, at the command's **record time** (the ledger's clock, never a time the
command gives), against the actor's key history (``ledger.aggregates.person_keys``):

==========================================  ==========================================
the command                                 outcome
==========================================  ==========================================
signed by a key of the actor valid now      accepted; each event's envelope keeps the
                                            key id, the signature and the payload digest
signed, but the signature does not verify   refused (``signature_invalid``)
signed by a key not registered for the      refused (``key_unknown``)
actor (or not yet registered)
signed by a revoked key                     refused (``key_revoked``)
signed by a key before its ``valid_from``   refused (``key_not_yet_valid``)
unsigned, the actor has a valid key         refused (``signature_missing``)
unsigned, the actor has no key              refused, unless the ledger runs in the
                                            unsigned mode (``LEDGER_ALLOW_UNSIGNED=1``):
                                            then accepted and marked ``unsigned``
unsigned, a ``system:`` actor               accepted and marked ``system`` (bootstrap
                                            without a key, recorded rule outcomes)
==========================================  ==========================================

``town.bootstrap`` with ``admin_public_key`` must be signed by that key (proof that the
administrator holds it). The signed bytes are stored (``ledger_signed_commands``) so that
``verify`` can re-check every signature against the key history in the log.
"""

from __future__ import annotations

import base64
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from ledger.integrity import dsse
from ledger.kernel.config import now
from ledger.kernel.errors import ConcurrencyError, LedgerError
from ledger.kernel.i18n import _
from ledger.kernel.store import refusals

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ledger.aggregates.person_keys import PersonKeys
    from ledger.kernel.command import Command

log = logging.getLogger("ledger.signatures")

__all__ = ["SignatureError", "check", "record_refusal", "scrub"]


class SignatureError(LedgerError):
    """Raised when a command's signature is missing, invalid, or by a key not valid now."""

    code = "signature_invalid"
    http_status = 403

    def __init__(self, message: str, code: str = "signature_invalid",
                 key_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.key_id = key_id


def _hint_unsigned(actor: str) -> str:
    return (f"sign it with {actor}'s key ('ledger --key-file FILE …', or LEDGER_KEY_FILE; "
            "'ledger key new' makes one)")


def check(cmd: Command, envelope: dsse.Envelope | None, keys: PersonKeys | None, *,
          allow_unsigned: bool, when: datetime | None = None) -> dict[str, Any]:
    """The ``signature`` member of the events' envelope for *cmd*, or raise
    :class:`SignatureError`. *keys* is the actor's key history (None: no key registered)."""
    when = when or now()
    needs_admin_key = "admin_public_key" in type(cmd).model_fields
    if needs_admin_key and not getattr(cmd, "admin_public_key", None) and not allow_unsigned:
        raise SignatureError(
            _("{type}: field 'admin_public_key' is required: the new administrator's own key ('ledger key "
              "new'), so that their commands can be signed").format(type=cmd.type), "signature_missing")
    embedded = getattr(cmd, "admin_public_key", None) if cmd.actor.startswith("system:") else None
    if envelope is None:
        if embedded:
            raise SignatureError(
                _("{type} names the administrator's key: sign it with that key ('ledger init --key-file "
                  "FILE')").format(type=cmd.type), "signature_missing")
        if cmd.actor.startswith("system:"):
            return {"unsigned": "system"}
        valid = keys.valid_at(when) if keys is not None else []
        if valid:
            raise SignatureError(
                f"{cmd.type}: unsigned, but {cmd.actor} has a registered key ({valid[0]}): "
                + _hint_unsigned(cmd.actor), "signature_missing")
        if not allow_unsigned:
            raise SignatureError(
                _("{type}: unsigned commands are refused: {hint_unsigned}; a ledger administrator "
                  "registers the key with 'ledger key register'").format(
                    type=cmd.type, hint_unsigned=_hint_unsigned(cmd.actor)),
                "signature_missing")
        return {"unsigned": "allowed"}
    if envelope.payload_type != dsse.PAYLOAD_TYPE:
        raise SignatureError(_("envelope payloadType {payload_type!r} is not {payload_type2!r}").format(
                                 payload_type=envelope.payload_type[:80],
                                 payload_type2=dsse.PAYLOAD_TYPE), "signature_invalid")
    if not envelope.signatures:
        raise SignatureError(_("{type}: the envelope has no signature").format(
                                 type=cmd.type), "signature_missing")
    if embedded:
        public = dsse.load_public_key("ed25519", embedded)
        kid = dsse.key_id_for("ed25519", embedded)
        for _hint, sig in envelope.signatures:
            if dsse.verify_signature(public, envelope, sig):
                return _signed(kid, "ed25519", envelope, sig)
        raise SignatureError(_("{type}: not signed by the administrator's key {kid}").format(
                                 type=cmd.type, kid=kid),
                             "signature_invalid", kid)
    if cmd.actor.startswith("system:"):
        raise SignatureError(_("{actor} signs nothing: system commands are unsigned").format(
                                 actor=cmd.actor),
                             "signature_invalid")
    known = keys.keys if keys is not None else {}
    if not known:
        hint = envelope.signatures[0][0]
        raise SignatureError(f"{cmd.type} refused: {cmd.actor} has no registered key"
                             + (f" (the envelope names {hint})" if hint else "")
                             + "; a ledger administrator registers it with 'ledger key "
                             "register'; nothing was written", "key_unknown", hint or None)
    problems: list[tuple[str, str, str]] = []
    # keyid is a hint only (DSSE): try the hinted key first, then every key of the actor.
    for hint, sig in envelope.signatures:
        order = ([hint] if hint in known else []) + [k for k in known if k != hint]
        for kid in order:
            key = known[kid]
            try:
                public = dsse.load_public_key(key["algorithm"], key["public_key"])
            except ValueError:
                continue
            if not dsse.verify_signature(public, envelope, sig):
                continue
            assert keys is not None
            state = keys.state_at(kid, when)
            if state == "valid":
                return _signed(kid, key["algorithm"], envelope, sig)
            if state == "revoked":
                problems.append(("key_revoked", kid, f"key {kid} of {cmd.actor} was revoked "
                                 f"from {key['revoked_from']} ({key['reason']})"))
            else:
                problems.append(("key_not_yet_valid", kid, f"key {kid} of {cmd.actor} is valid "
                                 f"only from {key['valid_from']}"))
            break
        else:
            if hint and hint not in known:
                problems.append(("key_unknown", hint, f"key {hint} is not registered for "
                                 f"{cmd.actor} (registered: {', '.join(known) or 'none'})"))
            else:
                problems.append(("signature_invalid", hint or "", "the signature does not "
                                 f"verify with any key of {cmd.actor} over these exact bytes "
                                 "(was the command changed after signing?)"))
    code, kid, reason = problems[0]
    raise SignatureError(_("{type} refused: {reason}; nothing was written").format(
                             type=cmd.type, reason=reason), code, kid or None)


def _signed(kid: str, algorithm: str, envelope: dsse.Envelope, sig: bytes) -> dict[str, Any]:
    return {"key_id": kid, "algorithm": algorithm, "payload_sha256": envelope.payload_sha256,
            "sig": base64.b64encode(sig).decode("ascii")}


_LONG_NUMBERS = re.compile(r"\d{6,}[\dXx]*")


def scrub(reason: str, limit: int = 500) -> str:
    """A refusal's reason without what could be personal data: runs of six or more digits
    (phone and ID-card numbers) are masked; at most *limit* characters."""
    text = _LONG_NUMBERS.sub(lambda m: "#" * len(m.group()), reason)
    return text if len(text) <= limit else text[:limit] + "…"


def record_refusal(engine: Engine, error: LedgerError, *, command_id: str | None,
                   type_: str | None, actor: str | None, channel: str) -> None:
    """Append one refused write to ``ledger_refusals`` in its own transaction (a read-only
    copy, or a database that cannot be reached, logs a warning instead)."""
    if isinstance(error, ConcurrencyError):
        return  # not a refusal: the writer may send it again
    row = {"recorded_at": now().isoformat(), "command_id": (command_id or "")[:128] or None,
           "type": (type_ or "")[:64] or None, "actor": (actor or "")[:64] or None,
           "key_id": getattr(error, "key_id", None), "code": error.code[:64],
           "reason": scrub(str(error)), "channel": channel}
    try:
        from ledger.kernel.store import write_intent

        with write_intent(), engine.begin() as conn:
            conn.execute(insert(refusals), row)
    except Exception as e:  # noqa: BLE001 - recording must never hide the refusal itself
        log.warning("could not record the refusal of %s: %s", type_, str(e).splitlines()[0])
