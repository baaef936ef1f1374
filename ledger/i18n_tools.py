"""The translation catalogs: extract every message, merge it into each language's catalog,
compile the catalogs.

``python -m ledger.i18n_tools update``
    extract the messages (``_()``, ``N_()``, ``ngettext()`` in the code, the labels, the help
    of every command and option, the one-line help of the lazy commands, and click's own
    messages) and merge them into each
    ``ledger/locale/<lang>/LC_MESSAGES/ledger.po``, keeping the translations already made; it
    lists the messages that still need one.
``python -m ledger.i18n_tools compile``
    write each ``ledger.mo`` from its ``ledger.po`` (the installed ledger reads these).
``python -m ledger.i18n_tools check``
    exit 1 when a message is missing from a catalog, a translation is empty or changes the
    placeholders, an entry is stale, or a ``.mo`` is not compiled from its ``.po``
    (``tests/unit/test_catalogs.py`` runs the same checks).

Babel does the extracting, reading and writing; it is a development dependency.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.kernel.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

PACKAGE_DIR = Path(__file__).resolve().parent
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]
"""The languages with a catalog (English is the code's own text)."""

KEYWORDS: dict[str, Any] = {"_": None, "N_": None, "ngettext": (1, 2)}
CLICK_FILES = ("core.py", "exceptions.py", "formatting.py", "parser.py", "types.py",
               "decorators.py")


@dataclass(frozen=True)
class Message:
    """One message of the catalog: its text (a plural pair for ``ngettext``), its context
    (a label's key) and where it comes from."""

    id: str | tuple[str, ...]
    context: str | None
    origin: str


def _from_code(root: Path, prefix: str) -> Iterator[Message]:
    from babel.messages.extract import extract_from_dir

    for filename, lineno, message, _comments, context in extract_from_dir(
            str(root), method_map=[("**.py", "python")], keywords=KEYWORDS,
            comment_tags=(), strip_comment_tags=True):
        if not message or (isinstance(message, tuple) and not all(message)):
            continue
        yield Message(message, context, f"{prefix}{filename}:{lineno}")


def _click_files() -> Iterator[Message]:
    import click
    from babel.messages.extract import extract_python

    root = Path(click.__file__).parent
    for name in CLICK_FILES:
        with (root / name).open("rb") as fh:
            for lineno, _func, found, _comments in extract_python(fh, KEYWORDS, [], {}):
                message: Any = found
                if isinstance(found, tuple):
                    parts = tuple(m for m in found if m)
                    message = parts[0] if len(parts) == 1 else parts
                if message:
                    yield Message(message, None, f"click/{name}:{lineno}")
    # Translated by click from a variable, so not found above.
    yield Message("required", None, "click/core.py")


def _from_command_line() -> Iterator[Message]:
    """The help of every command and option, the lazy one-line helps, and the labels."""
    import click

    from ledger import cli as cli_module
    from ledger.kernel.i18n import LABELS

    cli_module.load_all_commands()
    found: list[str] = []

    def collect(text: str) -> str:
        found.append(text)
        return text

    def walk(cmd: click.Command, path: str) -> Iterator[Message]:
        found.clear()
        if cmd.help:
            cli_module.translate_help(cmd.help, collect)
        if cmd.short_help:
            found.append(" ".join(cmd.short_help.split()))
        for param in cmd.params:
            text = getattr(param, "help", None)
            if text:
                found.append(" ".join(text.split()))
        for text in list(found):
            yield Message(text, None, f"help:{path}")
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                yield from walk(cmd.commands[name], f"{path} {name}")

    yield from walk(cli_module.cli, "ledger")
    for name, (_module, short) in sorted(cli_module.LAZY.items()):
        yield Message(short, None, f"lazy:{name}")
    for key, english in sorted(LABELS.items()):
        yield Message(english, key, f"label:{key}")


def messages() -> list[Message]:
    """Every message of the ledger, each once (the first place it is found)."""
    seen: dict[tuple[str | None, str | tuple[str, ...]], Message] = {}
    for source in (_from_code(PACKAGE_DIR, "ledger/"), _from_command_line(), _click_files()):
        for m in source:
            seen.setdefault((m.context, m.id), m)
    return list(seen.values())


def template() -> Any:
    """The catalog template (``.pot``) of :func:`messages`."""
    from babel.messages.catalog import Catalog

    catalog = Catalog(domain=DOMAIN, project="zq-governance-ledger", charset="utf-8",
                      fuzzy=False)
    for m in messages():
        catalog.add(m.id, context=m.context, locations=[(m.origin, 0)])
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str) -> Any:
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as fh:
        return read_po(fh, locale=lang, domain=DOMAIN)


