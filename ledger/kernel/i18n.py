"""The reader's language: messages and labels, through gettext catalogs.

Messages are written in English in the code and marked for translation: :func:`_` renders one
now, in the language chosen for this invocation or request (:func:`set_language`; the default
comes from ``LEDGER_LANG``), so an error raised deep down reads in the language active when it
was raised. :func:`N_` only marks a text for extraction (help texts, labels), to be rendered
later. Messages with parameters use named placeholders, so a translation may reorder them:
``_("case {ref} is closed").format(ref=ref)``.

Labels (:func:`t`) are domain terms, keyed (``case:closed``); each has its English text here
(:func:`add_labels`) and its translation in the catalog under the key as context
(``pgettext``). The names of the posts and bodies are vocabulary data with both languages
(:mod:`ledger.kernel.posts`).

The catalogs are ``ledger/locale/<lang>/LC_MESSAGES/ledger.po``, compiled to ``.mo`` (committed,
so an install needs no build step) and read with the standard library's :mod:`gettext`; English
is the text in the code. ``python -m ledger.i18n_tools update`` extracts and merges,
``compile`` writes the ``.mo``; ``tests/unit/test_catalogs.py`` fails on any message missing
from a catalog or a stale ``.mo``.
"""

from __future__ import annotations

import gettext
import os
from contextvars import ContextVar
from pathlib import Path

LANGUAGES = ("zh", "en")
"""The languages the ledger speaks; the first is the default."""

DOMAIN = "ledger"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

LABELS: dict[str, str] = {
    # Generic columns.
    "community": "community",
    "communities": "communities",
    "code": "code",
    "name": "name",
    "town": "town",
    "post": "post",
    "posts": "posts",
    "person": "person",
    "person_name": "name",
    "since": "since",
    "until": "until",
    "also_holds": "also holds",
    "appointed_by": "appointed by",
    "body": "body",
    "role": "role",
    "position": "position",
    "version": "version",
    "type": "type",
    "event": "event",
    "actor": "actor",
    "acting_post": "acting post",
    "basis": "basis",
    "occurred_at": "occurred at",
    "recorded_at": "recorded at",
    "command_id": "command id",
    "data": "data",
    "line": "line",
    "outcome": "outcome",
    "detail": "detail",
    "accepted": "accepted",
    "duplicate": "duplicate (nothing written)",
    "dry_run": "dry run ok",
    "rejected": "rejected",
    "registered_at": "registered",
    "vacant": "vacant",
    "as_of": "as of",
    "status_title": "Community status",
    "roster_title": "Community roster",
    "history_title": "History",
    "town_posts": "Town posts",
    "departments": "departments",
    "projection": "projection",
    "lag": "lag",
    "vacated": "vacated",
}


def add_labels(labels: dict[str, str]) -> None:
    """Add labels (key → English text; the translations are in the catalogs); a later module
    may not silently redefine a key."""
    for key, value in labels.items():
        if key in LABELS and LABELS[key] != value:
            raise ValueError(f"label {key!r} defined twice with different texts")
        LABELS[key] = value


_catalogs: dict[str, gettext.NullTranslations] = {}


def catalog(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of *lang* (read once; English is the code's own text)."""
    found = _catalogs.get(lang)
    if found is None:
        path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if lang == "en" or not path.exists():
            found = gettext.NullTranslations()
        else:
            with path.open("rb") as fh:
                found = gettext.GNUTranslations(fh)
        _catalogs[lang] = found
    return found


def _vocabulary(key: str) -> tuple[str, str] | None:
    """Post and body names (``post:<pattern>``, ``body:<code>``): data in both languages."""
    from ledger.kernel.posts import BODIES, CATALOGUE

    kind, _sep, code = key.partition(":")
    if kind == "body" and code in BODIES:
        return BODIES[code]
    if kind == "post":
        for post_kind in CATALOGUE:
            if post_kind.pattern == code:
                return post_kind.zh, post_kind.en
    return None


def t(key: str, lang: str | None = None) -> str:
    """The label for *key* in *lang* (default: the current language); the key itself when
    unknown."""
    lang = lang or language()
    english = LABELS.get(key)
    if english is None:
        pair = _vocabulary(key)
        if pair is None:
            return key
        return pair[0] if lang == "zh" else pair[1]
    if lang == "en":
        return english
    return catalog(lang).pgettext(key, english)


_language: ContextVar[str | None] = ContextVar("ledger_language", default=None)


def set_language(lang: str) -> None:
    """Choose the language messages are rendered in for this invocation or request."""
    if lang not in LANGUAGES:
        lang = LANGUAGES[0]
    _language.set(lang)


def language() -> str:
    """The language messages are rendered in now: the one chosen with :func:`set_language`,
    else ``LEDGER_LANG`` (``zh`` or ``en``; anything else reads as the default, ``zh``, here:
    the CLI refuses it with a message)."""
    chosen = _language.get()
    if chosen is None:
        env = (os.environ.get("LEDGER_LANG") or "").strip().lower()
        chosen = "en" if env.startswith("en") else "zh"
    return chosen


def _(message: str) -> str:
    """*message* (English, as written in the code) in the reader's language."""
    lang = language()
    if lang == "en":
        return message
    return catalog(lang).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural *message* for *n* in the reader's language."""
    lang = language()
    if lang == "en":
        return singular if n == 1 else plural
    return catalog(lang).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for a marker
    """Mark *message* for the catalog without translating it now (rendered later with
    :func:`_`)."""
    return message


def accept_language(header: str | None) -> str:
    """The language to answer an HTTP request in, from its ``Accept-Language`` header (the
    first of ours by quality), else the default."""
    if not header:
        return language()
    best: tuple[float, str] | None = None
    for item in header.split(","):
        tag, _sep, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().lower().split("-")[0]
        if code in LANGUAGES and (best is None or q > best[0]):
            best = (q, code)
    return best[1] if best else language()
