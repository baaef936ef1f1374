"""The translation catalogs: every message is in them, translated, with the same placeholders,
and the compiled catalogs are those of the sources (``python -m ledger.i18n_tools``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import i18n_tools
from ledger.kernel import i18n
from ledger.kernel.errors import AggregateNotFoundError
from ledger.kernel.reasons import REASONS, render_reason

LEDGER = Path(i18n_tools.PACKAGE_DIR)


def test_every_message_is_in_the_catalogs_translated_and_compiled() -> None:
    """The catalog-completeness check: a message missing from a catalog, an untranslated or
    stale entry, changed placeholders, or a .mo not compiled from its .po each fail it (the
    message says which, and ``python -m ledger.i18n_tools update`` / ``compile`` fix it)."""
    assert i18n_tools.problems() == []


_RAISED = {"LedgerError", "ClickException", "UsageError", "BadParameter"}


def _raised_texts(tree: ast.AST) -> list[int]:
    """Lines where an error of ours (or click's) is raised with a bare literal message."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        func = node.exc.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if not (name.endswith("Error") or name in _RAISED) or name in {
                "TypeError", "ValueError", "KeyError", "RuntimeError", "AssertionError",
                "NotImplementedError", "OSError", "IndexError"}:
            continue
        args = list(node.exc.args)
        if len(args) > 1 and isinstance(args[0], ast.Constant) and \
                str(args[0].value).isidentifier():
            args = args[1:]  # (kind, message), e.g. FeedIntegrityError("bad_record", …)
        if args and (isinstance(args[0], ast.JoinedStr) or
                     (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str))):
            lines.append(node.lineno)
    return lines


def test_no_error_is_raised_with_a_message_outside_the_catalog() -> None:
    """Errors are raised with ``_("…")`` messages (so they are extracted into the catalog),
    never with a bare string or f-string."""
    found = []
    for path in sorted(LEDGER.rglob("*.py")):
        for line in _raised_texts(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{path.relative_to(LEDGER.parent)}:{line}")
    assert found == []


def test_a_bare_message_is_found_by_the_check() -> None:
    """The check above sees a raise with an f-string (and lets a wrapped one pass)."""
    bad = ast.parse('def f(x):\n    raise RuleViolationError(f"case {x} is closed")\n')
    good = ast.parse('def f(x):\n    raise RuleViolationError(_("case {x} is closed").format(x=x))\n')
    assert _raised_texts(bad) == [2]
    assert _raised_texts(good) == []


def test_a_message_is_rendered_in_the_language_active_when_raised() -> None:
    """An error made deep down reads in the language chosen for the invocation."""
    i18n.set_language("zh")
    zh = AggregateNotFoundError(i18n._("no events for {key!r}").format(key="ZQ-009"))
    i18n.set_language("en")
    en = AggregateNotFoundError(i18n._("no events for {key!r}").format(key="ZQ-009"))
    assert str(zh) == "'ZQ-009' 没有事件"
    assert str(en) == "no events for 'ZQ-009'"


def test_labels_are_read_from_the_catalog_in_either_language() -> None:
    assert i18n.t("case:closed", "en") == "closed"
    assert i18n.t("case:closed", "zh") == "已结案"
    assert i18n.t("post:party_org.secretary", "zh") == "居民区党组织书记"
    assert i18n.t("no-such-label", "zh") == "no-such-label"


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en-GB,en;q=0.9", "en"),
    ("fr-FR, en;q=0.5, zh;q=0.7", "zh"),
    ("fr-FR", "en"),
])
def test_accept_language_picks_the_best_of_ours(header: str, expected: str) -> None:
    """HTTP answers in the language the request prefers among ours (else the current one)."""
    i18n.set_language("en")
    assert i18n.accept_language(header) == expected


def test_placeholders_are_compared_by_name() -> None:
    assert i18n_tools.placeholders("case {ref!r} is {status}") == ["ref", "status"]
    assert i18n_tools.placeholders("案件 {ref!r} 处于 {status}") == ["ref", "status"]
    assert i18n_tools.placeholders("%(prog)s, version %(version)s") == ["prog", "version"]
    assert i18n_tools.placeholders("{{literal}} {mode:04o}") == ["mode"]


@given(code=st.sampled_from(sorted(REASONS)), words=st.text(min_size=1, max_size=40),
       community=st.from_regex(r"[A-Z]{2}-[0-9]{3}", fullmatch=True),
       year=st.integers(2000, 2200))
def test_a_coded_reason_reads_in_either_language_with_the_officials_words_whole(
        code: str, words: str, community: str, year: int) -> None:
    from ledger.kernel.i18n import set_language

    params = {"community": community, "contract": "HT-1", "year": year,
              "rule": "firm.elimination@1"}
    try:
        set_language("zh")
        zh = render_reason(code, params, words)
        set_language("en")
        en = render_reason(code, params, words)
    finally:
        set_language("en")
    assert zh.endswith(words) and en.endswith(words) and zh != en
    assert str(year) in zh or community in zh
    assert render_reason(None, params, words) == words
