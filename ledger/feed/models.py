"""The feed's public JSON shapes, as pydantic models (they make the OpenAPI document).

Responses are built as plain dicts for speed; these models document them, and the
schemathesis run checks that every response conforms.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """The audit envelope every event carries."""

    model_config = ConfigDict(extra="allow")

    actor: str | None = Field(None, description="Who acted: a person id, or system:…")
    post: str | None = Field(None, description="The post the actor acted in.")
    basis: str | None = Field(None, description="Resolution, rule or document reference.")
    occurred_at: str | None = Field(None, description="Business time (ISO 8601 with offset).")
    command_id: str | None = Field(None, description="The command's idempotency key.")
    command: str | None = Field(None, description="The command type, e.g. post.appoint.")
    authority: str | None = Field(None, description="The authority-matrix version applied.")


class PublicEvent(BaseModel):
    """One event of the global log (schema ``ledger-event/1``)."""

    schema_: Literal["ledger-event/1"] = Field(alias="schema")
    position: int = Field(description="Position in the global log (gaps are possible).")
    aggregate_id: str = Field(description="The aggregate's UUID.")
    version: int = Field(description="The aggregate's version after this event (from 1).")
    type: str = Field(description="<Aggregate>.<Event>, e.g. Community.PostAppointed.",
                      examples=["Community.PostAppointed"])
    recorded_at: str = Field(description="When the ledger recorded it (ISO 8601, UTC).")
    envelope: Envelope
    data: dict[str, Any] = Field(description="The event's own fields (JSON values only).")
    record: dict[str, Any] | None = Field(
        None, description="With ?records=1: the canonical record (leaf format 2, or 1 for a "
                          "leaf of an earlier release) whose hash is the event's Merkle leaf; "
                          "null for an event without a leaf.")
    leaf_hash: str | None = Field(
        None, description="With ?records=1: the stored leaf hash (base64).")


class LogCheckpoint(BaseModel):
    """The latest signed checkpoint of the log."""

    size: int = Field(description="Tree size: how many leaves (events) it covers.")
    root: str = Field(description="Root hash (base64).")
    note: str = Field(description="The signed note (C2SP tlog-checkpoint), with the log's "
                                  "signature and any witness cosignatures.")
    verifier_key: str = Field(description="The log's verifier key the note is signed with.")


class EventPage(BaseModel):
    """A page of events in log order, with the cursor for the next page."""

    schema_: Literal["ledger-event-page/1"] = Field(alias="schema")
    after: int = Field(description="The cursor this page was read after.")
    next_after: int = Field(
        description="Pass as ?after= for the next page. Past every event read, including "
                    "ones the filters left out, so a filtered reader does not re-scan.")
    head: int = Field(description="The last position in the log when the page was read.")
    has_more: bool = Field(description="Whether more events follow right away.")
    origin: str = Field(description="The log's origin (its identity; changes only with "
                                    "'ledger restore --new-origin').")
    checkpoint: LogCheckpoint | None = Field(
        description="The latest signed checkpoint (null before the first).")
    events: list[PublicEvent]


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(description="Machine-readable code, e.g. unknown_community.")
    message: str


class ErrorResponse(BaseModel):
    """Every error answer: ``{"error": {"code": …, "message": …}}``."""

    error: ErrorDetail


class Health(BaseModel):
    """Liveness and the head of the log."""

    status: Literal["ok"]
    head: int
    event_schema: Literal["ledger-event/1"]
    database: Literal["sqlite", "postgresql"]
    origin: str = Field(description="The log's origin.")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    422: {"model": ErrorResponse, "description": "Invalid parameter."},
    500: {"model": ErrorResponse, "description": "Unexpected error (no details are given)."},
}
"""Error answers every route documents; routes add 400/404/409 as they can return them."""


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses plus *codes* (each answered with :class:`ErrorResponse`)."""
    out = dict(ERRORS)
    for code in codes:
        out[code] = {"model": ErrorResponse}
    return out
