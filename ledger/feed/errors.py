"""The errors a feed reader raises."""

from __future__ import annotations

from ledger.kernel.i18n import _

__all__ = ["FeedError", "FeedIntegrityError"]


class FeedError(Exception):
    """Raised when the feed answers with an error the subscriber cannot retry (4xx)."""


class FeedIntegrityError(FeedError):
    """Raised by a verifying subscriber when what the feed serves does not check out; it
    stops there and hands nothing on. ``kind`` says which check failed:

    - ``origin_changed``: the log's origin is not the one it follows (a new origin was
      started, e.g. after a restore, or this is another log);
    - ``inconsistent_checkpoint``: the latest checkpoint is not an append-only extension of
      the one it accepted before (rolled back, or a fork);
    - ``position_rewritten``: positions it has already verified and handed on now have other
      content;
    - ``bad_record``: an event does not match its leaf record, or the records do not hash to
      the signed tree;
    - ``checkpoint_signature``: the checkpoint is not signed by the log's key;
    - ``witness_quorum``: the checkpoint lacks the witness quorum of the policy.
    """

    KINDS = ("origin_changed", "inconsistent_checkpoint", "position_rewritten", "bad_record",
             "checkpoint_signature", "witness_quorum")

    def __init__(self, kind: str, message: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(_("unknown feed integrity error kind {kind!r}").format(kind=kind))
        super().__init__(f"{kind}: {message}")
        self.kind = kind
