"""Read models name the events they read as text (they never import an aggregate); these
lists stay whole and true against the aggregates themselves."""

from __future__ import annotations

import pytest
from eventsourcing.domain import CanMutateAggregate

from ledger.aggregates.case import FINISHED as CASE_FINISHED
from ledger.catalogue import aggregate_classes
from ledger.projections.appraisal import AppraisalProjection
from ledger.projections.cases import FINISHED
from ledger.projections.owners import OwnersProjection

EVENTS = {f"{agg.__name__}.{name}" for agg in aggregate_classes()
          for name, value in vars(agg).items()
          if name != "Event" and isinstance(value, type) and issubclass(value, CanMutateAggregate)}


def _all_of(kind: str) -> set[str]:
    return {e for e in EVENTS if e.startswith(f"{kind}.")}


@pytest.mark.parametrize(("projection", "kinds"), [
    (AppraisalProjection, ("AppraisalYear",)),
    (OwnersProjection, ("OwnersCommittee", "PropertyFirm")),
])
def test_a_read_model_of_whole_aggregates_names_every_event_of_them(
        projection: type, kinds: tuple[str, ...]) -> None:
    wanted = set().union(*(_all_of(k) for k in kinds))
    assert set(projection.topics) == wanted


def test_every_topic_a_read_model_names_is_a_real_event() -> None:
    from ledger.domains import load_projections
    from ledger.projections import REGISTRY

    load_projections()
    for name, cls in REGISTRY.items():
        unknown = set(cls.topics) - EVENTS
        assert not unknown, f"read model {name} names events no aggregate has: {unknown}"


def test_the_case_board_finishes_cases_in_the_states_the_lifecycle_does() -> None:
    assert FINISHED == CASE_FINISHED
