"""Queries matching the CLI's ``status``, ``roster`` and ``history``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger.feed.log import public_event
from ledger.feed.models import PublicEvent, errors
from ledger.feed.queries import IsoWhen, LedgerDep, json_response, moment, query_router

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


@router.get("/status", response_model=Status, responses=errors(404),
            summary="Communities and who holds each post now")
def status(ledger: LedgerDep,
           community: Annotated[str | None, Query(
               max_length=64, description="Only this community (and no towns).")] = None,
           ) -> JSONResponse:
    """Like ``ledger status [COMMUNITY] --json``."""
    return json_response(ledger.status(community or None))


@router.get("/communities/{code}/roster", response_model=Roster, responses=errors(404),
            summary="Who held each post of a community at a time")
def roster(ledger: LedgerDep, code: CODE,
           as_of: Annotated[IsoWhen | None, Query(
               description="ISO date or datetime (default now; naive times and dates are "
                           "read in LEDGER_TZ).", examples=["2025-03-01"])] = None,
           ) -> JSONResponse:
    """Like ``ledger roster COMMUNITY --as-of T --json``."""
    when = moment(as_of) if as_of is not None else None
    return json_response(ledger.roster(code, when))


@router.get("/history/{key}", response_model=list[PublicEvent], responses=errors(404),
            summary="Every event of one aggregate, oldest first")
def history(ledger: LedgerDep,
            key: Annotated[str, Path(min_length=1, max_length=200,
                                     description="ZQ-001, community:ZQ-001, town:ZQ or a UUID",
                                     examples=["community:ZQ-001"])],
            ) -> JSONResponse:
    """Like ``ledger history KEY --json``, each event in schema ``ledger-event/1``."""
    events: list[dict[str, Any]] = [public_event(e) for e in ledger.history(key)]
    return json_response(events)
