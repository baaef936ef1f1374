"""Reasons the ledger composes itself, stored as a code with parameters and rendered in the
reader's language.

A firm's credit record, bidding ban and district report say why they exist. The ledger keeps
that as ``reason_code`` (a key of :data:`REASONS`) with ``reason_params`` beside the free text
an official gave (``reason``), and composes the sentence only when it is shown, in Chinese or
English. Events written before codes existed carry the composed English sentence in
``reason`` and no code; they are shown as they were written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.kernel.i18n import N_, _

#: Each reason code and its sentence (English in the code, translated in the catalog).
#: ``{reason}`` is the official's own words.
REASONS: dict[str, str] = {
    "dismissal": N_("dismissed by the owners' assembly of {community} for not performing "
                    "contract {contract}: {reason}"),
    "elimination": N_("on the town elimination list for {year} ({rule}): {reason}"),
    "elimination_withdrawn": N_("elimination for {year} withdrawn: {reason}"),
}


def render_reason(code: str | None, params: Mapping[str, Any] | None, reason: str) -> str:
    """The reason in the reader's language: the sentence of *code* with *params* and the
    official's *reason*; *reason* alone when there is no code (an earlier event)."""
    if not code or code not in REASONS:
        return reason
    return _(REASONS[code]).format(**{**(params or {}), "reason": reason})
