"""Residents' personal data in free text: a pure detector.

The event log is immutable and served by the feed: whatever enters a description, a location
or a note in clear stays readable forever. A resident's contact details belong only in the
sealed ``caller`` field (encrypted under the resident's own key, erasable; ``ledger.kernel.privacy``).
This module finds what must not be in free text:

- **mainland mobile numbers**: 11 digits ``1[3-9]x xxxx xxxx``, with optional ``+86``/``0086``
  and spaces or hyphens between the groups (``138 0013 8000``, ``+86-138-0013-8000``);
- **landline numbers with an area code**: ``0`` + 2-3 digits, optionally in parentheses, then a
  7-8 digit local number that starts with 2-9 (``021-64301234``, ``(021) 6430 1234``,
  ``02164301234``). A bare local number (``64301234``) is not matched: it cannot be told from
  a date or a count;
- **resident ID-card numbers** (GB 11643-1999): 17 digits and a check character (ISO 7064
  MOD 11-2: weights ``2^(17-i) mod 11``, check ``(12 - sum mod 11) mod 11``, 10 written ``X``),
  with a plausible address code (first digit 1-8) and a real birth date (1900-2099).

It does not match ordinary governance text: case references (``ZQ-2025-000123``), dates
(``2025-03-01``, ``20250301``), times, amounts written with decimals (``13800000000.00``),
credit codes, document numbers (``颛委〔2025〕9号``). Two ambiguities are inherent and are
resolved for the resident's privacy: an integer of eleven digits starting with 13-19 is a
mobile number's shape, so such an amount must be written with its decimals; and an all-digit
unified social credit code could in principle also pass every ID-card check. Enterprise codes
(registration authority ``9``, every property firm) never do, since ID numbers start with 1-8;
other codes do only when their county code is ``19`` or ``20`` (read as a birth year), the
rest is a real date and the ID check character happens to fit. A valid ID number is always
reported, even when it is also a valid credit code.

:func:`find_personal_data` is pure (text in, findings out); :func:`check_free_text` raises
:class:`~ledger.kernel.errors.PersonalDataInTextError` naming the field and pointing to ``caller``;
:func:`looks_like_personal_id` tells whether a whole identifier (a subject id) is a phone or ID
number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ledger.kernel.errors import PersonalDataInTextError
from ledger.kernel.i18n import _

_MOBILE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\+|00)86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}(?!\.?[0-9])")
_LANDLINE = re.compile(
    r"(?<![0-9A-Za-z])(?:\(0[0-9]{2,3}\)|（0[0-9]{2,3}）|0[0-9]{2,3})[- ]?"
    r"[2-9][0-9]{2,3}[- ]?[0-9]{4}(?!\.?[0-9])")
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])[1-8][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
#: The three shapes in one pattern: a text it finds nothing in has no match of any of them,
#: so most texts are cleared by one scan (:func:`may_hold_personal_data`).
_ANY = re.compile("|".join(p.pattern for p in (_ID_CARD, _MOBILE, _LANDLINE)))

_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_CHECK = "10X98765432"


def id_card_check_character(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_id_card_number(text: str) -> bool:
    """Whether *text* (18 characters) is a well-formed resident ID number: address code
    starting 1-8, a real birth date between 1900 and 2099, the right check character."""
    if len(text) != 18 or not text[:17].isdigit() or text[0] not in "12345678":
        return False
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2099:
        return False
    return id_card_check_character(text[:17]) == text[17].upper()


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text: what kind, where, and a masked form."""

    kind: str
    """``mobile``, ``landline`` or ``id_card``."""
    start: int
    """Offset of the first character."""
    end: int
    """Offset after the last character."""
    masked: str
    """The match with all but its first three and last two characters hidden."""

    @property
    def label(self) -> str:
        """Words for the kind."""
        return {"mobile": "a mobile phone number", "landline": "a landline phone number",
                "id_card": "an ID-card number"}[self.kind]


def _mask(text: str) -> str:
    return text[:3] + "*" * max(len(text) - 5, 0) + text[-2:]


def may_hold_personal_data(text: str) -> bool:
    """Whether *text* has anything of the shape of a phone or ID-card number (one scan; an
    ID-card shape still has to pass its checks in :func:`find_personal_data`). Pure."""
    return _ANY.search(text) is not None


def find_personal_data(text: str) -> list[Finding]:
    """Every mobile number, landline number and ID-card number in *text*, in order. Pure."""
    if _ANY.search(text) is None:
        return []
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, m: re.Match[str]) -> None:
        if any(m.start() < e and s < m.end() for s, e in taken):
            return
        taken.append((m.start(), m.end()))
        found.append(Finding(kind, m.start(), m.end(), _mask(m.group())))

    for m in _ID_CARD.finditer(text):
        if is_id_card_number(m.group()):
            add("id_card", m)
    for m in _MOBILE.finditer(text):
        add("mobile", m)
    for m in _LANDLINE.finditer(text):
        add("landline", m)
    return sorted(found, key=lambda f: f.start)


def looks_like_personal_id(identifier: str) -> bool:
    """Whether a whole identifier (e.g. a data-subject id) is, or contains as its digits, a
    phone or ID-card number: ``13800138000``, ``tel:021-64301234``, an ID number."""
    if find_personal_data(identifier):
        return True
    digits = re.sub(r"[^0-9Xx]", "", identifier)
    return bool(find_personal_data(digits))


def check_free_text(command: str, field: str, text: str) -> None:
    """Raise :class:`PersonalDataInTextError` if *text* (the value of *field* of *command*)
    holds personal data; the message masks it and points to the sealed ``caller`` field."""
    found = find_personal_data(text)
    if not found:
        return
    first = found[0]
    raise PersonalDataInTextError(
        _("{command}: field '{field}': looks like {label} ({masked}) at offset {start}; residents' "
          "personal data may not enter free text, which the log keeps forever and the feed serves: put the "
          "caller's name and phone in the sealed 'caller' field (encrypted, erasable), and describe the "
          "problem without them").format(
            command=command, field=field, label=first.label, masked=first.masked,
            start=first.start))


def check_subject_id(command: str, field: str, subject: str) -> None:
    """Raise :class:`PersonalDataInTextError` if a data-subject id looks like a phone or ID
    number (subject ids are stored in clear; use the hotline's caller id or S-<case>)."""
    if looks_like_personal_id(subject):
        raise PersonalDataInTextError(
            _("{command}: field '{field}': the subject id {mask!r} looks like a phone or ID-card number; "
              "subject ids are stored in clear, so use an opaque id (the hotline's caller id, or leave it "
              "out for S-<case ref>) and put the phone in the sealed 'caller' field").format(
                command=command, field=field, mask=_mask(subject)))
