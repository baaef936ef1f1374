"""Commands about the log itself: starting a new origin (``ledger restore --new-origin``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.kernel.command import Command, Text, TownCode, register

#: A log's origin: ``zq-governance-ledger/<town>/<log id>`` (an earlier release's ledger may
#: have ``zq-governance-ledger/<name>``).
Origin = Annotated[str, Field(pattern=r"^zq-governance-ledger/[A-Za-z0-9._/-]{1,200}$",
                              max_length=240)]


@register
class StartNewOrigin(Command):
    """Start a new origin for the log on purpose, after restoring an older copy: the log goes
    on under a new name, and subscribers and witnesses holding the old one see the change.

    Issued by ``ledger restore --new-origin --reason TEXT``, which first sets the signer's
    record of the old origin aside; the command records the new origin in
    ``ledger_log_identity`` in its own transaction.
    """

    type: Literal["log.new_origin"] = "log.new_origin"
    town: TownCode
    new_origin: Origin
    previous_origin: Origin
    previous_size: int = Field(ge=0, le=2**53 - 1, description=(
        "Tree size of the previous origin's last signed checkpoint (what it is left at)"))
    previous_root: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{43}=$", description=(
        "Root hash (base64) of that checkpoint; none when it had no checkpoint"))
    reason: Text = Field(min_length=1, description="Why the log starts a new origin")
