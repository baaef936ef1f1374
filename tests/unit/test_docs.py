"""Generated documents stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from ledger.catalogue import render, render_authority
from ledger.domains import all_command_types
from ledger.kernel.authority import matrix

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_event_catalogue_matches_the_code() -> None:
    assert (DOCS / "events.md").read_text(encoding="utf-8") == render(), (
        "docs/events.md is out of date: python -m ledger.catalogue > docs/events.md")


def test_authority_doc_matches_the_matrix() -> None:
    assert (DOCS / "authority.md").read_text(encoding="utf-8") == render_authority(), (
        "docs/authority.md is out of date: python -m ledger.catalogue authority > docs/authority.md")


def test_every_command_type_has_an_authority_entry() -> None:
    m = matrix()
    assert [t for t in all_command_types() if m.entry_for(t) is None] == []
