"""The ResponsibilityList (工作清单): per problem type and stage, the duties of each party."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate
from ledger.kernel.errors import NotFoundError, RuleViolationError
from ledger.kernel.i18n import _


class DutyNotListedError(NotFoundError):
    """Raised when a duty failure cites a duty the current responsibility list does not hold."""

    code = "duty_not_listed"


class ResponsibilityListError(RuleViolationError):
    """Raised when a responsibility list is malformed or recorded out of order."""

    code = "responsibility_list"


class ResponsibilityList(LedgerAggregate):
    """A town's responsibility lists, versioned, and the duty failures recorded against them."""

    KIND = "duties"

    @staticmethod
    def create_id(code: str) -> Any:
        """Responsibility-list ids derive from the town code."""
        return ResponsibilityList.id_for(code)

    @event("Started")
    def __init__(self, code: str, envelope: EnvelopeDict) -> None:
        self.code = code
        """Town code."""
        self.list_version = 0
        """Version of the list in force (0: none issued yet)."""
        self.entries: list[dict[str, Any]] = []
        """The list in force: problem_type, stage, party, duties [{code, text}]."""
        self.failures: list[dict[str, Any]] = []
        """Duty failures recorded: party, community, problem_type, year."""

    def duty(self, problem_type: str, stage: str, party: str, code: str) -> dict[str, Any]:
        """The listed duty; :class:`DutyNotListedError` if the list in force has none."""
        for e in self.entries:
            if (e["problem_type"], e["stage"], e["party"]) == (problem_type, stage, party):
                for d in e["duties"]:
                    if d["code"] == code:
                        return dict(d)
                known = ", ".join(d["code"] for d in e["duties"])
                raise DutyNotListedError(
                    _("responsibility list v{list_version} gives {party} no duty {code!r} for "
                      "{problem_type}/{stage}; its duties there: {known}").format(
                        list_version=self.list_version, party=party, code=code,
                        problem_type=problem_type, stage=stage, known=known))
        raise DutyNotListedError(
            _("responsibility list v{list_version} lists no duties of {party} for {problem_type}/{stage}; "
              "issue a list that does (duty issue)").format(
                list_version=self.list_version, party=party, problem_type=problem_type,
                stage=stage))

    def failure_events(self, community: str, problem_type: str, year: int) -> list[str]:
        """``duties:<town>@<version>`` of each failure :meth:`failures_in` counts."""
        return [f"duties:{self.code}@{f.get('version', 1)}" for f in self.failures
                if f["community"] == community and f["problem_type"] == problem_type
                and f["year"] == year]

    def failures_in(self, community: str, problem_type: str, year: int) -> int:
        """Duty failures recorded in *community* for *problem_type* in *year*."""
        return sum(1 for f in self.failures if f["community"] == community
                   and f["problem_type"] == problem_type and f["year"] == year)

    def issue(self, entries: list[dict[str, Any]], effective_from: str,
              envelope: EnvelopeDict) -> None:
        """Issue a new version of the list (replacing the one in force)."""
        seen: set[tuple[str, str, str]] = set()
        for e in entries:
            key = (e["problem_type"], e["stage"], e["party"])
            if key in seen:
                raise ResponsibilityListError(
                    _("the list names {key} twice; merge its duties into one entry").format(
                        key='/'.join(key)))
            seen.add(key)
        self._issued(self.list_version + 1, entries, effective_from, envelope)

    def record_failure(self, party: str, community: str, problem_type: str, stage: str,
                       duty_code: str, case: str | None, description: str, year: int,
                       envelope: EnvelopeDict) -> None:
        """Record that *party* failed a listed duty (counts against it at the year's appraisal)."""
        duty = self.duty(problem_type, stage, party, duty_code)
        self._failure_recorded(party, community, problem_type, stage, duty_code, duty["text"],
                               self.list_version, case, description, year, envelope)

    @event("Issued")
    def _issued(self, version: int, entries: list[dict[str, Any]], effective_from: str,
                envelope: EnvelopeDict) -> None:
        self.list_version = version
        self.entries = [dict(e) for e in entries]

    @event("DutyFailureRecorded")
    def _failure_recorded(self, party: str, community: str, problem_type: str, stage: str,
                          duty_code: str, duty_text: str, list_version: int, case: str | None,
                          description: str, year: int, envelope: EnvelopeDict) -> None:
        self.failures.append({"party": party, "community": community,
                              "problem_type": problem_type, "year": year,
                              "version": self.version + 1})
