"""The cases read model listens to every event the Case aggregate defines."""

from __future__ import annotations

from ledger.aggregates.case import Case
from ledger.catalogue import event_classes
from ledger.projections.cases import CasesProjection


def test_the_cases_projection_reads_every_case_event() -> None:
    names = {f"Case.{name}" for name, _cls in event_classes(Case)}
    assert names <= CasesProjection.topics
