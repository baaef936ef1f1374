"""Auditors' queries, matching ``ledger audit decision``, ``ledger audit actor`` and
``ledger history KEY --as-of/--effective``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger import audit
from ledger.feed.models import errors
from ledger.feed.queries import IsoWhen, LedgerDep, json_response, moment, query_router

router = query_router(APIRouter(tags=["audit"]))


class Decision(BaseModel):
    """Who decided one event, in which post, appointed by whom, on what basis."""

    model_config = ConfigDict(extra="allow")

    event: dict[str, Any] = Field(description="The event (public shape, without `schema`).")
    actor: str | None
    post: str | None
    basis: str | None
    occurred_at: str | None
    recorded_at: str
    command: str | None
    command_id: str | None
    authority_chain: list[dict[str, Any]] = Field(
        description="Each appointment back to the bootstrap.")
    same_command: list[dict[str, Any]] = Field(
        description="The other events the same command wrote.")


class Action(BaseModel):
    """One thing a person did."""

    model_config = ConfigDict(extra="allow")

    position: int
    occurred_at: str | None
    command: str | None
    type: str
    post: str | None
    command_id: str | None


class StateView(BaseModel):
    """An aggregate as the ledger knew it at a time, or as in effect at a business time."""

    model_config = ConfigDict(extra="allow")

    key: str
    as_of: str
    view: str = Field(description="recorded or effective")
    events: list[dict[str, Any]]
    state: dict[str, Any]
    note: str
    later_events: int


REF = Annotated[str, Path(
    pattern=r"^(\d{1,18}|[A-Za-z0-9:_.\-/]{1,200}@\d{1,9})$", examples=["ZQ-001@2"],
    description="A log position (42) or KEY@VERSION (ZQ-001@3).")]
PERSON = Annotated[str, Path(pattern=r"^[A-Za-z0-9:_.\-]{1,64}$", examples=["P-0001"],
                             description="A person id, e.g. P-0001.")]


@router.get("/audit/decision/{ref}", response_model=Decision, responses=errors(404),
            summary="Who decided an event, and on what authority")
def decision(ledger: LedgerDep, ref: REF) -> JSONResponse:
    """Like ``ledger audit decision EVENT-REF --json``."""
    return json_response(audit.decision(ledger, ref))


@router.get("/audit/actor/{person}", response_model=list[Action], responses=errors(),
            summary="Everything a person did")
def actor(ledger: LedgerDep, person: PERSON,
          start: Annotated[IsoWhen | None, Query(alias="from", description="From this time.")
                           ] = None,
          end: Annotated[IsoWhen | None, Query(alias="to", description="Up to (not including) "
                                                                        "this time.")] = None,
          ) -> JSONResponse:
    """Like ``ledger audit actor PERSON --from T --to T --json``."""
    rows = audit.actor_actions(ledger, person, moment(start) if start is not None else None,
                               moment(end) if end is not None else None)
    return json_response(rows)


@router.get("/history/{key}/state", response_model=StateView, responses=errors(404),
            summary="An aggregate's events and state at a time")
def history_state(ledger: LedgerDep,
                  key: Annotated[str, Path(min_length=1, max_length=200,
                                           examples=["community:ZQ-001"])],
                  at: Annotated[IsoWhen, Query(examples=["2025-03-01"], description=(
                      "The time: recorded time for view=recorded, business time (occurred_at) "
                      "for view=effective."))],
                  view: Annotated[Literal["recorded", "effective"], Query(
                      description="What the ledger had recorded by then, or what was in "
                                  "effect by then.")] = "recorded",
                  ) -> JSONResponse:
    """Like ``ledger history KEY --as-of T`` (view=recorded) or ``--effective T`` with ``--json``."""
    when = moment(at)
    return json_response(audit.as_of(ledger, key, when, effective=view == "effective"))


