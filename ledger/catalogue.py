"""The generated documents: the event catalogue (``docs/events.md``, from the aggregate
classes) and the authority matrix (``docs/authority.md``, from ``ledger/kernel/authority``).

``python -m ledger.catalogue > docs/events.md`` and
``python -m ledger.catalogue authority > docs/authority.md``; a test fails when either file is
out of date.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any

from ledger.aggregates.base import LedgerAggregate
from ledger.domains import all_command_types, load_all

_SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def aggregate_classes() -> list[type[LedgerAggregate]]:
    """Every aggregate class, by kind."""
    load_all()

    def walk(cls: type[Any]) -> list[type[Any]]:
        out = []
        for sub in cls.__subclasses__():
            out.append(sub)
            out += walk(sub)
        return out

    classes = {c for c in walk(LedgerAggregate) if getattr(c, "KIND", "")}
    return sorted(classes, key=lambda c: (c.KIND, c.__name__))


def event_classes(agg: type[LedgerAggregate]) -> list[tuple[str, type[Any]]]:
    """The events defined on *agg*, in definition order."""
    base = agg.Event
    out = []
    for name, value in vars(agg).items():
        if inspect.isclass(value) and issubclass(value, base) and name not in ("Event", "Created"):
            out.append((name, value))
    return out


def fields_of(event_cls: type[Any]) -> list[tuple[str, str]]:
    """(name, type) of the event's own fields, in order."""
    return [(f.name, f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)))
            for f in dataclasses.fields(event_cls) if f.name not in _SKIP]


def render() -> str:
    """The markdown catalogue."""
    lines = [
        "# Event catalogue",
        "",
        "Generated from the aggregate classes by `python -m ledger.catalogue > docs/events.md`;",
        "a test fails when this file and the code differ.",
        "",
        "Every event's public type name is `<Aggregate>.<Event>`. Every event also carries",
        "`originator_id` (aggregate id), `originator_version`, `timestamp` (recorded time, UTC)",
        "and the audit envelope in `envelope`:",
        "",
        "| envelope field | meaning |",
        "|---|---|",
        "| `actor` | person id of who acted, or `system:bootstrap` / `system:rules` |",
        "| `post` | the post the actor acted in (checked against the roster at `occurred_at`) |",
        "| `basis` | resolution, rule (`id@version` + inputs digest) or document reference |",
        "| `occurred_at` | business time, ISO 8601 with offset |",
        "| `command_id` | the command that produced the event (idempotency key) |",
        "| `command` | the command type |",
        "| `authority` | version of the authority matrix the command was checked against |",
        "",
        "Payload values are JSON: datetimes as ISO 8601 text, money as decimal strings.",
        "",
    ]
    for agg in aggregate_classes():
        doc = (inspect.getdoc(agg) or "").splitlines()[0]
        lines += [f"## {agg.__name__} (`{agg.KIND}:<key>`)", "", doc, ""]
        lines += ["| event | fields |", "|---|---|"]
        for name, cls in event_classes(agg):
            fields = ", ".join(f"`{f}`: {t}" for f, t in fields_of(cls) if f != "envelope")
            lines.append(f"| `{agg.__name__}.{name}` | {fields or '—'} |")
        lines.append("")
    return "\n".join(lines)


def render_authority() -> str:
    """``docs/authority.md``: the matrix, with every command type of every domain."""
    from ledger.kernel.authority import render_markdown

    return render_markdown(all_command_types())


if __name__ == "__main__":
    sys.stdout.write(render_authority() if sys.argv[1:] == ["authority"] else render())
