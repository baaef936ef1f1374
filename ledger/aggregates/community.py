"""The Community (居民区): registration and the 1+3+N+X roster of posts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, Roster
from ledger.kernel.posts import PostName


class Community(LedgerAggregate):
    """A residential area (居民区) and who holds which of its posts, over time."""

    KIND = "community"

    @staticmethod
    def create_id(code: str) -> Any:
        """Community ids derive from the community code."""
        return Community.id_for(code)

    @event("Registered")
    def __init__(self, code: str, name: str, town: str, address: str,
                 envelope: EnvelopeDict) -> None:
        self.code = code
        """Community code, e.g. ``ZQ-001``."""
        self.name = name
        """Community name, e.g. 阳光花园 (Sunny Garden)."""
        self.town = town
        """Code of the town it belongs to."""
        self.address = address
        """Address or area description (may be empty)."""
        self.terms: dict[str, list[dict[str, Any]]] = {}
        """Post → terms of office (see :class:`ledger.aggregates.base.Roster`)."""

    @property
    def roster(self) -> Roster:
        """The community's roster."""
        return Roster(self.terms)

    def appoint(self, post: PostName, person: str, person_name: str, effective_from: datetime,
                envelope: EnvelopeDict) -> None:
        """Appoint *person* to a community *post* from *effective_from*."""
        self.roster.check_can_appoint(post, person, effective_from)
        self._post_appointed(post.name, person, person_name, effective_from.isoformat(), envelope)

    def vacate(self, post: str, person: str, effective_to: datetime, reason: str,
               envelope: EnvelopeDict) -> None:
        """End *person*'s term in *post* at *effective_to*."""
        self.roster.check_can_vacate(post, person, effective_to)
        self._post_vacated(post, person, effective_to.isoformat(), reason, envelope)

    @event("PostAppointed")
    def _post_appointed(self, post: str, person: str, person_name: str, effective_from: str,
                        envelope: EnvelopeDict) -> None:
        self.roster.add_term(post, person, person_name, effective_from, envelope)

    @event("PostVacated")
    def _post_vacated(self, post: str, person: str, effective_to: str, reason: str,
                      envelope: EnvelopeDict) -> None:
        self.roster.end_term(post, person, effective_to)
