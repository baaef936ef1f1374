"""Commands: pydantic models in one discriminated union on ``type``, and their JSON Lines codec.

Every command carries the audit envelope: ``actor`` (a person id such as ``P-0001``, or
``system:…``), ``post`` (the post the actor acts in), ``basis`` (resolution, rule or document
reference), ``occurred_at`` (business time; default now) and ``command_id`` (client-supplied
for idempotency; generated when absent). Naive datetimes and bare dates are read in
``LEDGER_TZ`` (default Asia/Shanghai).

Domain modules define their commands with :func:`register`; :func:`parse_command` reads a
mapping (or a JSON text) into the right model, with one-line errors naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, TypeVar
from uuid import uuid4

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from ledger.kernel.config import localize, now
from ledger.kernel.errors import CommandValidationError, UnknownCommandTypeError
from ledger.kernel.i18n import _

#: Largest accepted JSON text of one command (bytes); larger lines are refused unread.
MAX_COMMAND_BYTES = 64 * 1024
MIN_YEAR, MAX_YEAR = 1949, 2200

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_when(value: Any) -> Any:
    """Accept aware or naive ISO datetimes and bare dates; reject impossible ones clearly."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if _DATE_RE.match(text):
                value = date.fromisoformat(text)
            else:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                _("{value!r} is not a valid date or ISO 8601 datetime (e.g. 2025-03-01 or "
                  "2025-03-01T09:30:00+08:00)").format(value=value)
            ) from None
    if isinstance(value, (date, datetime)):
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(_("year {year} is out of range {min_year}–{max_year}").format(
                                 year=value.year, min_year=MIN_YEAR, max_year=MAX_YEAR))
        return localize(value)
    raise ValueError(_("expected a date or datetime, got {name}").format(name=type(value).__name__))


def _parse_day(value: Any) -> Any:
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(_("{value!r} is not a valid date (YYYY-MM-DD)").format(value=value)) from None
    if isinstance(value, datetime):
        return localize(value).date()
    return value


#: An aware datetime; bare dates are midnight and naive times are in ``LEDGER_TZ``.
When = Annotated[datetime, BeforeValidator(_parse_when)]
#: A calendar date (YYYY-MM-DD).
Day = Annotated[date, BeforeValidator(_parse_day)]
#: A person id: letters, digits and ``-_.:``; e.g. ``P-0001``.
PersonId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
#: A community code, e.g. ``ZQ-001``.
CommunityCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*-[0-9]{3,}$", max_length=32)]
#: A town code, e.g. ``ZQ``.
TownCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")]
#: A code for a department, body or kind: lower-case identifier.
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
#: A short human name (person, community, firm…).
Name = Annotated[str, Field(min_length=1, max_length=200)]
#: Free text (descriptions, minutes, reasons).
Text = Annotated[str, Field(max_length=4000)]
#: A reference to a document, resolution or other record.
Ref = Annotated[str, Field(min_length=1, max_length=500)]


class Command(BaseModel):
    """Base of every command: the audit envelope."""

    # defer_build: a model's validator is built the first time it validates, so a process
    # pays only for the commands it reads.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              allow_inf_nan=False, defer_build=True)

    type: str
    actor: PersonId = Field(description="Person id of who acts, or system:… for the system")
    post: str | None = Field(
        default=None, max_length=200,
        description="The post the actor acts in, e.g. party_org.secretary@ZQ-001",
    )
    basis: Ref | None = Field(default=None, description="Resolution, rule or document reference")
    occurred_at: When = Field(default_factory=now, description="Business time (default now)")
    command_id: str = Field(
        default_factory=lambda: str(uuid4()), min_length=1, max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$",
        description="Idempotency key: a repeated command_id writes nothing",
    )

    #: Whether a ``system:`` actor may issue it (bootstrap, rule runs).
    system_allowed: ClassVar[bool] = False

    def authority_qualifier(self) -> str | None:
        """A refinement of the authority-matrix key (``post.appoint/<post kind>``)."""
        return None

    def authority_key(self) -> str:
        """The key looked up in the authority matrix."""
        q = self.authority_qualifier()
        return f"{self.type}/{q}" if q else self.type

    def to_json(self) -> str:
        """One JSON Lines line."""
        return self.model_dump_json(exclude_none=True)


C = TypeVar("C", bound=type[Command])

#: Every known command model by its ``type``.
COMMANDS: dict[str, type[Command]] = {}


def register(cls: C) -> C:
    """Class decorator: add a command model to the registry (its ``type`` literal is the key)."""
    field = cls.__pydantic_fields__["type"]
    tag = field.default
    if not isinstance(tag, str) or tag in COMMANDS:
        raise TypeError(f"{cls.__name__} needs a unique default for 'type', got {tag!r}")
    COMMANDS[tag] = cls
    return cls


#: Imports the module that declares a command type (set by the application, which knows the
#: domains: :mod:`ledger.domains`); the kernel itself imports no domain.
_loader: list[Callable[[str], None]] = []


def set_loader(loader: Callable[[str], None]) -> None:
    """Install the function that imports the module declaring a command type."""
    _loader[:] = [loader]


def model_for(tag: str) -> type[Command] | None:
    """The command model registered for *tag*, loading its domain's module if need be."""
    model = COMMANDS.get(tag)
    if model is None and _loader:
        _loader[0](tag)
        model = COMMANDS.get(tag)
    return model


