"""Handler of ``log.new_origin``."""

from __future__ import annotations

import base64
from typing import Any

from ledger.aggregates.log_identity import LogOrigin
from ledger.commands.log import StartNewOrigin
from ledger.handlers import Context, handles
from ledger.integrity import signer
from ledger.integrity.sqlstore import log_identity
from ledger.kernel.config import now
from ledger.kernel.errors import AlreadyExistsError, CommandValidationError
from ledger.kernel.i18n import _


@handles(StartNewOrigin)
def start_new_origin(ctx: Context, cmd: StartNewOrigin) -> dict[str, Any]:
    """Record a new origin: the event, and the new current row of ``ledger_log_identity`` in
    the same transaction."""
    ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    if cmd.new_origin == cmd.previous_origin:
        raise CommandValidationError(_("log.new_origin: the new origin must differ from the previous one"))
    if ctx.find(LogOrigin, cmd.new_origin) is not None:
        raise AlreadyExistsError(_("origin {new_origin!r} was started before").format(
                                     new_origin=cmd.new_origin))
    txn = ctx.txn
    if txn is not None:
        state = signer.load_state(ctx.ledger.settings)
        if state is not None and state.origin != cmd.new_origin:
            raise CommandValidationError(
                _("log.new_origin: the signer still keeps its record of {origin!r}; start a new origin "
                  "with 'ledger restore --new-origin --reason TEXT'").format(origin=state.origin))
        mark = txn.sql.mark
        row = txn.cursor.execute(f"SELECT seq, origin FROM {log_identity.name} "
                                 "ORDER BY seq DESC LIMIT 1").fetchone()
        current = None if row is None else str(row[1])
        if current is not None and current != cmd.previous_origin:
            raise CommandValidationError(
                _("log.new_origin: field 'previous_origin': the log's origin is {current!r}").format(
                    current=current))
        if txn.batch_line:
            txn.begin_line()  # undone with the line if the line is refused
        txn.cursor.execute(
            f"INSERT INTO {log_identity.name} (seq, origin, log_id, created_at, reason, "
            f"previous_origin, previous_size, previous_root) VALUES ({mark}, {mark}, {mark}, "
            f"{mark}, {mark}, {mark}, {mark}, {mark})",
            ((0 if row is None else int(row[0])) + 1, cmd.new_origin,
             cmd.new_origin.rsplit("/", 1)[-1], now().isoformat(), cmd.reason,
             cmd.previous_origin, cmd.previous_size,
             None if cmd.previous_root is None else base64.b64decode(cmd.previous_root)))
    origin = LogOrigin(code=cmd.new_origin, town=cmd.town, previous_origin=cmd.previous_origin,
                       previous_size=cmd.previous_size, previous_root=cmd.previous_root,
                       reason=cmd.reason, envelope=ctx.envelope)
    ctx.add(origin)
    return {"origin": cmd.new_origin, "previous_origin": cmd.previous_origin,
            "previous_size": cmd.previous_size}
