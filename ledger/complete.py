"""Shell completion of the ledger's words: post ids, case numbers, firms, community codes.

Click completes command names and choices by itself; the functions here complete what only
the ledger knows, attached with ``shell_complete=`` to the arguments and options that take
them. They read the read-model tables of the SQLite file given by ``--db`` (or
``LEDGER_DB``) with ``sqlite3`` alone, read-only (:func:`ledger.quickread.lookup`): fast, and
as the tables are, even when they are behind the log. A ledger that is missing, cannot be
read, or is a PostgreSQL database completes nothing, and completion never prints anything
or fails (the shell would show it in the middle of the command line).

Enable it once per shell (``docs/output.md``)::

    eval "$(_LEDGER_COMPLETE=bash_source ledger)"      # ~/.bashrc
    eval "$(_LEDGER_COMPLETE=zsh_source ledger)"       # ~/.zshrc
    _LEDGER_COMPLETE=fish_source ledger | source       # ~/.config/fish/completions/ledger.fish

This module imports nothing but click at the top, so the command line starts as fast as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click
from click.shell_completion import CompletionItem

LIMIT = 200
"""At most this many candidates: a shell offers more as a wall of text nobody reads."""

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def db_url(ctx: click.Context) -> str:
    """The ledger the command line names: ``--db``, else ``LEDGER_DB``, else the default."""
    given = ctx.find_root().params.get("db")
    if given:
        return str(given)
    from ledger.kernel.config import DEFAULT_DB_URL

    return os.environ.get("LEDGER_DB") or DEFAULT_DB_URL


def _rows(ctx: click.Context, sql: str, *params: Any) -> list[dict[str, Any]]:
    try:
        from ledger.quickread import lookup

        return lookup(db_url(ctx), sql, *params) or []
    except Exception:  # noqa: BLE001 - completion never fails: it offers nothing instead
        return []


def _items(rows: list[dict[str, Any]], incomplete: str) -> list[CompletionItem]:
    """``value`` of each row that starts with *incomplete* (or whose ``help`` contains it),
    with its ``help`` shown beside it by shells that show one (zsh, fish)."""
    out = []
    seen: set[str] = set()
    for row in rows:
        value, help_ = str(row["value"]), row.get("help") or None
        if value in seen:
            continue
        if value.startswith(incomplete) or (incomplete and help_ and incomplete in help_):
            seen.add(value)
            out.append(CompletionItem(value, help=help_))
        if len(out) >= LIMIT:
            break
    return out


def communities(ctx: click.Context, param: click.Parameter,
                incomplete: str) -> list[CompletionItem]:
    """Community codes (``ZQ-001``), with the community's name."""
    return _items(_rows(ctx, "SELECT code AS value, name AS help FROM rm_communities "
                             "ORDER BY code"), incomplete)


def case_refs(ctx: click.Context, param: click.Parameter,
              incomplete: str) -> list[CompletionItem]:
    """Case numbers (``ZQ-2025-000004``), newest first, with community and location."""
    return _items(_rows(ctx, "SELECT ref AS value, community || ' ' || location AS help "
                             "FROM rm_cases WHERE ref LIKE ? ORDER BY received_at DESC",
                        f"{incomplete}%"), incomplete)


def firms(ctx: click.Context, param: click.Parameter,
          incomplete: str) -> list[CompletionItem]:
    """Firms' unified social credit codes, with the firm's name; a part of the name
    completes to the code too."""
    return _items(_rows(ctx, "SELECT code AS value, name AS help FROM rm_firms ORDER BY name"),
                  incomplete)


def posts(ctx: click.Context, param: click.Parameter,
          incomplete: str) -> list[CompletionItem]:
    """Post ids held now (``party_org.secretary@ZQ-001``), with who holds them; for
    ``--post`` after ``--actor P``, the posts P holds first."""
    rows = _rows(ctx, "SELECT post AS value, person || ' ' || person_name AS help, person "
                      "FROM rm_post_terms WHERE to_utc IS NULL AND post LIKE ? ORDER BY post",
                 f"{incomplete}%")
    actor = ctx.params.get("actor")
    if actor and param.name == "acting_post":
        rows = [r for r in rows if r["person"] == actor] or rows
    return _items(rows, incomplete)


def case_or_community(ctx: click.Context, param: click.Parameter,
                      incomplete: str) -> list[CompletionItem]:
    """A case number or a community code."""
    return communities(ctx, param, incomplete) + case_refs(ctx, param, incomplete)
