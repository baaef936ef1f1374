"""Queries matching the CLI's ``status``, ``roster`` and ``history``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ledger.config import localize
from ledger.feed.log import public_event
from ledger.feed.models import PublicEvent, errors
from ledger.feed.queries import LedgerDep, query_router

router = query_router(APIRouter(tags=["roster"]))


class PostTerm(BaseModel):
    """One term of one person in one post."""

    model_config = ConfigDict(extra="allow")

    post: str = Field(description="<body>.<role>@<scope>")
    person: str
    person_name: str
    scope: str
    community: str | None
    body: str
    kind: str
    effective_from: str
    effective_to: str | None
    appointed_by: str | None
    appointed_in: str | None
    basis: str | None
    also_holds: list[str] = Field(description="Other posts the person held at that time.")


class TownStatus(BaseModel):
    """A town and who holds its posts now."""

    model_config = ConfigDict(extra="allow")

    code: str
    name: str
    registered_at: str
    posts: list[PostTerm]


class CommunityStatus(BaseModel):
    """A community and who holds its posts now."""

    model_config = ConfigDict(extra="allow")

    code: str
    town: str
    name: str
    address: str
    registered_at: str
    registered_by: str
    posts: list[PostTerm]


class Status(BaseModel):
    """What ``ledger status --json`` prints."""

    as_of: str
    towns: list[TownStatus]
    communities: list[CommunityStatus]


class CommunityRow(BaseModel):
    """A community's registration."""

    model_config = ConfigDict(extra="allow")

    code: str
    town: str
    name: str
    address: str
    registered_at: str
    registered_by: str


class Roster(BaseModel):
    """What ``ledger roster COMMUNITY --json`` prints."""

    community: CommunityRow
    as_of: str
    posts: list[PostTerm]


CODE = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                          description="Community code, e.g. ZQ-001.", examples=["ZQ-001"])]


def _iso_text(value: object) -> object:
    """Only ISO text: no Unix timestamps (which pydantic would otherwise accept)."""
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return value
    raise ValueError("expected an ISO date or datetime, e.g. 2025-03-01 or 2025-03-01T09:30+08:00")


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _when(value: datetime | date) -> datetime:
    """Naive times and bare dates in LEDGER_TZ; clamped to 1900–9000 (nothing lies outside)."""
    when = localize(value)
    try:
        return min(max(when, EARLIEST), LATEST)
    except OverflowError:  # pragma: no cover - offsets at datetime.min/max
        return EARLIEST if when.year < 2000 else LATEST


@router.get("/status", response_model=Status, responses=errors(404),
            summary="Communities and who holds each post now")
def status(ledger: LedgerDep,
           community: Annotated[str | None, Query(
               max_length=64, description="Only this community (and no towns).")] = None,
           ) -> JSONResponse:
    """Like ``ledger status [COMMUNITY] --json``."""
    return JSONResponse(ledger.status(community or None))


@router.get("/communities/{code}/roster", response_model=Roster, responses=errors(404),
            summary="Who held each post of a community at a time")
def roster(ledger: LedgerDep, code: CODE,
           as_of: Annotated[datetime | date | None, BeforeValidator(_iso_text), Query(
               description="ISO date or datetime (default now; naive times and dates are "
                           "read in LEDGER_TZ).", examples=["2025-03-01"])] = None,
           ) -> JSONResponse:
    """Like ``ledger roster COMMUNITY --as-of T --json``."""
    when = _when(as_of) if as_of is not None else None
    return JSONResponse(ledger.roster(code, when))


@router.get("/history/{key}", response_model=list[PublicEvent], responses=errors(404),
            summary="Every event of one aggregate, oldest first")
def history(ledger: LedgerDep,
            key: Annotated[str, Path(min_length=1, max_length=200,
                                     description="ZQ-001, community:ZQ-001, town:ZQ or a UUID",
                                     examples=["community:ZQ-001"])],
            ) -> JSONResponse:
    """Like ``ledger history KEY --json``, each event in schema ``ledger-event/1``."""
    events: list[dict[str, Any]] = [public_event(e) for e in ledger.history(key)]
    return JSONResponse(events)