def known_types() -> list[str]:
    """Every command type registered so far, sorted (``ledger.domains.all_command_types`` loads
    every domain first)."""
    return sorted(COMMANDS)


#: What a pattern means, for people: a value that does not match is refused with this text
#: (and the value), not with the regular expression (:func:`describe_pattern`).
PATTERN_HINTS: dict[str, str] = {}


def describe_pattern(pattern: str, hint: str) -> None:
    """Say in words what values of *pattern* look like (used in validation errors)."""
    PATTERN_HINTS[pattern] = hint

describe_pattern(r"^[A-Z][A-Z0-9]*-[0-9]{3,}$",
                 "a community code is <TOWN>-<three or more digits>, e.g. ZQ-001")
describe_pattern(r"^[A-Z][A-Z0-9]{1,15}$", "a town code is capital letters and digits, e.g. ZQ")
describe_pattern(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                 "an id is letters, digits and '_ . : -' (up to 64), e.g. P-0001")
describe_pattern(r"^[a-z][a-z0-9_]{0,63}$",
                 "a code is lower-case letters, digits and '_', e.g. housing")


def _format_errors(tag: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = [str(x) for x in e["loc"] if x != tag]
        where = show(".".join(loc) or "command")
        msg = " ".join(str(e["msg"]).split())
        hint = PATTERN_HINTS.get(str((e.get("ctx") or {}).get("pattern", "")))
        if e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "string_pattern_mismatch" and hint:
            msg = f"{show(str(e['input']))!r} is not valid: {hint}"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        parts.append(f"field '{where}': {msg}")
    return f"{tag}: " + "; ".join(parts)


#: Deepest nesting of objects and lists accepted in a command.
MAX_DEPTH = 8
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def show(text: str, limit: int = 60) -> str:
    """User-supplied text made safe for a one-line message: escaped and shortened."""
    shown = text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[:limit] + "…"


def _check_values(value: Any, where: str, depth: int) -> None:
    """Refuse what no field may hold: control characters (but tab and newlines), unpaired
    surrogates (not encodable as UTF-8), and deep nesting."""
    if depth > MAX_DEPTH:
        raise CommandValidationError(
            _("field '{show}': nested deeper than {max_depth}").format(
                show=show(where or 'command'), max_depth=MAX_DEPTH))
    if isinstance(value, str):
        bad = _BAD_CHARS.search(value)
        if bad:
            raise CommandValidationError(
                _("field '{show}': contains the control or invalid character U+{ord:04X} at offset "
                  "{start}").format(
                    show=show(where or 'command'), ord=ord(bad.group()), start=bad.start()))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CommandValidationError(_("field '{show}': keys must be text").format(
                                                 show=show(where)))
            _check_values(k, where, depth + 1)
            _check_values(v, f"{where}.{k}" if where else k, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_values(v, f"{where}[{i}]", depth + 1)


def _clean_text(text: str) -> bool:
    """Whether a JSON text's values are known to pass :func:`_check_values` without walking
    them: with no escape in it, every string of the text (key or value) is a piece of the text,
    so none holds a character the text does not hold; and each object or array nested in it
    opens with a bracket, so the text has at least as many brackets as levels of nesting."""
    return ("\\" not in text and _BAD_CHARS.search(text) is None
            and text.count("{") + text.count("[") <= MAX_DEPTH)


def parse_command(data: Mapping[str, Any] | str | bytes | Command) -> Command:
    """Read a command from a mapping or a JSON text.

    Raises :class:`UnknownCommandTypeError` for an unknown ``type`` and
    :class:`CommandValidationError` naming each bad field otherwise.
    """
    if isinstance(data, Command):
        return data
    if isinstance(data, (str, bytes)):
        if len(data) > MAX_COMMAND_BYTES:
            raise CommandValidationError(
                _("command is {count} bytes; the limit is {max_command_bytes}").format(
                    count=len(data), max_command_bytes=MAX_COMMAND_BYTES)
            )
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CommandValidationError(
                    _("not valid UTF-8 (byte {start}: {data!r})").format(
                        start=e.start, data=data[e.start:e.start + 1])) from None
        text = data
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CommandValidationError(_("not valid JSON: {e}").format(e=e)) from None
        except RecursionError:
            raise CommandValidationError(_("not valid JSON: nested too deeply")) from None
        checked = _clean_text(text)
    else:
        checked = False
    if not isinstance(data, Mapping):
        raise CommandValidationError(
            _("a command must be a JSON object, got {name}").format(name=type(data).__name__)
        )
    if not checked:
        _check_values(data, "", 0)
    tag = data.get("type")
    model = model_for(tag) if isinstance(tag, str) else None
    if model is None or not isinstance(tag, str):
        if tag is None:
            raise CommandValidationError(_("field 'type' is missing: every command names its type"))
        shown = repr(tag)[:80]
        raise UnknownCommandTypeError(
            _("unknown command type {shown}; run 'ledger commands' for the known types").format(
                shown=shown)
        )
    try:
        return model.model_validate(dict(data))
    except ValidationError as e:
        raise CommandValidationError(_format_errors(tag, e)) from None
    except RecursionError:
        raise CommandValidationError(_("{tag}: input nested too deeply").format(tag=tag)) from None
