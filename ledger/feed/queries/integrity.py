"""The tamper-evident log: the latest signed checkpoint and proofs, matching ``ledger
checkpoint`` (read-only: the feed never seals), ``ledger prove inclusion`` and ``ledger prove
consistency``. The proof documents are what ``scripts/verify-proof`` checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ledger.application import GovernanceLedger
from ledger.feed.log import MAX_POSITION, log_state
from ledger.feed.models import errors
from ledger.feed.queries import LedgerDep, json_response, query_router
from ledger.integrity import sealer
from ledger.integrity.errors import NotSealedError, ProofRequestError
from ledger.kernel.errors import NotFoundError
from ledger.kernel.i18n import _

router = query_router(APIRouter(tags=["integrity"]))


class ProofUnavailableError(NotFoundError):
    """Raised when a proof is asked for tree sizes the signed log does not have (e.g. a
    consistency proof from a size beyond the latest checkpoint)."""

    code = "proof_unavailable"

def _with_log(ledger: GovernanceLedger, document: dict[str, Any]) -> dict[str, Any]:
    """A proof document with the log's latest checkpoint beside it (``latest_checkpoint``:
    size, root, note, verifier key), as every feed answer carries it."""
    return {**document, "latest_checkpoint": log_state(ledger)["checkpoint"]}


SIZE = Query(ge=1, le=MAX_POSITION, description="A signed checkpoint's tree size.")


@router.get("/checkpoints/latest", response_model=dict[str, Any], responses=errors(404),
            summary="The latest signed checkpoint (C2SP signed note)")
def checkpoints_latest(ledger: LedgerDep) -> JSONResponse:
    """Like ``ledger checkpoint --json``, without sealing: schema ``ledger-checkpoint/1``."""
    found = sealer.latest_checkpoint(ledger)
    if found is None:
        raise NotSealedError(_("the ledger has no signed checkpoint yet; run 'ledger checkpoint'"))
    return json_response(found.public())


@router.get("/proofs/inclusion", response_model=dict[str, Any],
            responses=errors(400, 404, 409),
            summary="Proof that an event is in the signed log")
def proofs_inclusion(ledger: LedgerDep,
                     event: Annotated[str, Query(
                         pattern=r"^(\d{1,18}|[A-Za-z0-9:_.\-/]{1,200}@\d{1,9})$",
                         examples=["ZQ-001@2"],
                         description="A log position (42) or KEY@VERSION (ZQ-001@3).")],
                     size: Annotated[int | None, SIZE] = None) -> JSONResponse:
    """Like ``ledger prove inclusion EVENT-REF --json``: ``ledger-inclusion-proof/1``."""
    try:
        return json_response(_with_log(ledger, sealer.inclusion_proof_document(ledger, event,
                                                                                size)))
    except ProofRequestError as e:
        if isinstance(e, NotSealedError):
            raise
        raise ProofUnavailableError(str(e)) from None


@router.get("/proofs/consistency", response_model=dict[str, Any],
            responses=errors(400, 404, 409),
            summary="Proof that the log at one size is a prefix of the log at a later size")
def proofs_consistency(ledger: LedgerDep,
                       from_size: Annotated[int, Query(
                           alias="from", ge=1, le=MAX_POSITION,
                           description="The older tree size.")],
                       to_size: Annotated[int | None, Query(
                           alias="to", ge=1, le=MAX_POSITION,
                           description="The newer size (default: the latest checkpoint).")
                           ] = None) -> JSONResponse:
    """Like ``ledger prove consistency --from N --to M --json``: ``ledger-consistency-proof/1``."""
    try:
        return json_response(_with_log(ledger, sealer.consistency_proof_document(
            ledger, from_size, to_size)))
    except ProofRequestError as e:
        if isinstance(e, NotSealedError):
            raise
        raise ProofUnavailableError(str(e)) from None
