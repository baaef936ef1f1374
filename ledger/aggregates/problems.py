"""The ProblemFile: one community's index of problem cases and its template documents."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate


class ProblemFile(LedgerAggregate):
    """A community's problem file (问题档案): which cases it has, and documents filed on it."""

    KIND = "problems"

    @staticmethod
    def create_id(code: str) -> Any:
        """Problem-file ids derive from the community code."""
        return ProblemFile.id_for(code)

    @event("Opened")
    def __init__(self, code: str, town: str, envelope: EnvelopeDict) -> None:
        self.code = code
        """Community code."""
        self.town = town
        """Town code."""
        self.cases: dict[str, str] = {}
        """Case reference → problem type, for every case received in the community."""
        self.documents = 0
        """Template documents filed on the community."""

    def refs_of(self, problem_type: str) -> list[str]:
        """The references of the community's cases of *problem_type*."""
        return sorted(ref for ref, kind in self.cases.items() if kind == problem_type)

    def track(self, ref: str, problem_type: str, envelope: EnvelopeDict) -> None:
        """Add a newly received case to the index."""
        self._case_indexed(ref, problem_type, envelope)

    def file_document(self, template: str, problem_type: str | None, fields: dict[str, Any],
                      envelope: EnvelopeDict) -> None:
        """Attach one of the five template documents to the community."""
        self._document_filed(template, problem_type, fields, envelope)

    @event("CaseIndexed")
    def _case_indexed(self, ref: str, problem_type: str, envelope: EnvelopeDict) -> None:
        self.cases[ref] = problem_type

    @event("DocumentFiled")
    def _document_filed(self, template: str, problem_type: str | None, fields: dict[str, Any],
                        envelope: EnvelopeDict) -> None:
        self.documents += 1
