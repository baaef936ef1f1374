"""What every aggregate shares: readable keys, the envelope field, and the post roster."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.kernel.errors import (
    ImplausibleTimeError,
    PostNotHeldError,
    PostOccupiedError,
    RuleViolationError,
)
from ledger.kernel.i18n import _
from ledger.kernel.posts import PostName

#: Namespace of every aggregate id: ``uuid5(NAMESPACE, "<kind>:<key>")``.
NAMESPACE = uuid5(NAMESPACE_URL, "urn:zq-governance-ledger")

#: The audit envelope as stored on each event (JSON object; see ledger.envelope).
EnvelopeDict = dict[str, Any]


@lru_cache(maxsize=65_536)
def aggregate_id(kind: str, key: str) -> UUID:
    """The id of the aggregate of *kind* with readable *key*."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


class LedgerAggregate(Aggregate):
    """Base of the ledger's aggregates: a kind, a readable key, and its id derived from both."""

    KIND: ClassVar[str] = ""
    """Prefix of the readable key (``community``, ``town``, ``case``…)."""

    @property
    def key(self) -> str:
        """The readable key (community code, town code, case reference…)."""
        return str(getattr(self, "code"))  # noqa: B009 - every aggregate names its key "code"

    @classmethod
    def id_for(cls, key: str) -> UUID:
        """The id of the aggregate of this kind with readable *key*."""
        return aggregate_id(cls.KIND, key)


def at(text: str) -> datetime:
    """Parse a stored ISO datetime."""
    return datetime.fromisoformat(text)


def check_not_before(when: datetime, since: str | None, what: str,
                     why: str = "a command cannot act on something that did not exist yet",
                     ) -> None:
    """Raise :class:`ImplausibleTimeError` naming both dates if *when* is before *since* (the
    moment *what* came to exist, e.g. ``"appraisal year ZQ/2025 was opened"``)."""
    if since and when < at(since):
        raise ImplausibleTimeError(
            _("the command is dated {when}, before {what} ({since}); {why}").format(
                when=when.isoformat(), what=what, since=since, why=why))


#: Each terms list looked up by person (:meth:`Roster.terms_of`): id of the list -> (the list,
#: how many of its terms are indexed, person -> their terms in order). The entry holds the
#: list, so its id cannot be reused while the entry lives; terms are only ever appended to a
#: list and never change person, so the index is extended, never rebuilt.
_BY_PERSON: dict[int, tuple[list[dict[str, Any]], int, dict[str, list[dict[str, Any]]]]] = {}
_BY_PERSON_MAX = 4096


def _in_force(term: dict[str, Any], when: datetime) -> bool:
    """Whether the term of office *term* is in force at *when*."""
    return at(term["effective_from"]) <= when and (
        term["effective_to"] is None or when < at(term["effective_to"]))


class Roster:
    """The appointment history of posts within one scope (a town or a community).

    ``terms[post]`` lists every term of office: who, from when, until when (``None`` while
    held), and the position of the event that appointed them. Kept as plain JSON-able dicts
    so snapshots serialise without custom codecs.
    """

    def __init__(self, terms: dict[str, list[dict[str, Any]]]) -> None:
        self.terms = terms

    def terms_of(self, post: str, person: str) -> list[dict[str, Any]]:
        """The terms of *post* held by *person*, oldest first: a lookup, not a scan of every
        holder the post ever had (a community's volunteers grow with the years)."""
        terms = self.terms.get(post)
        if not terms:
            return []
        if len(terms) < 8:
            return [t for t in terms if t["person"] == person]
        entry = _BY_PERSON.get(id(terms))
        if entry is None or entry[0] is not terms:
            if len(_BY_PERSON) >= _BY_PERSON_MAX:
                _BY_PERSON.clear()
            entry = (terms, 0, {})
        indexed, by_person = entry[1], entry[2]
        if indexed < len(terms):
            for t in terms[indexed:]:
                by_person.setdefault(t["person"], []).append(t)
            entry = (terms, len(terms), by_person)
        _BY_PERSON[id(terms)] = entry
        return by_person.get(person, [])

    def holders(self, post: str, when: datetime) -> list[dict[str, Any]]:
        """Terms of *post* in force at *when*."""
        return [t for t in self.terms.get(post, []) if _in_force(t, when)]

    def holds(self, person: str, post: str, when: datetime) -> bool:
        """Whether *person* held *post* at *when*."""
        return self.term_of(person, post, when) is not None

    def term_of(self, person: str, post: str, when: datetime) -> dict[str, Any] | None:
        """The term in which *person* held *post* at *when*, if any."""
        return next((t for t in self.terms_of(post, person) if _in_force(t, when)), None)

    def check_can_appoint(self, post: PostName, person: str, effective_from: datetime) -> None:
        """Raise if *person* cannot take *post* from *effective_from*.

        A person cannot hold the same post twice at once; a single-holder post cannot have two
        holders whose terms overlap.
        """
        # Others' terms never block a post with several holders.
        terms = self.terms_of(post.name, person) if post.kind.multi else \
            self.terms.get(post.name, [])
        for t in terms:
            open_after = t["effective_to"] is None or at(t["effective_to"]) > effective_from
            if not open_after:
                continue
            if t["person"] == person:
                raise RuleViolationError(
                    _("{person} already holds {name} (since {effective_from})").format(
                        person=person, name=post.name, effective_from=t['effective_from'])
                )
            if not post.kind.multi:
                raise PostOccupiedError(
                    _("{name} is held by {person} ({person_name}) since {effective_from}; vacate it first "
                      "(post vacate)").format(
                        name=post.name, person=t['person'], person_name=t['person_name'],
                        effective_from=t['effective_from'])
                )

    def open_term(self, post: str, person: str) -> dict[str, Any]:
        """The term of *post* held by *person* that has no end yet; raise if none."""
        for t in self.terms_of(post, person):
            if t["effective_to"] is None:
                return t
        raise PostNotHeldError(_("{person} does not hold {post}; nothing to vacate").format(
                                   person=person, post=post))

    def check_can_vacate(self, post: str, person: str, effective_to: datetime) -> None:
        """Raise unless *person* holds *post* with an open term that began before *effective_to*."""
        term = self.open_term(post, person)
        if effective_to <= at(term["effective_from"]):
            raise RuleViolationError(
                _("effective_to {effective_to} is not after the start of {person}'s term in {post} "
                  "({effective_from})").format(
                    effective_to=effective_to.isoformat(), person=person, post=post,
                    effective_from=term['effective_from'])
            )

    # Mutators, called from the aggregates' private event methods only.
    def add_term(self, post: str, person: str, person_name: str, effective_from: str,
                 basis: dict[str, Any]) -> None:
        self.terms.setdefault(post, []).append({
            "person": person,
            "person_name": person_name,
            "effective_from": effective_from,
            "effective_to": None,
            "appointed_by": basis.get("actor"),
            "appointed_in": basis.get("post"),
            "command_id": basis.get("command_id"),
        })

    def end_term(self, post: str, person: str, effective_to: str) -> None:
        self.open_term(post, person)["effective_to"] = effective_to
