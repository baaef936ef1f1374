"""The Town: town-level roster, departments, and rule parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, Roster
from ledger.kernel.errors import AlreadyExistsError, DepartmentNotFoundError
from ledger.kernel.i18n import _
from ledger.kernel.posts import PostName

#: Departments every town starts with (code → Chinese name); the town may add more.
STANDARD_DEPARTMENTS: dict[str, str] = {
    "police": "公安派出所",
    "urban_management": "城管中队",
    "housing": "房管办",
    "demolition": "拆违办",
    "market_supervision": "市场监管所",
    "safety_supervision": "安监所",
    "comprehensive_enforcement": "综合执法队",
    "health_supervision": "卫监所",
}


class Town(LedgerAggregate):
    """A town (镇): its own posts, its departments and the parameters of its rules."""

    KIND = "town"

    @staticmethod
    def create_id(code: str) -> Any:
        """Town ids derive from the town code."""
        return Town.id_for(code)

    @event("Registered")
    def __init__(self, code: str, name: str, departments: dict[str, str],
                 envelope: EnvelopeDict) -> None:
        self.code = code
        """Town code, e.g. ``ZQ``."""
        self.name = name
        """Town name, e.g. 颛桥镇."""
        self.departments: dict[str, str] = dict(departments)
        """Department code → name."""
        self.terms: dict[str, list[dict[str, Any]]] = {}
        """Post → terms of office (see :class:`ledger.aggregates.base.Roster`)."""
        self.parameters: dict[str, Any] = {}
        """Rule and cadence parameters set by the town (``name`` → JSON value)."""

    @property
    def roster(self) -> Roster:
        """The town-level roster."""
        return Roster(self.terms)

    def check_department(self, code: str) -> None:
        """Raise :class:`DepartmentNotFoundError` unless *code* is one of the town's departments."""
        if code not in self.departments:
            known = ", ".join(sorted(self.departments))
            raise DepartmentNotFoundError(
                _("department {code!r} does not exist in town {code2}; known: {known}").format(
                    code=code, code2=self.code, known=known)
            )

    # Commands.
    def appoint(self, post: PostName, person: str, person_name: str, effective_from: datetime,
                envelope: EnvelopeDict) -> None:
        """Appoint *person* to a town-level *post* from *effective_from*."""
        if post.department:
            self.check_department(post.department)
        self.roster.check_can_appoint(post, person, effective_from)
        self._post_appointed(post.name, person, person_name, effective_from.isoformat(), envelope)

    def vacate(self, post: str, person: str, effective_to: datetime, reason: str,
               envelope: EnvelopeDict) -> None:
        """End *person*'s term in *post* at *effective_to*."""
        self.roster.check_can_vacate(post, person, effective_to)
        self._post_vacated(post, person, effective_to.isoformat(), reason, envelope)

    def add_department(self, code: str, name: str, envelope: EnvelopeDict) -> None:
        """Add a department the town can bring down to its communities."""
        if code in self.departments:
            raise AlreadyExistsError(_("department {code!r} already exists in town {code2}").format(
                                         code=code, code2=self.code))
        self._department_added(self.code, code, name, envelope)

    def set_parameter(self, name: str, value: Any, envelope: EnvelopeDict) -> None:
        """Set a rule or cadence parameter (the change itself is audited)."""
        self._parameter_set(name, value, self.parameters.get(name), envelope)

    # Events.
    @event("PostAppointed")
    def _post_appointed(self, post: str, person: str, person_name: str, effective_from: str,
                        envelope: EnvelopeDict) -> None:
        self.roster.add_term(post, person, person_name, effective_from, envelope)

    @event("PostVacated")
    def _post_vacated(self, post: str, person: str, effective_to: str, reason: str,
                      envelope: EnvelopeDict) -> None:
        self.roster.end_term(post, person, effective_to)

    @event("DepartmentAdded")
    def _department_added(self, town: str, code: str, name: str,
                          envelope: EnvelopeDict) -> None:
        self.departments[code] = name

    @event("ParameterSet")
    def _parameter_set(self, name: str, value: Any, previous: Any,
                       envelope: EnvelopeDict) -> None:
        self.parameters[name] = value
