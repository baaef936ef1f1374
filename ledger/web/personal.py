"""Residents' personal data on the board: shown only to a viewer whose token has the
``read:personal`` scope, and every showing written down.

The data stays sealed in the events (``ledger.kernel.privacy``); the board opens it with the
subject's key for one page. Each opening is recorded, before the page is sent, as a row of
``ledger_personal_views`` (when, which token, which page, which record, which data subject;
never the data itself) and as a ``board.personal_view`` line in the server's JSON log. A
subject whose key was erased shows as erased, and that is recorded too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, select

from ledger.application import GovernanceLedger
from ledger.feed.guard import access_logger
from ledger.kernel.privacy import unseal

#: JSON lines on stderr, beside the access log, whatever level other logs are at.
log = access_logger()

#: A table beside the log, like the refusals: an access record, not a governance event.
views_metadata = MetaData()
personal_views = Table(
    "ledger_personal_views", views_metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("viewed_at", String(40), nullable=False),
    Column("viewer", String(80), nullable=False),
    Column("page", String(200), nullable=False),
    Column("record", String(200), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
)


def ensure_table(ledger: GovernanceLedger) -> None:
    """Create the access-record table when it is not there yet."""
    personal_views.create(ledger.engine, checkfirst=True)


def reveal(ledger: GovernanceLedger, sealed: dict[str, str], *, viewer: str, page: str,
           record: str) -> dict[str, Any] | None:
    """The personal data in *sealed* for *viewer*, recorded as viewed (``None``: erased)."""
    with ledger.engine.begin() as conn:
        data = unseal(conn, sealed)
        conn.execute(personal_views.insert().values(
            viewed_at=datetime.now(UTC).isoformat(), viewer=viewer, page=page, record=record,
            subject=str(sealed.get("subject", "")),
            outcome="shown" if data is not None else "erased"))
    log.info("board.personal_view", viewer=viewer, page=page, record=record,
                subject=sealed.get("subject"), shown=data is not None)
    return data


def views(ledger: GovernanceLedger, limit: int = 100) -> list[dict[str, Any]]:
    """The latest recorded views of personal data, newest first."""
    with ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(personal_views).order_by(personal_views.c.id.desc()).limit(limit))]
