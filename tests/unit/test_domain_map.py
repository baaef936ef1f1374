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


def _rows() -> list[list[str]]:
    table, _shared = _map()
    lines = [ln for ln in table.strip().splitlines() if ln.startswith("| ")][1:]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def _modules(cell: str, prefix: str = "") -> set[str]:
    return {p.removesuffix(".py").replace("/", ".") for p in re.findall(r"`([a-z_/]+\.py)`", cell)
            if p.startswith(prefix)}


def test_the_map_and_the_registry_of_domains_agree() -> None:
    """ledger.domains.DOMAINS (what the application imports) is the same map as the table."""
    from ledger.domains import DOMAINS

    rows = _rows()
    assert len(rows) == len(DOMAINS)
    for row, domain in zip(rows, DOMAINS, strict=True):
        _name, commands, handlers, aggregates, rules, projections, _cli, queries, _doc = row
        assert _modules(commands) == set(filter(None, [domain.commands])), domain.name
        assert _modules(handlers) == set(filter(None, [domain.handlers])), domain.name
        if not aggregates.startswith("("):  # "(escalations on …)": another domain's aggregates
            assert _modules(aggregates) == set(domain.aggregates), domain.name
        assert _modules(rules) == set(domain.rules), domain.name
        assert _modules(projections) == set(domain.projections), domain.name
        assert _modules(queries, "feed/queries/") == set(domain.queries), domain.name
