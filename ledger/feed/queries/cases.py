"""The case board and the warnings board, matching ``ledger cases`` and ``ledger warnings``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ledger.feed.models import errors
from ledger.feed.queries import IsoWhen, LedgerDep, json_response, moment, query_router
from ledger.projections.cases import case_board, warning_board

router = query_router(APIRouter(tags=["cases"]))

CODE = Query(max_length=64, description="Only this community, e.g. ZQ-001.")
AS_OF = Query(description="The board as it was then (default now).")


@router.get("/cases", response_model=dict[str, Any], responses=errors(),
            summary="Every case as it stood at a time: state, due date, whether overdue")
def cases(ledger: LedgerDep, community: Annotated[str | None, CODE] = None,
          status: Annotated[str | None, Query(max_length=40, description="Only this state.")
                            ] = None,
          overdue: Annotated[bool, Query(description="Only cases past their limit.")] = False,
          as_of: Annotated[IsoWhen | None, AS_OF] = None) -> JSONResponse:
    """Like ``ledger cases --json``."""
    return json_response(case_board(ledger, community=community, status=status,
                                    overdue=overdue,
                                    as_of=moment(as_of) if as_of is not None else None))


@router.get("/warnings", response_model=dict[str, Any], responses=errors(),
            summary="The warning colour of every community and problem type")
def warnings(ledger: LedgerDep,
             level: Annotated[Literal["orange", "red", "black"] | None, Query(
                 description="Only this colour.")] = None,
             community: Annotated[str | None, CODE] = None,
             as_of: Annotated[IsoWhen | None, AS_OF] = None) -> JSONResponse:
    """Like ``ledger warnings --json``."""
    return json_response(warning_board(ledger, level=level, community=community,
                                       as_of=moment(as_of) if as_of is not None else None))
