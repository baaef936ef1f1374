"""Generated documents stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from ledger.authority import matrix, render_markdown
from ledger.catalogue import render
from ledger.commands import known_types

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_event_catalogue_matches_the_code() -> None:
    assert (DOCS / "events.md").read_text(encoding="utf-8") == render(), (
        "docs/events.md is out of date: python -m ledger.catalogue > docs/events.md")


def test_authority_doc_matches_the_matrix() -> None:
    assert (DOCS / "authority.md").read_text(encoding="utf-8") == render_markdown(), (
        "docs/authority.md is out of date: python -m ledger.authority > docs/authority.md")


def test_every_command_type_has_an_authority_entry() -> None:
    m = matrix()
    assert [t for t in known_types() if m.entry_for(t) is None] == []
