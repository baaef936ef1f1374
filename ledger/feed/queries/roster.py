"""Queries matching the CLI's ``status``, ``roster`` and ``history``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ledger.errors import CommandValidationError
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
                          description="Community code, e.g. ZQ-001.")]


def _when(value: str) -> datetime:
    from ledger.commands import When  # noqa: PLC0415

    try:
        return TypeAdapter(When).validate_python(value)
    except ValidationError as e:
        msg = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise CommandValidationError(f"as_of: {msg}") from None


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
           as_of: Annotated[str | None, Query(
               max_length=64, description="ISO date or datetime (default now; naive times "
                                          "are read in LEDGER_TZ).")] = None,
           ) -> JSONResponse:
    """Like ``ledger roster COMMUNITY --as-of T --json``."""
    when = _when(as_of) if as_of else None
    return JSONResponse(ledger.roster(code, when))


@router.get("/history/{key}", response_model=list[PublicEvent], responses=errors(404),
            summary="Every event of one aggregate, oldest first")
def history(ledger: LedgerDep,
            key: Annotated[str, Path(min_length=1, max_length=200,
                                     description="ZQ-001, community:ZQ-001, town:ZQ or a UUID")],
            ) -> JSONResponse:
    """Like ``ledger history KEY --json``, each event in schema ``ledger-event/1``."""
    events: list[dict[str, Any]] = [public_event(e) for e in ledger.history(key)]
    return JSONResponse(events)
