"""The event store's JSON, written and read with orjson.

Stored event states keep exactly the library's format (``JSONTranscoder``: compact
separators, UTF-8, and ``{"_type_": name, "_data_": value}`` for datetimes, decimals and
UUIDs), so ledgers written before and after read the same, and the library's upcasting
(``class_version`` on event classes) works unchanged: it happens in the mapper, around the
transcoder. orjson does the byte work in native code, several times faster than the
standard library's encoder with a Python ``default`` hook.

Two differences from the standard library are avoided rather than reproduced: orjson writes
UUIDs as plain strings and formats some floats differently. Event states hold neither (ids
are aggregate keys; amounts are decimals), and ``tests/unit/test_transcoder.py`` checks
byte-for-byte equality with the library's encoder on generated states and on every event of
the sample year. Anything orjson refuses (an integer beyond 64 bits, say) is encoded by the
library's own encoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | \
    orjson.OPT_PASSTHROUGH_DATACLASS


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON transcoder, with orjson doing the encoding and decoding."""

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        if b'"_type_"' in data:
            obj = self._revive(obj)
        return obj

    def _revive(self, value: Any) -> Any:
        """What the library's ``object_hook`` does, bottom-up, on an already parsed value."""
        if isinstance(value, dict):
            return self._decode_obj({k: self._revive(v) for k, v in value.items()})
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value
