"""Meetings, resolutions and matters, matching ``ledger meetings``, ``ledger resolutions`` and
``ledger matters``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ledger.feed.models import errors
from ledger.feed.queries import IsoWhen, LedgerDep, json_response, moment, query_router
from ledger.projections.deliberation import matter_list, meeting_list, resolution_items

router = query_router(APIRouter(tags=["deliberation"]))

CODE = Query(max_length=64, description="Only this community, e.g. ZQ-001.")
TEXT = Query(max_length=100)


@router.get("/resolutions", response_model=dict[str, Any], responses=errors(),
            summary="Resolution items as they stood on a day, with their state")
def resolutions(ledger: LedgerDep,
                community: Annotated[str | None, CODE] = None,
                body: Annotated[str | None, TEXT] = None,
                meeting: Annotated[str | None, TEXT] = None,
                overdue: Annotated[bool, Query(description="Only overdue items.")] = False,
                as_of: Annotated[IsoWhen | None, Query(
                    description="The day (default today).")] = None) -> JSONResponse:
    """Like ``ledger resolutions --json``."""
    day: date | None = moment(as_of).date() if as_of is not None else None
    return json_response(resolution_items(ledger, community=community, body=body,
                                          meeting=meeting, overdue=overdue, as_of=day))


@router.get("/meetings", response_model=list[dict[str, Any]], responses=errors(),
            summary="Meetings with attendance and resolution counts")
def meetings(ledger: LedgerDep, community: Annotated[str | None, CODE] = None,
             kind: Annotated[str | None, TEXT] = None) -> JSONResponse:
    """Like ``ledger meetings --json``."""
    return json_response(meeting_list(ledger, community=community, kind=kind))


@router.get("/matters", response_model=list[dict[str, Any]], responses=errors(),
            summary="Matters and topics with their route and outcome")
def matters(ledger: LedgerDep, community: Annotated[str | None, CODE] = None,
            route: Annotated[str | None, TEXT] = None,
            channel: Annotated[str | None, TEXT] = None) -> JSONResponse:
    """Like ``ledger matters --json``."""
    return json_response(matter_list(ledger, community=community, route=route, channel=channel))
