"""docs/architecture.md's map of each domain stays true: every file it names exists, and every
module of the domain layers is in it (or named as shared by every domain)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
LAYERS = ("commands", "handlers", "aggregates", "rules", "projections", "commandline",
          "feed/queries")


def _map() -> tuple[str, str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- domain-map -->", 1)[1].split("<!-- /domain-map -->", 1)[0]
    shared = text.split("<!-- /domain-map -->", 1)[1].split("\n## ", 1)[0]
    return table, shared


def test_every_file_the_map_names_exists() -> None:
    table, _shared = _map()
    named = re.findall(r"`([a-z_/]+\.(?:py|md))`", table)
    assert len(named) > 30
    for path in named:
        where = ROOT / path if path.startswith("docs/") else ROOT / "ledger" / path
        assert where.is_file(), f"docs/architecture.md names {path}, which does not exist"


def test_every_domain_module_is_on_the_map() -> None:
    table, shared = _map()
    listed = set(re.findall(r"`([a-z_/]+\.py)`", table + shared))
    for layer in LAYERS:
        for module in sorted((ROOT / "ledger" / layer).glob("*.py")):
            name = f"{layer}/{module.name}"
            if module.name == "__init__.py" and name not in listed:
                continue
            assert name in listed, f"{name} is in no row of the domain map (docs/architecture.md)"
