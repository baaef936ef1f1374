"""Exact decimal fields: money, scores, percentages, weights, indicator values.

Every such field takes a decimal **string** (``"1234.50"``, ``"-3"``) or an **integer**, within
stated bounds and with at most a stated number of decimal places. Refused, with a message that
names the fault: floating-point numbers (``0.1`` may already have lost precision), the exponent
form (``"1e9"``, ``"1E+3"``: not how amounts are written, and an easy slip for ``19``), ``NaN``
and infinities, signs where the field cannot be negative, and values out of bounds. The JSON
schema of each field says exactly that: a string matching the pattern, or an integer within
the bounds.

A :class:`~decimal.Decimal` given from Python is taken as it is (only bounds and places are
checked).

Use: ``Money = Annotated[Decimal, BeforeValidator(make_parser(...)),
WithJsonSchema(json_schema(...))]`` with the same bounds in both.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ledger.kernel.i18n import _

_EXPONENT = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$")
_NON_FINITE = re.compile(r"^[-+]?(nan|snan|inf|infinity)$", re.IGNORECASE)


def _pattern(places: int, signed: bool, trailing_zeros: bool = False) -> str:
    sign = "-?" if signed else ""
    zeros = "0*" if trailing_zeros else ""
    frac = rf"(\.[0-9]{{1,{places}}}{zeros})?" if places else ""
    return rf"^{sign}[0-9]+{frac}$"


def _fmt(value: Decimal) -> str:
    return f"{value:f}"


_WORDS = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four"}


def make_parser(*, minimum: Decimal, maximum: Decimal, places: int, what: str,
                maximum_exclusive: bool = False, trailing_zeros: bool = False) -> Any:
    """A pydantic ``BeforeValidator`` function for an exact decimal field (see the module).

    *what* names the values in the plural (``"amounts"``); messages use its singular. With
    *trailing_zeros*, zeros beyond the places are allowed (``"49.990"``: still exact).
    """
    pattern = re.compile(_pattern(places, minimum < 0, trailing_zeros))
    one = what[:-1] if what.endswith("s") else what
    too_many = f"has more than {_WORDS.get(places, str(places))} decimal places"

    def parse(value: Any) -> Decimal:
        if isinstance(value, (bool, float)):
            raise ValueError(
                _('{what} are exact decimals: give them as a string such as "1234.50" or an integer (a '
                  "floating-point number may already have lost precision)").format(what=what))
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, str):
            text = value.strip()
            if not pattern.match(text):
                if _EXPONENT.match(text):
                    raise ValueError(
                        _("{value!r} is in exponent form; write the {one} out in digits (e.g. "
                          '"1000000000.00")').format(value=value, one=one))
                if _NON_FINITE.match(text):
                    raise ValueError(_("{text} is not a finite {one}").format(text=text, one=one))
                if re.match(r"^-[0-9.]+$", text) and minimum >= 0:
                    raise ValueError(_("{one} {text} is negative; {what} are zero or more").format(
                                         one=one, text=text, what=what))
                if re.match(r"^-?[0-9]+\.[0-9]+$", text):
                    raise ValueError(_("{one} {text} {too_many}").format(
                                         one=one, text=text, too_many=too_many))
                raise ValueError(
                    _("{value!r} is not a decimal {one} (digits, optionally a point and up to {places} "
                      'decimals, e.g. "1234.50")').format(value=value, one=one, places=places))
            number = Decimal(text)
        elif isinstance(value, Decimal):
            number = value
            if not number.is_finite():
                raise ValueError(_("{value} is not a finite {one}").format(value=value, one=one))
            exponent = (number.normalize() if trailing_zeros else number).as_tuple().exponent
            if isinstance(exponent, int) and exponent < -places:
                raise ValueError(_("{one} {fmt} {too_many}").format(
                                     one=one, fmt=_fmt(number), too_many=too_many))
        else:
            raise ValueError(_("expected a decimal string or an integer, got {name}").format(
                                 name=type(value).__name__))
        if number < minimum:
            if minimum == 0:
                raise ValueError(_("{one} {fmt} is negative; {what} are zero or more").format(
                                     one=one, fmt=_fmt(number), what=what))
            raise ValueError(_("{one} {fmt} is below the minimum {fmt2}").format(
                                 one=one, fmt=_fmt(number), fmt2=_fmt(minimum)))
        if number > maximum or (maximum_exclusive and number == maximum):
            bound = f"below {_fmt(maximum)}" if maximum_exclusive else f"at most {_fmt(maximum)}"
            raise ValueError(_("{one} {fmt} is too large: {what} must be {bound}").format(
                                 one=one, fmt=_fmt(number), what=what, bound=bound))
        return number

    return parse


def json_schema(*, minimum: Decimal, maximum: Decimal, places: int, description: str,
                maximum_exclusive: bool = False, trailing_zeros: bool = False) -> dict[str, Any]:
    """The JSON schema of an exact decimal field: a pattern string or a bounded integer."""
    top: dict[str, Any] = {"maximum": int(maximum)} if not maximum_exclusive else {
        "exclusiveMaximum": int(maximum)}
    return {
        "anyOf": [
            {"type": "string", "pattern": _pattern(places, minimum < 0, trailing_zeros),
             "description": f"decimal text, at most {places} decimal places, no exponent"},
            {"type": "integer", "minimum": int(minimum), **top},
        ],
        "description": description,
    }
