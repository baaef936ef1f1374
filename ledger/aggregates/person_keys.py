"""An official's signing keys: every key registered for a person, and when each was revoked.

One aggregate per person (key ``person_keys:<person id>``). A command signed by the person is
checked against the key that is valid at the command's **record time** (the ledger's clock):
registered before it (by log order), ``valid_from`` at or before it, and not revoked from a
time at or before it. ``verify`` checks every signed event against the same history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, at
from ledger.kernel.errors import AlreadyExistsError, NotFoundError, RuleViolationError
from ledger.kernel.i18n import _


class PersonKeys(LedgerAggregate):
    """The signing keys of one person (``code`` is the person id)."""

    KIND = "person_keys"

    @staticmethod
    def create_id(code: str) -> Any:
        return PersonKeys.id_for(code)

    @event("Registered")
    def __init__(self, code: str, key_id: str, algorithm: str, public_key: str,
                 valid_from: str, envelope: EnvelopeDict) -> None:
        self.code = code
        """The person id, e.g. ``P-0101``."""
        self.keys: dict[str, dict[str, Any]] = {}
        """Key id → ``{algorithm, public_key, valid_from, revoked_from, reason}``."""
        self._add(key_id, algorithm, public_key, valid_from)

    def _add(self, key_id: str, algorithm: str, public_key: str, valid_from: str) -> None:
        self.keys[key_id] = {"algorithm": algorithm, "public_key": public_key,
                             "valid_from": valid_from, "revoked_from": None, "reason": None}

    # Queries.
    def valid_at(self, when: datetime) -> list[str]:
        """Key ids valid at *when*."""
        return [k for k, v in self.keys.items() if self.state_at(k, when) == "valid"]

    def state_at(self, key_id: str, when: datetime) -> str:
        """``valid``, ``not_yet_valid``, ``revoked`` or ``unknown`` for *key_id* at *when*."""
        key = self.keys.get(key_id)
        if key is None:
            return "unknown"
        if key["revoked_from"] is not None and at(key["revoked_from"]) <= when:
            return "revoked"
        if at(key["valid_from"]) > when:
            return "not_yet_valid"
        return "valid"

    # Commands.
    def register(self, key_id: str, algorithm: str, public_key: str, valid_from: datetime,
                 envelope: EnvelopeDict) -> None:
        if key_id in self.keys:
            raise AlreadyExistsError(_("key {key_id} is already registered for {code}").format(
                                         key_id=key_id, code=self.code))
        self._registered(key_id, algorithm, public_key, valid_from.isoformat(), envelope)

    def revoke(self, key_id: str, revoked_from: datetime, reason: str,
               envelope: EnvelopeDict) -> None:
        key = self.keys.get(key_id)
        if key is None:
            raise NotFoundError(_("{code} has no key {key_id}; known: {value}").format(
                                    code=self.code, key_id=key_id,
                                    value=', '.join(self.keys) or 'none'))
        if key["revoked_from"] is not None:
            raise RuleViolationError(_("key {key_id} of {code} was already revoked from "
                                       "{revoked_from}").format(
                                         key_id=key_id, code=self.code,
                                         revoked_from=key['revoked_from']))
        self._revoked(key_id, revoked_from.isoformat(), reason, envelope)

    # Events.
    @event("KeyRegistered")
    def _registered(self, key_id: str, algorithm: str, public_key: str, valid_from: str,
                    envelope: EnvelopeDict) -> None:
        self._add(key_id, algorithm, public_key, valid_from)

    @event("KeyRevoked")
    def _revoked(self, key_id: str, revoked_from: str, reason: str,
                 envelope: EnvelopeDict) -> None:
        self.keys[key_id]["revoked_from"] = revoked_from
        self.keys[key_id]["reason"] = reason
