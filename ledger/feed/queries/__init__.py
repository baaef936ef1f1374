"""Query routers of the feed: one module per domain, each registering an ``APIRouter``.

A domain adds ``ledger/feed/queries/<domain>.py``::

    from fastapi import APIRouter, Depends
    from ledger.feed.queries import LedgerDep, query_router
    from ledger.feed.models import errors

    router = query_router(APIRouter(tags=["appraisal"]))

    @router.get("/appraisal/{year}", responses=errors(404))
    def appraisal_table(year: int, ledger: LedgerDep) -> dict[str, Any]:
        return ledger.appraisal_table(year)

Handlers are plain (synchronous) functions: they run in a worker thread. Raise a
:class:`~ledger.kernel.errors.LedgerError` subclass to answer with its ``http_status`` and ``code``.
Routes must only read.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from ledger.application import GovernanceLedger
from ledger.kernel.config import localize
from ledger.kernel.i18n import _

#: Every registered query router, in registration order.
ROUTERS: list[APIRouter] = []


def query_router(router: APIRouter) -> APIRouter:
    """Register *router* with the feed application."""
    ROUTERS.append(router)
    return router


def discover() -> list[APIRouter]:
    """Every query router of every domain (importing a domain's query module registers it)."""
    import importlib

    from ledger.domains import query_modules

    for module in query_modules():
        importlib.import_module(module)
    return list(ROUTERS)


def get_ledger(request: Request) -> GovernanceLedger:
    """The ledger the application serves."""
    ledger: GovernanceLedger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[GovernanceLedger, Depends(get_ledger)]


def _iso_text(value: object) -> object:
    """Only ISO text: no Unix timestamps (which pydantic would otherwise accept)."""
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return value
    raise ValueError(_("expected an ISO date or datetime, e.g. 2025-03-01 or 2025-03-01T09:30+08:00"))


IsoWhen = Annotated[datetime | date, BeforeValidator(_iso_text)]
"""A query parameter holding an ISO date or datetime (use :func:`moment` on it)."""

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def moment(value: datetime | date) -> datetime:
    """Naive times and bare dates in LEDGER_TZ; clamped to 1900–9000 (nothing lies outside)."""
    when = localize(value)
    try:
        return min(max(when, EARLIEST), LATEST)
    except OverflowError:  # pragma: no cover - offsets at datetime.min/max
        return EARLIEST if when.year < 2000 else LATEST


def json_response(obj: object) -> JSONResponse:
    """A JSON answer for plain query data (UUIDs, datetimes and decimals become text)."""
    return JSONResponse(jsonable_encoder(obj))
