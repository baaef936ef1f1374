"""Property firms' credit file and the town's bidding blacklist, matching ``ledger credit-file``
and ``ledger blacklist``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ledger.feed.models import errors
from ledger.feed.queries import LedgerDep, json_response, query_router
from ledger.projections.owners import blacklist, credit_file

router = query_router(APIRouter(tags=["property firms"]))


@router.get("/firms/credit-file", response_model=list[dict[str, Any]], responses=errors(),
            summary="Each property firm with its contracts and credit-file entries")
def firms_credit_file(ledger: LedgerDep, firm: Annotated[str | None, Query(
        pattern=r"^[0-9A-Z]{18}$", description="Only this firm (unified social credit code).")
        ] = None) -> JSONResponse:
    """Registrations, contracts, eliminations, credit records, bans and district reports."""
    return json_response(credit_file(ledger, firm))


@router.get("/firms/blacklist", response_model=list[dict[str, Any]], responses=errors(),
            summary="Firms banned from bidding in the town")
def firms_blacklist(ledger: LedgerDep) -> JSONResponse:
    """Each ban with its record and whether it was reported to the district platform."""
    return json_response(blacklist(ledger))
