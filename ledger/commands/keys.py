"""Commands about officials' signing keys: register, revoke, rotate (``ledger key …``).

Each is authorised by the authority matrix (``ledger/kernel/authority/keys.toml``: the posts that
appoint people to posts register their keys) and is itself a signed command when the ledger
requires signatures. A key is checked at the **record time** of each command it signs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ledger.kernel.command import Command, PersonId, Text, TownCode, When, register
from ledger.kernel.i18n import _

#: The raw 32-byte Ed25519 public key in standard base64.
PublicKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$",
                                 description="Raw Ed25519 public key, standard base64 "
                                             "(44 characters); 'ledger key new' prints it")]
#: A key id: ``<algorithm>:<16 hex digits>`` (derived from the key: 'ledger key new' prints it).
KeyId = Annotated[str, Field(pattern=r"^[a-z0-9]{2,16}:[0-9a-f]{16}$",
                             description="Key id, e.g. ed25519:3f2a9c0d1e2b4a5c")]
Algorithm = Literal["ed25519"]


def _check_key_id(algorithm: str, public_key: str, key_id: str | None) -> None:
    from ledger.integrity.dsse import key_id_for

    derived = key_id_for(algorithm, public_key)
    if key_id is not None and key_id != derived:
        raise ValueError(_("key_id {key_id} does not match the public key (its id is {derived})").format(
                             key_id=key_id, derived=derived))


@register
class RegisterKey(Command):
    """Register a person's public signing key, valid from a time (default: now)."""

    type: Literal["person.key.register"] = "person.key.register"
    town: TownCode = Field(description="The town whose administration registers the key")
    person: PersonId
    public_key: PublicKey
    algorithm: Algorithm = "ed25519"
    key_id: KeyId | None = Field(default=None, description="Default: derived from the key")
    valid_from: When | None = Field(default=None, description=(
        "From when the key may sign (record time, the ledger's clock); default now"))

    @model_validator(mode="after")
    def _key_id_matches(self) -> RegisterKey:
        _check_key_id(self.algorithm, self.public_key, self.key_id)
        return self


@register
class RevokeKey(Command):
    """Revoke a person's key from a time (default: now); commands it signs from then on are
    refused, and ``verify`` reports any event it signed from then on."""

    type: Literal["person.key.revoke"] = "person.key.revoke"
    town: TownCode
    person: PersonId
    key_id: KeyId
    reason: Text = Field(min_length=1, description="Why (lost, compromised, left office…)")
    revoked_from: When | None = Field(default=None, description="Default now")


@register
class RotateKey(Command):
    """Replace a person's key: the old one is revoked and the new one valid from now."""

    type: Literal["person.key.rotate"] = "person.key.rotate"
    town: TownCode
    person: PersonId
    old_key_id: KeyId
    public_key: PublicKey
    algorithm: Algorithm = "ed25519"
    key_id: KeyId | None = None
    reason: Text = Field(default="rotation", min_length=1)

    @model_validator(mode="after")
    def _key_id_matches(self) -> RotateKey:
        _check_key_id(self.algorithm, self.public_key, self.key_id)
        return self
