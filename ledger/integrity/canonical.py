"""The canonical bytes of an event record: the data of its Merkle leaf.

An auditor must be able to rebuild these bytes from a record alone, so the format is
fixed here exactly.

The record is a JSON object with exactly these seven members:

==================  =======  =====================================================
key                 type     value
==================  =======  =====================================================
``position``        integer  the record's position in the log, 0-based; equal to its
                             Merkle leaf index
``notification_id`` integer  the event store's notification id
``aggregate_id``    string   the aggregate's id, as stored (e.g. a UUID in 8-4-4-4-12 form)
``version``         integer  the aggregate version the event created
``type``            string   the event's type name, as stored
``recorded_at``     string   the recording timestamp, as stored
``payload_b64``     string   the stored event payload bytes in standard base64
                             (RFC 4648 §4, alphabet ``A-Z a-z 0-9 + /``, ``=`` padded)
==================  =======  =====================================================

Integers lie in ``[0, 2**53 - 1]``; strings are Unicode without lone surrogates.

It is serialised with the JSON Canonicalization Scheme, RFC 8785, which for this shape
means:

- members sorted by key (UTF-16 code units; here plain ASCII order): ``aggregate_id``,
  ``notification_id``, ``payload_b64``, ``position``, ``recorded_at``, ``type``,
  ``version``;
- no whitespace anywhere: ``{"key":value,"key":value}``;
- integers in plain decimal, no sign, no leading zeros, no exponent;
- strings in double quotes, encoded as UTF-8 with only these escapes: ``\\"``, ``\\\\``,
  ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``, and ``\\u00XX`` (lowercase hex) for the other
  characters below U+0020. Every other character, U+007F and all non-ASCII included, is
  written as itself in UTF-8.

Example (``payload = b'{"name":"x"}'``)::

    {"aggregate_id":"agg-1","notification_id":6,"payload_b64":"eyJuYW1lIjoieCJ9",
    "position":5,"recorded_at":"2024-05-01T08:00:00+00:00","type":"Named","version":1}

(one line, no newline at the end). The leaf hash is
``SHA-256(0x00 || those bytes)`` (``ledger.integrity.merkle.leaf_hash``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import cast

import rfc8785

from ledger.integrity.errors import RecordFormatError
from ledger.kernel.i18n import _

__all__ = [
    "COMMAND_KEYS",
    "LEAF_FORMAT",
    "MAX_SAFE_INTEGER",
    "RECORD_KEYS",
    "RECORD_V2_KEYS",
    "command_binding",
    "event_record",
    "event_record_bytes",
    "event_record_v2",
    "event_record_v2_bytes",
    "fast_event_record_bytes",
    "fast_event_record_v2_bytes",
    "record_bytes",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer RFC 8785 serialises exactly (an IEEE 754 double's integer range)."""

_INT_KEYS = ("position", "notification_id", "version")
_STR_KEYS = ("aggregate_id", "type", "recorded_at", "payload_b64")
RECORD_KEYS = frozenset(_INT_KEYS + _STR_KEYS)
"""The exact member names of a format-1 record."""

LEAF_FORMAT = 2
"""The record format of every leaf the ledger writes now (format 1: leaves of earlier releases)."""
RECORD_V2_KEYS = RECORD_KEYS | {"leaf_format", "topic", "command"}
"""The exact member names of a format-2 record."""
_CMD_INT_KEYS = ("first", "last")
_CMD_STR_KEYS = ("actor", "command_id", "recorded_at", "result_sha256", "type")
COMMAND_KEYS = frozenset(_CMD_INT_KEYS + _CMD_STR_KEYS)
"""The exact member names of a format-2 record's ``command`` object."""


def event_record(
    *,
    position: int,
    notification_id: int,
    aggregate_id: str,
    version: int,
    type: str,
    recorded_at: str,
    payload: bytes,
) -> dict[str, int | str]:
    """Return the record object (a JSON-ready ``dict``) for an event.

    Arguments are keyword-only: three of them are integers that must not be swapped.
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise RecordFormatError(_("payload must be bytes, got {type_name}").format(
                                    type_name=_type_name(payload)))
    record: dict[str, int | str] = {
        "position": position,
        "notification_id": notification_id,
        "aggregate_id": aggregate_id,
        "version": version,
        "type": type,
        "recorded_at": recorded_at,
        "payload_b64": base64.b64encode(bytes(payload)).decode("ascii"),
    }
    _check(record)
    return record


def event_record_bytes(
    *,
    position: int,
    notification_id: int,
    aggregate_id: str,
    version: int,
    type: str,
    recorded_at: str,
    payload: bytes,
) -> bytes:
    """Return the canonical bytes (RFC 8785 JSON) of an event's record; see the module doc."""
    return record_bytes(
        event_record(
            position=position,
            notification_id=notification_id,
            aggregate_id=aggregate_id,
            version=version,
            type=type,
            recorded_at=recorded_at,
            payload=payload,
        )
    )


