"""The log's identity: each origin the ledger's log has had after the first, one aggregate
per origin, created by ``log.new_origin`` (``ledger restore --new-origin``)."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate


class LogOrigin(LedgerAggregate):
    """One origin of the log, started on purpose; its key is the origin itself."""

    KIND = "log_origin"

    @staticmethod
    def create_id(code: str) -> Any:
        return LogOrigin.id_for(code)

    @event("Started")
    def __init__(self, code: str, town: str, previous_origin: str, previous_size: int,
                 previous_root: str | None, reason: str, envelope: EnvelopeDict) -> None:
        self.code = code
        """The new origin, e.g. ``zq-governance-ledger/ZQ/5f0c…``."""
        self.town = town
        self.previous_origin = previous_origin
        """The origin the log had before."""
        self.previous_size = previous_size
        """Tree size of the previous origin's last signed checkpoint."""
        self.previous_root = previous_root
        """Its root hash (base64), or None when it had none."""
        self.reason = reason
