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
:class:`~ledger.errors.LedgerError` subclass to answer with its ``http_status`` and ``code``.
Routes must only read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ledger.application import GovernanceLedger

#: Every registered query router, in registration order.
ROUTERS: list[APIRouter] = []


def query_router(router: APIRouter) -> APIRouter:
    """Register *router* with the feed application."""
    ROUTERS.append(router)
    return router


def discover() -> list[APIRouter]:
    """Every query router (importing this package's modules registers them)."""
    from ledger.commands import import_submodules

    import_submodules(__name__)
    return list(ROUTERS)


def get_ledger(request: Request) -> GovernanceLedger:
    """The ledger the application serves."""
    ledger: GovernanceLedger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[GovernanceLedger, Depends(get_ledger)]