def fast_event_record_bytes(
    *,
    position: int,
    notification_id: int,
    aggregate_id: str,
    version: int,
    type: str,
    recorded_at: str,
    payload: bytes,
) -> bytes:
    """The same bytes as :func:`event_record_bytes`, written directly for this fixed shape.

    About eight times faster than the general RFC 8785 encoder: the member order is
    fixed, integers are written in decimal, and strings go through the C string encoder of
    the standard library's ``json`` with ``ensure_ascii=False``, which escapes exactly what
    RFC 8785 escapes (``\\"``, ``\\\\``, ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``
    and ``\\u00xx`` in lowercase hex for the other characters below U+0020). The tests check
    it byte for byte against ``rfc8785`` on generated records. Raises ``RecordFormatError``
    for the same inputs as the general encoder.
    """
    m = MAX_SAFE_INTEGER
    if not (
        position.__class__ is int and 0 <= position <= m
        and notification_id.__class__ is int and 0 <= notification_id <= m
        and version.__class__ is int and 0 <= version <= m
        and aggregate_id.__class__ is str and type.__class__ is str
        and recorded_at.__class__ is str and isinstance(payload, bytes | bytearray | memoryview)
    ):
        # The general path raises the precise error.
        return event_record_bytes(
            position=position, notification_id=notification_id, aggregate_id=aggregate_id,
            version=version, type=type, recorded_at=recorded_at, payload=payload)
    text = (
        f'{{"aggregate_id":{encode_basestring(aggregate_id)},'
        f'"notification_id":{notification_id},'
        f'"payload_b64":"{base64.b64encode(payload).decode("ascii")}",'
        f'"position":{position},'
        f'"recorded_at":{encode_basestring(recorded_at)},'
        f'"type":{encode_basestring(type)},'
        f'"version":{version}}}'
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordFormatError(_("record is not valid Unicode (lone surrogate at {start})").format(
                                    start=exc.start)
                                ) from exc


def command_binding(*, command_id: str, type: str, actor: str, recorded_at: str, first: int,
                    last: int, result: str) -> dict[str, int | str]:
    """The ``command`` member of a format-2 record: the command-log row of the command whose
    first event the record is, with its stored ``result`` text as a SHA-256 (lowercase hex).
    """
    return {"actor": actor, "command_id": command_id, "first": first, "last": last,
            "recorded_at": recorded_at,
            "result_sha256": hashlib.sha256(result.encode("utf-8")).hexdigest(), "type": type}


def event_record_v2(
    *,
    position: int,
    notification_id: int,
    aggregate_id: str,
    version: int,
    type: str,
    recorded_at: str,
    topic: str,
    payload: bytes,
    command: Mapping[str, int | str] | None,
) -> dict[str, object]:
    """The format-2 record object: format 1 plus ``leaf_format`` (2), the full stored
    ``topic`` and ``command`` (:func:`command_binding`, or ``None``)."""
    record: dict[str, object] = dict(event_record(
        position=position, notification_id=notification_id, aggregate_id=aggregate_id,
        version=version, type=type, recorded_at=recorded_at, payload=payload))
    record["leaf_format"] = LEAF_FORMAT
    record["topic"] = topic
    record["command"] = None if command is None else dict(command)
    _check(record)
    return record


def event_record_v2_bytes(**fields: object) -> bytes:
    """The canonical bytes (RFC 8785) of a format-2 record (arguments of
    :func:`event_record_v2`), through the general encoder."""
    return record_bytes(event_record_v2(**fields))  # type: ignore[arg-type]


def fast_event_record_v2_bytes(
    *,
    position: int,
    notification_id: int,
    aggregate_id: str,
    version: int,
    type: str,
    recorded_at: str,
    topic: str,
    payload: bytes,
    command: Mapping[str, int | str] | None,
) -> bytes:
    """The same bytes as :func:`event_record_v2_bytes`, written directly (see
    :func:`fast_event_record_bytes`); a property test checks it against ``rfc8785``."""
    m = MAX_SAFE_INTEGER
    ok = (
        position.__class__ is int and 0 <= position <= m
        and notification_id.__class__ is int and 0 <= notification_id <= m
        and version.__class__ is int and 0 <= version <= m
        and aggregate_id.__class__ is str and type.__class__ is str
        and recorded_at.__class__ is str and topic.__class__ is str
        and isinstance(payload, bytes | bytearray | memoryview)
    )
    if ok and command is not None:
        ok = (set(command) == COMMAND_KEYS
              and all(command[k].__class__ is int and 0 <= command[k] <= m  # type: ignore[operator]
                      for k in _CMD_INT_KEYS)
              and all(command[k].__class__ is str for k in _CMD_STR_KEYS))
    if not ok:
        return event_record_v2_bytes(
            position=position, notification_id=notification_id, aggregate_id=aggregate_id,
            version=version, type=type, recorded_at=recorded_at, topic=topic, payload=payload,
            command=command)
    if command is None:
        cmd = "null"
    else:
        e = encode_basestring
        cmd = (f'{{"actor":{e(command["actor"])},"command_id":{e(command["command_id"])},'  # type: ignore[arg-type]
               f'"first":{command["first"]},"last":{command["last"]},'
               f'"recorded_at":{e(command["recorded_at"])},'  # type: ignore[arg-type]
               f'"result_sha256":{e(command["result_sha256"])},'  # type: ignore[arg-type]
               f'"type":{e(command["type"])}}}')  # type: ignore[arg-type]
    text = (
        f'{{"aggregate_id":{encode_basestring(aggregate_id)},'
        f'"command":{cmd},'
        f'"leaf_format":{LEAF_FORMAT},'
        f'"notification_id":{notification_id},'
        f'"payload_b64":"{base64.b64encode(payload).decode("ascii")}",'
        f'"position":{position},'
        f'"recorded_at":{encode_basestring(recorded_at)},'
        f'"topic":{encode_basestring(topic)},'
        f'"type":{encode_basestring(type)},'
        f'"version":{version}}}'
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordFormatError(_("record is not valid Unicode (lone surrogate at {start})").format(
                                    start=exc.start)
                                ) from exc


def record_bytes(record: Mapping[str, object]) -> bytes:
    """Return the canonical bytes of a record object, after checking its exact shape."""
    _check(record)
    try:
        encoded: bytes = rfc8785.dumps(cast("dict[str, int | str]", dict(record)))
    except rfc8785.CanonicalizationError as exc:
        raise RecordFormatError(_("record cannot be canonicalised: {exc}").format(exc=exc)) from exc
    return encoded


def _type_name(value: object) -> str:
    """Name of a value's type, for error messages."""
    return type(value).__name__


def _check(record: Mapping[str, object]) -> None:
    keys = set(record)
    expected = RECORD_V2_KEYS if "leaf_format" in keys else RECORD_KEYS
    if keys != expected:
        missing = sorted(expected - keys)
        extra = sorted(keys - expected, key=str)
        raise RecordFormatError(_("record keys are wrong: missing {missing}, unexpected {extra}").format(
                                    missing=missing, extra=extra))
    if expected is RECORD_V2_KEYS:
        _check_v2(record)
    for key in _INT_KEYS:
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordFormatError(_("record {key} must be an integer, got {type_name}").format(
                                        key=key, type_name=_type_name(value)))
        if not 0 <= value <= MAX_SAFE_INTEGER:
            raise RecordFormatError(_("record {key} {value} is outside [0, 2**53 - 1]").format(
                                        key=key, value=value))
    for key in _STR_KEYS:
        value = record[key]
        if not isinstance(value, str):
            raise RecordFormatError(_("record {key} must be a string, got {type_name}").format(
                                        key=key, type_name=_type_name(value)))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RecordFormatError(
                _("record {key} is not valid Unicode (lone surrogate at {start})").format(
                    key=key, start=exc.start)
            ) from exc
    payload_b64 = record["payload_b64"]
    if not isinstance(payload_b64, str) or not _is_canonical_base64(payload_b64):
        raise RecordFormatError(_("record payload_b64 is not standard padded base64"))


def _check_v2(record: Mapping[str, object]) -> None:
    fmt = record["leaf_format"]
    if fmt.__class__ is not int or fmt != LEAF_FORMAT:
        raise RecordFormatError(_("record leaf_format must be {leaf_format}, got {fmt!r}").format(
                                    leaf_format=LEAF_FORMAT, fmt=fmt))
    topic = record["topic"]
    if not isinstance(topic, str):
        raise RecordFormatError(_("record topic must be a string, got {type_name}").format(
                                    type_name=_type_name(topic)))
    command = record["command"]
    if command is None:
        return
    if not isinstance(command, Mapping) or set(command) != COMMAND_KEYS:
        raise RecordFormatError(_("record command must be null or an object with exactly "
                                  "{command_keys}").format(
                                    command_keys=sorted(COMMAND_KEYS)))
    for key in _CMD_INT_KEYS:
        value = command[key]
        if value.__class__ is not int or not 0 <= value <= MAX_SAFE_INTEGER:
            raise RecordFormatError(_("record command.{key} must be an integer in range").format(
                                        key=key))
    for key in _CMD_STR_KEYS:
        if not isinstance(command[key], str):
            raise RecordFormatError(_("record command.{key} must be a string").format(key=key))


def _is_canonical_base64(text: str) -> bool:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return base64.b64encode(raw).decode("ascii") == text