def _write_po(catalog: Any, path: Path) -> None:
    from babel.messages.pofile import write_po

    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=False, sort_output=False,
             include_previous=False, ignore_obsolete=True, include_lineno=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())


def update() -> list[str]:
    """Write the template and merge it into each catalog; the messages still untranslated."""
    from babel.messages.catalog import Catalog

    pot = template()
    missing = []
    for lang in TRANSLATED:
        old = read(lang) if po_path(lang).exists() else Catalog(locale=lang, domain=DOMAIN)
        new = Catalog(locale=lang, domain=DOMAIN, project="zq-governance-ledger",
                      charset="utf-8", fuzzy=False)
        for m in pot:
            if not m.id:
                continue
            known = old.get(m.id, context=m.context)
            string = known.string if known is not None else ("", "") if m.pluralizable else ""
            new.add(m.id, string, context=m.context, locations=m.locations)
            if not _translated(string):
                missing.append(f"{lang}: {m.context + ' | ' if m.context else ''}{m.id}")
        _write_po(new, po_path(lang))
    return missing


def _translated(string: Any) -> bool:
    if isinstance(string, (tuple, list)):
        return all(string)
    return bool(string)


def compile_mo(lang: str) -> bytes:
    """The ``.mo`` of *lang*'s catalog."""
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, read(lang), use_fuzzy=False)
    return buf.getvalue()


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:![rsa])?(?::[^{}]*)?\}|%\((\w+)\)[sdr]|%[sd]")


def placeholders(text: str) -> list[str]:
    """The named placeholders of *text* (``{name}``, ``%(name)s``, ``%s``), sorted."""
    return sorted(m.group(1) or m.group(2) or m.group(0) for m in _PLACEHOLDER.finditer(text))


def problems() -> list[str]:
    """What is wrong with the catalogs: missing, untranslated, stale entries; placeholders a
    translation changes; a ``.mo`` not compiled from its ``.po``."""
    found = []
    wanted = {(m.context, m.id) for m in messages()}
    for lang in TRANSLATED:
        if not po_path(lang).exists():
            found.append(f"{lang}: no catalog at {po_path(lang)}")
            continue
        catalog = read(lang)
        have = {(m.context, m.id): m for m in catalog if m.id}
        for key in sorted(wanted - set(have), key=str):
            found.append(f"{lang}: not in the catalog: {_show(key)}")
        for key in sorted(set(have) - wanted, key=str):
            found.append(f"{lang}: stale entry (no longer in the code): {_show(key)}")
        for key, m in have.items():
            if key not in wanted:
                continue
            if not _translated(m.string) or m.fuzzy:
                found.append(f"{lang}: untranslated: {_show(key)}")
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
            for s in strings:
                if placeholders(s) != placeholders(ids[-1]) and \
                        placeholders(s) != placeholders(ids[0]):
                    found.append(f"{lang}: placeholders differ: {_show(key)} → {s!r}")
        if not mo_path(lang).exists() or mo_path(lang).read_bytes() != compile_mo(lang):
            found.append(f"{lang}: {mo_path(lang)} is not compiled from its .po "
                         "(python -m ledger.i18n_tools compile)")
    return found


def _show(key: tuple[str | None, Any]) -> str:
    context, text = key
    return f"[{context}] {text!r}" if context else repr(text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    action = args[0] if args else "check"
    out: Callable[[str], None] = print
    if action == "update":
        missing = update()
        for line in missing:
            out(line)
        out(f"{len(missing)} message(s) to translate")
        return 0
    if action == "compile":
        for lang in TRANSLATED:
            mo_path(lang).write_bytes(compile_mo(lang))
            out(f"wrote {mo_path(lang)}")
        return 0
    if action == "check":
        found = problems()
        for line in found:
            out(line)
        return 1 if found else 0
    out("usage: python -m ledger.i18n_tools update|compile|check")
    return 2


if __name__ == "__main__":
    sys.exit(main())
