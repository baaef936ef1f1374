"""Handlers of officials' signing keys: ``person.key.register``, ``.revoke`` and ``.rotate``."""

from __future__ import annotations

from typing import Any

from ledger.aggregates.person_keys import PersonKeys
from ledger.commands.keys import RegisterKey, RevokeKey, RotateKey
from ledger.handlers import Context, handles
from ledger.integrity.dsse import key_id_for
from ledger.kernel.config import now
from ledger.kernel.errors import NotFoundError
from ledger.kernel.i18n import _


def register_key(ctx: Context, person: str, algorithm: str, public_key: str,
                 valid_from: Any = None) -> str:
    """Register *public_key* for *person* (creating their key history); return its key id.
    Called by the key commands and by the bootstrap of a town with its administrator's key."""
    kid = key_id_for(algorithm, public_key)
    when = valid_from or now()
    keys = ctx.find(PersonKeys, person)
    if keys is None:
        keys = PersonKeys(code=person, key_id=kid, algorithm=algorithm, public_key=public_key,
                          valid_from=when.isoformat(), envelope=ctx.envelope)
    else:
        keys.register(kid, algorithm, public_key, when, ctx.envelope)
    ctx.add(keys)
    return kid


@handles(RegisterKey)
def register(ctx: Context, cmd: RegisterKey) -> dict[str, Any]:
    ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    kid = register_key(ctx, cmd.person, cmd.algorithm, cmd.public_key, cmd.valid_from)
    return {"person": cmd.person, "key_id": kid,
            "valid_from": (cmd.valid_from or now()).isoformat()}


def _keys(ctx: Context, person: str) -> PersonKeys:
    keys = ctx.find(PersonKeys, person)
    if keys is None:
        raise NotFoundError(_("{person} has no registered key; register one with 'ledger key "
                              "register'").format(
                                person=person))
    return keys


@handles(RevokeKey)
def revoke(ctx: Context, cmd: RevokeKey) -> dict[str, Any]:
    ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    keys = _keys(ctx, cmd.person)
    when = cmd.revoked_from or now()
    keys.revoke(cmd.key_id, when, cmd.reason, ctx.envelope)
    ctx.add(keys)
    return {"person": cmd.person, "key_id": cmd.key_id, "revoked_from": when.isoformat()}


@handles(RotateKey)
def rotate(ctx: Context, cmd: RotateKey) -> dict[str, Any]:
    ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    keys = _keys(ctx, cmd.person)
    when = now()
    keys.revoke(cmd.old_key_id, when, cmd.reason, ctx.envelope)
    kid = register_key(ctx, cmd.person, cmd.algorithm, cmd.public_key, when)
    return {"person": cmd.person, "revoked": cmd.old_key_id, "key_id": kid,
            "from": when.isoformat()}
