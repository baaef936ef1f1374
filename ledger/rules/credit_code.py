"""The 18-character unified social credit code (统一社会信用代码), GB 32100-2015.

Layout, by position (1-based):

- 1: registration authority (登记管理部门代码), e.g. ``9`` for market regulation (工商);
- 2: organisation type (机构类别代码), e.g. ``1`` for an enterprise;
- 3-8: administrative division (登记管理机关行政区划码), six digits, e.g. ``310112`` Minhang;
- 9-17: organisation code (组织机构代码) per GB 11714, whose own check character is position 17;
- 18: check character of the whole code.

Every character is from ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, Z, S, V).

Check characters:

- Position 17 (GB 11714): characters 9-16 take values 0-9 for digits and 10-35 for A-Z, with
  weights 3, 7, 9, 10, 5, 8, 4, 2; check = 11 - (sum mod 11), written ``X`` for 10 and ``0``
  for 11.
- Position 18 (GB 32100): characters 1-17 take their index in the character set above (0-30),
  with weights 3**i mod 31 for i = 0..16; check = 31 - (sum mod 31), 31 meaning 0, written as
  the character at that index.

Both checks are enforced by default. Published codes satisfy the inner check, including codes
whose organisation code has letters (``91330108MA27Y5XH5G``, where letters take their GB 11714
values, not their index in the set above); ``check_organisation_code=False`` turns it off for
the odd legacy code that does not. Positions 1 and 2 are checked against the character set only:
their tables have grown since 2015 (``A``, ``N``), and a stale table would refuse real codes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator

__all__ = [
    "CHARSET",
    "CreditCode",
    "InvalidCreditCodeError",
    "credit_code_check_character",
    "make_credit_code",
    "organisation_code_check_character",
    "validate_credit_code",
]

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of a unified social credit code, in value order."""

LENGTH = 18

_VALUES = {character: value for value, character in enumerate(CHARSET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_DIVISION = range(2, 8)  # 0-based positions 3-8

Problem = Literal["length", "character", "organisation_check", "check_character"]


class InvalidCreditCodeError(ValueError):
    """Raised when a string is not a valid unified social credit code; says what is wrong."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        problem: Problem,
        position: int | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        """The code as examined (stripped and upper-cased)."""
        self.problem = problem
        """What kind of fault: length, character, organisation_check, check_character."""
        self.position = position
        """The 1-based position at fault, if one."""
        self.expected = expected
        """The character that should be there, for a check fault."""
        self.found = found
        """The character found at ``position``."""


def _gb11714_value(character: str) -> int:
    return int(character) if character.isdigit() else ord(character) - ord("A") + 10


def organisation_code_check_character(body: str) -> str:
    """The GB 11714 check character for an 8-character organisation-code body (positions 9-16)."""
    if len(body) != len(_ORG_WEIGHTS) or any(c not in _VALUES for c in body):
        msg = f"organisation code body must be 8 characters from {CHARSET}, got {body!r}"
        raise ValueError(msg)
    total = sum(w * _gb11714_value(c) for w, c in zip(_ORG_WEIGHTS, body, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def credit_code_check_character(first17: str) -> str:
    """The GB 32100 check character (position 18) for the first 17 characters of a code."""
    if len(first17) != len(_WEIGHTS) or any(c not in _VALUES for c in first17):
        msg = f"need 17 characters from {CHARSET}, got {first17!r}"
        raise ValueError(msg)
    total = sum(w * _VALUES[c] for w, c in zip(_WEIGHTS, first17, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def make_credit_code(prefix16: str) -> str:
    """A valid code from its first 16 characters: appends both check characters.

    >>> make_credit_code("9131011200000000")
    '91310112000000000D'
    """
    prefix = prefix16.strip().upper()
    if len(prefix) != LENGTH - 2:
        msg = f"need the first 16 characters of a code, got {len(prefix)}: {prefix16!r}"
        raise ValueError(msg)
    with_org_check = prefix + organisation_code_check_character(prefix[8:16])
    return validate_credit_code(with_org_check + credit_code_check_character(with_org_check))


def validate_credit_code(code: str, *, check_organisation_code: bool = True) -> str:
    """``code`` stripped and upper-cased, if it is a valid unified social credit code.

    Raises ``InvalidCreditCodeError`` naming the fault: the length found, an illegal character
    and its position, or a check character with the one expected and the one found.

    >>> validate_credit_code(" 914403001922038216 ")
    '914403001922038216'
    """
    normal = code.strip().upper()
    if len(normal) != LENGTH:
        msg = (
            f"unified social credit code {normal!r} has {len(normal)} characters; "
            f"it must have {LENGTH}"
        )
        raise InvalidCreditCodeError(msg, code=normal, problem="length")
    for index, character in enumerate(normal):
        position = index + 1
        in_division = index in _DIVISION
        if character in _VALUES and (character.isdigit() or not in_division):
            continue
        rule = (
            "positions 3-8 are the administrative division code and must be digits"
            if in_division
            else "allowed are 0-9 and A-Z except I, O, S, V, Z"
        )
        msg = (
            f"unified social credit code {normal!r} has illegal character {character!r} at "
            f"position {position}; {rule}"
        )
        raise InvalidCreditCodeError(
            msg, code=normal, problem="character", position=position, found=character
        )
    if check_organisation_code:
        expected = organisation_code_check_character(normal[8:16])
        if normal[16] != expected:
            msg = (
                f"unified social credit code {normal!r}: the organisation code check character "
                f"(position 17) should be {expected!r}, found {normal[16]!r}"
            )
            raise InvalidCreditCodeError(
                msg,
                code=normal,
                problem="organisation_check",
                position=17,
                expected=expected,
                found=normal[16],
            )
    expected = credit_code_check_character(normal[:17])
    if normal[17] != expected:
        msg = (
            f"unified social credit code {normal!r}: the check character (position 18) "
            f"should be {expected!r}, found {normal[17]!r}"
        )
        raise InvalidCreditCodeError(
            msg,
            code=normal,
            problem="check_character",
            position=18,
            expected=expected,
            found=normal[17],
        )
    return normal


CreditCode = Annotated[str, AfterValidator(validate_credit_code)]
"""A pydantic field type: a valid unified social credit code, normalised."""
