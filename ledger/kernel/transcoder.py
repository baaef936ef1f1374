"""The event store's JSON, written and read with orjson.

Stored event states keep exactly the library's format (``JSONTranscoder``: compact
separators, UTF-8, and ``{"_type_": name, "_data_": value}`` for datetimes, decimals and
UUIDs), so ledgers written before and after read the same, and the library's upcasting
(``class_version`` on event classes) works unchanged: it happens in the mapper, around the
transcoder. orjson does the byte work in native code, several times faster than the
standard library's encoder with a Python ``default`` hook.

Three differences from the standard library are avoided rather than reproduced: orjson writes
UUIDs as plain strings, formats some floats differently, and reads integers beyond 64 bits as
floats (a text that may hold one is parsed by the standard library instead). Event states hold neither (ids
are aggregate keys; amounts are decimals), and ``tests/unit/test_transcoder.py`` checks
byte-for-byte equality with the library's encoder on generated states and on every event of
the sample year. Anything orjson refuses (an integer beyond 64 bits, say) is encoded by the
library's own encoder.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

#: Every digit to ``0``, everything else to a space: nineteen zeros in a row in the result mean
#: nineteen digits in a row in the text — maybe an integer beyond 64 bits, which orjson
#: would read as a float. (A C-speed test, eight times cheaper than the regular expression.)
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_NINETEEN = b"0" * 19


def loads(data: bytes) -> Any:
    """Parse stored JSON: orjson, or the standard library where an integer could exceed 64
    bits (rare; nineteen digits inside a string send the text there too), which keeps every
    integer exact."""
    return json.loads(data) if _NINETEEN in data.translate(_DIGITS) else orjson.loads(data)


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
        """Parse with orjson, then turn the wrapper objects (``{"_type_": …, "_data_": …}``)
        back into datetimes, decimals, UUIDs with the registered transcodings, as the
        library's object hook would.

        The wrappers are looked for breadth first, stopping once every ``"_type_"`` in the
        text is accounted for: a snapshot of a community holding 10,000 post terms has three
        wrappers, all near the top, so the terms are never walked.
        """
        obj = loads(data)
        expected = data.count(b'"_type_"')
        if not expected:
            return obj
        found = [0]
        if self._is_wrapper(obj):
            return self._decode_wrapper(obj, found)
        queue: deque[Any] = deque([obj])
        while queue and found[0] < expected:
            node = queue.popleft()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in list(items):
                if isinstance(value, dict):
                    if self._is_wrapper(value):
                        node[key] = self._decode_wrapper(value, found)
                    else:
                        queue.append(value)
                elif isinstance(value, list):
                    queue.append(value)
        return obj

    @staticmethod
    def _is_wrapper(value: Any) -> bool:
        return isinstance(value, dict) and len(value) == 2 and "_type_" in value \
            and "_data_" in value

    def _decode_wrapper(self, wrapper: dict[str, Any], found: list[int]) -> Any:
        found[0] += 1
        # Inner objects first, as the library's hook sees them (bottom up).
        return self._decode_obj({"_type_": self._unwrap_all(wrapper["_type_"], found),
                                 "_data_": self._unwrap_all(wrapper["_data_"], found)})

    def _unwrap_all(self, value: Any, found: list[int]) -> Any:
        if isinstance(value, dict):
            if self._is_wrapper(value):
                return self._decode_wrapper(value, found)
            return {k: self._unwrap_all(v, found) for k, v in value.items()}
        if isinstance(value, list):
            return [self._unwrap_all(v, found) for v in value]
        return value
